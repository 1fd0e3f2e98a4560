//! The one trainer: optimizer (AdamW with per-group learning rates), one-cycle schedule, precision,
//! gradient clipping, atomic resumable checkpoints, metrics log. The LM and the classifiers use it.

pub mod checkpoint;
pub mod classify;
pub mod freeze;
pub mod lm;
pub mod optim;
pub mod schedule;
pub mod trainer;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Corpus(#[from] genolm::corpus::Error),
    #[error(transparent)]
    CorpusRead(#[from] genolm::corpus::format::ReadError),
    #[error(transparent)]
    Streams(#[from] genolm::corpus::lm::LmError),
    #[error(transparent)]
    Tokenizer(#[from] genolm::tokenize::Error),
    #[error(transparent)]
    Genome(#[from] genolm::genome::Error),
    #[error(transparent)]
    Device(#[from] crate::device::Error),
    #[error(transparent)]
    Model(#[from] crate::model::awd_lstm::ConfigError),
    #[error(transparent)]
    Config(#[from] genolm::config::Error),
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("interrupted at step {step}: checkpoint saved in {dir} (continue with --resume {dir})", dir = dir.display())]
    Interrupted { step: u64, dir: PathBuf },
    #[error("interrupted: nothing written to {path}", path = path.display())]
    Cancelled { path: PathBuf },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Config defaults shared by the language-model and classifier trainers.
pub(crate) mod defaults {
    pub fn batch_size() -> usize {
        64
    }
    pub fn weight_decay() -> f64 {
        0.01
    }
    pub fn clip() -> f64 {
        0.25
    }
    pub fn seed() -> u64 {
        42
    }
    pub fn device() -> String {
        "auto".into()
    }
}

pub(crate) fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loss scaling: `auto` scales the loss dynamically in fp16 (whose narrow exponent range would
/// flush small gradients to zero) and not otherwise; `dynamic` and `off` force it either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossScaling {
    #[default]
    Auto,
    Dynamic,
    Off,
}

impl LossScaling {
    pub fn scaler(self, precision: Precision) -> Option<optim::LossScaler> {
        match (self, precision) {
            (LossScaling::Dynamic, _) | (LossScaling::Auto, Precision::Fp16) => {
                Some(optim::LossScaler::default())
            }
            _ => None,
        }
    }
}

/// Compute precision: fp32, or bf16 compute with fp32 master weights.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    pub fn kind(self, device: tch::Device) -> Result<tch::Kind> {
        match self {
            Precision::Fp32 => Ok(tch::Kind::Float),
            Precision::Bf16 => Ok(tch::Kind::BFloat16),
            Precision::Fp16 if device.is_cuda() => Ok(tch::Kind::Half),
            Precision::Fp16 => Err(Error::Invalid(
                "train.precision = \"fp16\" needs a CUDA device; use \"bf16\" on the CPU".into(),
            )),
        }
    }
}
