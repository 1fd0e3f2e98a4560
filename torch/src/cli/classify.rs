use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::run::RunArgs;
use crate::config::classify::TaskSource;
use crate::infer::predict;
use crate::infer::Predictor;
use crate::train::classify::{self, ClassifyConfig};
use genolm::corpus::labelled::{LabelledSet, LabelledSource, SetSplit};

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn train(args: TrainArgs, interrupted: &AtomicBool) -> Result<()> {
    let run = &args.run;
    let cfg: ClassifyConfig = run.config(|dir| Ok(classify::saved_config(dir)?))?;
    let out = run.out_dir(cfg.output.dir.as_ref())?;
    let opts = crate::train::fit::FitOptions {
        resume: run.resume.is_some(),
        interrupted,
        stop_after: run.stop_after,
        progress: !args.quiet && !run.json,
    };
    report(
        "classify",
        &out,
        run.json,
        classify::train(&cfg, &out, &opts)?,
    )
}

/// What `classify train` and `cnn train` print when a run ends: the test metrics (`--json`: the
/// whole report), or how to continue a stopped run.
pub(super) fn report(
    label: &str,
    out: &std::path::Path,
    json: bool,
    r: Option<classify::ClassifyReport>,
) -> Result<()> {
    // A data-parallel job reports once, from rank 0.
    if !crate::dist::is_main() {
        return Ok(());
    }
    let Some(r) = r else {
        eprintln!(
            "{label}: stopped with a checkpoint; continue with --resume {}",
            out.display()
        );
        return Ok(());
    };
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        eprintln!(
            "{label}: test accuracy {:.4}, MCC {:.4}, AUROC {:.4}, AUPRC {:.4}, F1 {:.4} on {} sequences \
             ({:.1} s, {:.0} seq/s in training) -> {}",
            r.test.accuracy,
            r.test.mcc,
            r.test.auroc,
            r.test.auprc,
            r.test.f1,
            r.n_test,
            r.seconds,
            r.train_sequences_per_s,
            r.dir.display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    models: super::ModelArgs,
    /// Labelled data: a TOML file with a [data] section as in classifier configs.
    #[arg(long, conflicts_with_all = ["table", "split"])]
    data: Option<PathBuf>,
    /// Or a TSV/CSV with `sequence` and `label` columns.
    #[arg(long, conflicts_with = "split")]
    table: Option<PathBuf>,
    /// Or one split (train, valid, test) of the data the models were trained on, drawn as training
    /// drew it; every model must have been trained on the same data and split.
    #[arg(long)]
    split: Option<SetSplit>,
    /// Also write per-sequence probabilities (id, label, p_CLASS..., predicted) to this TSV.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    batch_size: usize,
    #[arg(long)]
    json: bool,
}

#[derive(serde::Deserialize)]
struct DataFile {
    data: LabelledSource,
}

/// The models' shared training data and split; differing ones would make "the test set" ambiguous.
fn shared_task(models: &[Box<dyn Predictor>]) -> Result<TaskSource> {
    let tasks: Vec<Option<TaskSource>> = models.iter().map(|m| m.task()).collect();
    let Some(first) = tasks[0].clone() else {
        bail!("--split: model 1 records no training data; evaluate it on --data or --table");
    };
    let key = |t: &Option<TaskSource>| {
        t.as_ref().map(|t| {
            serde_json::json!([
                t.data,
                t.classes,
                t.split.valid_frac,
                t.split.test_frac,
                t.split.seed
            ])
        })
    };
    for (t, path) in tasks.iter().zip(1..) {
        if key(t) != key(&tasks[0]) {
            bail!(
                "--split: model {path} was trained on other data or another split than model 1; \
                 evaluate them on --data or --table instead"
            );
        }
    }
    Ok(first)
}

fn eval_set(a: &EvalArgs, models: &[Box<dyn Predictor>]) -> Result<LabelledSet> {
    let source = match (&a.data, &a.table, a.split) {
        (_, _, Some(split)) => return Ok(classify::task_split(&shared_task(models)?, split)?),
        (Some(path), _, _) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            toml::from_str::<DataFile>(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .data
        }
        (None, Some(t), _) => LabelledSource::Table {
            path: t.clone(),
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            label_columns: None,
            split_column: None,
        },
        (None, None, None) => bail!("give --data FILE.toml, --table FILE.tsv or --split test"),
    };
    Ok(source.load()?)
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let models = a.models.load()?;
    let set = eval_set(&a, &models)?;
    let n_models = models.len();
    let ensemble = predict::ensemble_of(models)?;
    let e = predict::evaluate_on(&ensemble, &set, a.batch_size)?;
    let classes = crate::infer::Predictor::classes(&ensemble);
    if let Some(out) = &a.out {
        let multi = crate::infer::Predictor::multi_label(&ensemble);
        let tsv = classify::predictions_tsv(&set.ids, classes, Some(&e.truth), &e.probs, multi);
        genolm::fsutil::write_atomic(out, tsv.as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let (r, s) = (&e.report, &e.report.summary);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"accuracy": r.accuracy, "precision": s.precision, "recall": s.recall,
                "specificity": s.specificity, "f1": s.f1, "mcc": s.mcc, "auroc": s.auroc, "auprc": s.auprc,
                "n": r.n, "models": n_models, "confusion": r.confusion})
        );
    } else {
        println!(
            "n {}  accuracy {:.4}  precision {:.4}  recall {:.4}  specificity {:.4}  F1 {:.4}  MCC {:.4}  AUROC {:.4}  AUPRC {:.4}",
            r.n, r.accuracy, s.precision, s.recall, s.specificity, s.f1, s.mcc, s.auroc, s.auprc
        );
        if r.multi_label {
            for (c, m) in classes.iter().zip(&r.per_class) {
                println!(
                    "{c}\tAUROC {:.4}  AUPRC {:.4}  F1 {:.4}",
                    m.auroc, m.auprc, m.f1
                );
            }
        } else {
            println!("confusion (rows: true {classes:?}): {:?}", r.confusion);
        }
    }
    Ok(())
}
