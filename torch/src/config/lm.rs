//! A language-model run's config (`configs/lm-*.toml`): the corpus, the AWD-LSTM's shape, training.

use std::path::PathBuf;

use crate::model::awd_lstm::AwdLstmConfig;
use crate::train::Precision;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    #[serde(default = "super::defaults::batch_size")]
    pub batch_size: usize,
    #[serde(default = "d_bptt")]
    pub bptt: usize,
    #[serde(default = "d_epochs")]
    pub epochs: u64,
    /// Stop after this many optimizer steps (0 = run all epochs).
    #[serde(default)]
    pub max_steps: u64,
    /// Peak learning rate of the one-cycle schedule.
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "super::defaults::weight_decay")]
    pub weight_decay: f64,
    /// Adam beta1 at the start/end and at the peak of the cycle.
    #[serde(default = "d_moms")]
    pub moms: (f64, f64),
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
    #[serde(default = "d_pct_start")]
    pub pct_start: f64,
    #[serde(default = "d_div")]
    pub div: f64,
    #[serde(default = "d_final_div")]
    pub final_div: f64,
    /// Gradient-norm clipping (0 = off).
    #[serde(default = "super::defaults::clip")]
    pub clip: f64,
    #[serde(default)]
    pub precision: Precision,
    /// Loss scaling for fp16 (see [`LossScaling`]).
    #[serde(default)]
    pub loss_scaling: crate::train::LossScaling,
    #[serde(default = "super::defaults::seed")]
    pub seed: u64,
    #[serde(default = "super::defaults::device")]
    pub device: String,
    /// libtorch intra-op threads (0 = libtorch's default, one per core).
    #[serde(default)]
    pub threads: i32,
    #[serde(default = "d_log_every")]
    pub log_every: u64,
    #[serde(default = "d_ckpt_every")]
    pub checkpoint_every: u64,
    /// Validation batches per evaluation (0 = the whole validation split).
    #[serde(default)]
    pub valid_max_batches: u64,
}

fn d_bptt() -> usize {
    70
}
fn d_epochs() -> u64 {
    1
}
fn d_lr() -> f64 {
    1e-2
}
fn d_moms() -> (f64, f64) {
    (0.95, 0.85)
}
fn d_beta2() -> f64 {
    0.99
}
fn d_eps() -> f64 {
    1e-5
}
fn d_pct_start() -> f64 {
    0.25
}
fn d_div() -> f64 {
    25.0
}
fn d_final_div() -> f64 {
    1e5
}
fn d_log_every() -> u64 {
    50
}
fn d_ckpt_every() -> u64 {
    500
}

impl Default for TrainSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// `configs/lm-*.toml`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// The token corpus directory (from `genolm corpus build`).
    pub corpus: PathBuf,
    #[serde(default)]
    pub model: AwdLstmConfig,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub output: OutputSection,
    /// Fine-tuning: a language-model directory whose weights start this run. Its tokenizer must be
    /// the corpus's (build the corpus with `--tokenizer` that directory) and its model section this one.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

/// What a language-model directory's config records besides its kind: the config plus what
/// rebuilds the model and what it was made from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LmSpec {
    pub genolm_version: String,
    pub vocab_size: i64,
    pub k: usize,
    pub stride: usize,
    pub tokenizer_sha256: String,
    pub corpus_sha256: Vec<String>,
    pub pretrain: PretrainConfig,
}
