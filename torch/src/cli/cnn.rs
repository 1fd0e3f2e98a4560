//! `genolm cnn train`: one-hot CNNs (configs/cnn-*.toml), from scratch or from a trained CNN.

use std::sync::atomic::AtomicBool;

use anyhow::Result;
use clap::Args;

use super::run::RunArgs;
use crate::config::cnn::{CnnRunConfig, CnnSpec};
use crate::train::fit::FitOptions;

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
    let cfg: CnnRunConfig = run.config(|dir| Ok(CnnSpec::read(dir)?.config))?;
    let out = run.out_dir(cfg.output.dir.as_ref())?;
    let opts = FitOptions {
        resume: run.resume.is_some(),
        interrupted,
        stop_after: run.stop_after,
        progress: !args.quiet && !run.json,
    };
    let r = crate::train::cnn::train(&cfg, &out, &opts)?;
    super::classify::report("cnn", &out, run.json, r)
}
