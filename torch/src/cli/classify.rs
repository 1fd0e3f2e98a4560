use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Result};
use clap::Args;

use super::run::RunArgs;
use crate::train::classify::{self, ClassifyConfig};

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
}

pub fn train(args: TrainArgs, interrupted: &AtomicBool) -> Result<()> {
    let run = &args.run;
    let cfg: ClassifyConfig = run.config(|dir| Ok(classify::saved_config(dir)?))?;
    let out = run.out_dir(cfg.output.dir.as_ref())?;
    let opts = classify::ClassifyOptions {
        resume: run.resume.is_some(),
        interrupted,
        stop_after: run.stop_after,
    };
    let Some(r) = classify::train(&cfg, &out, opts)? else {
        eprintln!(
            "classify: stopped with a checkpoint; continue with --resume {}",
            out.display()
        );
        return Ok(());
    };
    if run.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        eprintln!(
            "classify: test accuracy {:.4}, MCC {:.4}, AUROC {:.4}, F1 {:.4} on {} sequences ({:.1} s) -> {}",
            r.test.accuracy,
            r.test.mcc,
            r.test.auroc,
            r.test.f1,
            r.n_test,
            r.seconds,
            r.dir.display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A classifier directory (from genolm classify train).
    #[arg(long)]
    model: PathBuf,
    /// Labelled data: a TOML file with a [data] section as in classifier configs.
    #[arg(long, required_unless_present = "table")]
    data: Option<PathBuf>,
    /// Or a TSV/CSV with `sequence` and `label` columns.
    #[arg(long, conflicts_with = "data")]
    table: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long)]
    json: bool,
}

#[derive(serde::Deserialize)]
struct DataFile {
    data: genolm::corpus::labelled::LabelledSource,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    use genolm::corpus::labelled::LabelledSource;
    let source = match (&a.data, &a.table) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)?;
            toml::from_str::<DataFile>(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .data
        }
        (None, Some(t)) => LabelledSource::Table {
            path: t.clone(),
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            split_column: None,
        },
        (None, None) => bail!("give --data FILE.toml or --table FILE.tsv"),
    };
    let device = crate::device::resolve(a.device.parse()?)?;
    let m = classify::load_classifier(&a.model, device)?;
    let r = classify::evaluate_on(&m, &source, a.batch_size)?;
    let s = &r.summary;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"accuracy": r.accuracy, "precision": s.precision, "recall": s.recall,
                "specificity": s.specificity, "f1": s.f1, "mcc": s.mcc, "auroc": s.auroc, "auprc": s.auprc,
                "n": r.n, "confusion": r.confusion})
        );
    } else {
        println!(
            "n {}  accuracy {:.4}  precision {:.4}  recall {:.4}  specificity {:.4}  F1 {:.4}  MCC {:.4}  AUROC {:.4}  AUPRC {:.4}",
            r.n, r.accuracy, s.precision, s.recall, s.specificity, s.f1, s.mcc, s.auroc, s.auprc
        );
        println!(
            "confusion (rows: true {:?}): {:?}",
            m.saved.classes, r.confusion
        );
    }
    Ok(())
}
