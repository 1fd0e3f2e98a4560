use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Result};
use clap::Args;

use crate::train::classify::{self, ClassifyConfig};

#[derive(Args)]
pub struct TrainArgs {
    /// TOML config (configs/<task>.toml). With --resume, defaults to the one the model dir recorded.
    #[arg(long, required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Model directory to create.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an interrupted run in DIR from its checkpoint.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Override any config value: --set train.batch_size=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Stop at step N with a checkpoint, as Ctrl-C does; continue later with --resume.
    #[arg(long, value_name = "N")]
    stop_after: Option<u64>,
    /// End with one line of test-set metrics as JSON.
    #[arg(long)]
    json: bool,
}

pub fn train(args: TrainArgs, interrupted: &AtomicBool) -> Result<()> {
    let cfg: ClassifyConfig = match (&args.config, &args.resume) {
        (Some(path), _) => genolm::config::load(Some(path), &args.sets)?,
        (None, Some(dir)) => genolm::config::reapply(&classify::saved_config(dir)?, &args.sets)?,
        (None, None) => bail!("give --config FILE (configs/<task>.toml), or --resume DIR"),
    };
    let out = match (&args.resume, &args.out, &cfg.output.dir) {
        (Some(dir), _, _) | (None, Some(dir), _) | (None, None, Some(dir)) => dir.clone(),
        (None, None, None) => {
            bail!("no output directory: give --out DIR (or output.dir in the config)")
        }
    };
    let opts = classify::ClassifyOptions {
        resume: args.resume.is_some(),
        interrupted,
        stop_after: args.stop_after,
    };
    let Some(r) = classify::train(&cfg, &out, opts)? else {
        eprintln!(
            "classify: stopped with a checkpoint; continue with --resume {}",
            out.display()
        );
        return Ok(());
    };
    if args.json {
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
