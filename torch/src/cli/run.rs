//! What every training command takes: its config, output directory, resume, overrides, stop and
//! JSON switches, and how they resolve.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use serde::{de::DeserializeOwned, Serialize};

#[derive(Args)]
pub struct RunArgs {
    /// TOML config (configs/*.toml). With --resume, defaults to the one the model dir recorded.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Model directory to create (default: output.dir of the config).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run in DIR from its last checkpoint.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Override any config value: --set train.batch_size=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Stop at step N with a checkpoint, as Ctrl-C does; continue later with --resume.
    #[arg(long, value_name = "N")]
    pub stop_after: Option<u64>,
    /// End with a one-line JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    /// The config of a run: the file given, or on --resume the one `recorded` reads from the model
    /// dir; --set overrides apply to either.
    pub fn config<T: Serialize + DeserializeOwned>(
        &self,
        recorded: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        match (&self.config, &self.resume) {
            (Some(path), _) => Ok(genolm::config::load(Some(path), &self.sets)?),
            (None, Some(dir)) => Ok(genolm::config::reapply(&recorded(dir)?, &self.sets)?),
            (None, None) => bail!("give --config FILE (configs/*.toml), or --resume DIR"),
        }
    }

    /// The model directory: --resume's, --out, or the config's `output.dir`.
    pub fn out_dir(&self, from_config: Option<&PathBuf>) -> Result<PathBuf> {
        match (&self.resume, &self.out, from_config) {
            (Some(dir), _, _) | (None, Some(dir), _) | (None, None, Some(dir)) => Ok(dir.clone()),
            (None, None, None) => {
                bail!("no output directory: give --out DIR (or output.dir in the config)")
            }
        }
    }
}
