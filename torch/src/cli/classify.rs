use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Result};
use clap::Args;

use crate::train::classify::{self, ClassifyConfig};

#[derive(Args)]
pub struct TrainArgs {
    /// TOML config (configs/<task>.toml).
    #[arg(long)]
    config: PathBuf,
    /// Model directory to create.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override any config value: --set train.batch_size=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// End with one line of test-set metrics as JSON.
    #[arg(long)]
    json: bool,
}

pub fn train(args: TrainArgs, interrupted: &AtomicBool) -> Result<()> {
    let cfg: ClassifyConfig = genolm::config::load(Some(&args.config), &args.sets)?;
    let Some(out) = args.out.clone().or_else(|| cfg.output.dir.clone()) else {
        bail!("no output directory: give --out DIR (or output.dir in the config)");
    };
    let r = classify::train(&cfg, &out, interrupted)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        eprintln!(
            "classify: test accuracy {:.4}, MCC {:.4}, AUROC {:.4}, F1 {:.4} on {} sequences ({:.1} s) -> {}",
            r.accuracy,
            r.mcc,
            r.auroc,
            r.f1,
            r.n_test,
            r.seconds,
            r.dir.display()
        );
    }
    Ok(())
}
