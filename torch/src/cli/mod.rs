//! Model commands, reached as `genolm <command>` (the front binary hands them over) or directly.

pub mod classify;
pub mod cnn;
pub mod info;
pub mod interpret;
pub mod lm;
pub mod predict;
pub mod run;
pub mod scan;
pub mod variants;

use std::path::PathBuf;

use crate::infer::predict::load_classifiers;
use crate::infer::Predictor;
use crate::train::Precision;

/// The models an inference command runs, and where and how: `predict`, `classify eval`,
/// `variants score` and `interpret ism` all take them (`scan` has its own precision default).
#[derive(clap::Args)]
pub struct ModelArgs {
    /// A classifier or CNN directory (genolm classify train, cnn train); repeat to average several
    /// (an ensemble: seeds, forward and backward models, families), which must share their classes.
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Compute precision: bf16 is faster on CPUs with AVX-512 BF16 and on GPUs.
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub precision: Precision,
}

impl ModelArgs {
    /// Every `--model`, loaded on the device at the precision.
    pub fn load(&self) -> anyhow::Result<Vec<Box<dyn Predictor>>> {
        let device = crate::device::resolve(self.device.parse()?)?;
        Ok(load_classifiers(&self.model, device, self.precision)?)
    }
}

/// A count that must be at least 1 (batch sizes, chunk sizes, BPTT lengths, steps): refused by the
/// argument parser, before anything is loaded.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?} is not a count: {e}")),
    }
}
