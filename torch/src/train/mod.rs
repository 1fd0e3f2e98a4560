//! The one trainer: optimizer (AdamW with per-group learning rates), one-cycle schedule, precision,
//! gradient clipping, atomic resumable checkpoints, metrics log. The LM and the classifiers use it.

pub mod checkpoint;
pub mod classify;
pub mod cnn;
pub mod compare;
pub mod fit;
pub mod freeze;
pub mod lm;
pub mod optim;
pub mod schedule;
pub mod trainer;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Torch(tch::TchError),
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
    #[error(transparent)]
    Output(#[from] genolm::fsutil::StagingError),
    #[error(transparent)]
    Labelled(#[from] genolm::corpus::labelled::Error),
    #[error(transparent)]
    Variants(#[from] genolm::variants::Error),
    #[error(transparent)]
    Track(#[from] genolm::track::Error),
    #[error(transparent)]
    MetricsLog(#[from] genolm::eval::training_log::LogError),
    #[error(transparent)]
    CnnConfig(#[from] crate::model::cnn::CnnConfigError),
    #[error(transparent)]
    Dist(#[from] crate::dist::Error),
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file or directory that is not what its name promises: cut short, damaged, or not genolm's.
    #[error("{path}: {problem}", path = path.display())]
    Damaged { path: PathBuf, problem: String },
    /// A path that should hold a model, a checkpoint or a genome part and does not.
    #[error("{path}: {what}", path = path.display())]
    Missing { path: PathBuf, what: String },
    /// A fresh run refuses to overwrite a model or a checkpoint.
    #[error("{path}: already holds a {what}; continue it with --resume {path}, or choose another --out", path = path.display())]
    Exists { path: PathBuf, what: &'static str },
    /// A model directory of another kind than the command needs.
    #[error("{path}: {found}, but this needs {needed}", path = path.display())]
    WrongKind {
        path: PathBuf,
        found: &'static str,
        needed: String,
    },
    /// Two things that must agree do not (a model and its data, a checkpoint and its config, the
    /// members of an ensemble): `subject` names what, `found` and `expected` the two sides.
    #[error("{subject}: {found}; {expected}")]
    Mismatch {
        subject: String,
        found: String,
        expected: String,
    },
    /// A config key or command-line option whose value cannot be used as given (beyond a plain
    /// range, which is [`Error::Value`]).
    #[error("{key}: {problem}")]
    Setting { key: String, problem: String },
    /// Train/validation/test splits too small to train on.
    #[error("splits too small: train {train}, valid {valid}, test {test} (train needs at least 2 sequences, valid and test at least 1)")]
    SplitsTooSmall {
        train: usize,
        valid: usize,
        test: usize,
    },
    /// A broken invariant of genolm itself (a bug to report), not of the input.
    #[error("internal error: {0}")]
    Internal(String),
    /// A weights file that does not load into the model built from its directory's config.
    #[error("{path}: cannot load these weights (truncated, damaged, or another model's): {source}", path = path.display())]
    Weights {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
    /// A config value or command-line option out of its range, caught when it is read.
    #[error("{key} = {value}: {want}")]
    Value {
        key: &'static str,
        value: String,
        want: &'static str,
    },
    #[error("interrupted at step {step}: checkpoint saved in {dir} (continue with --resume {dir})", dir = dir.display())]
    Interrupted { step: u64, dir: PathBuf },
    #[error("interrupted: nothing written to {path}", path = path.display())]
    Cancelled { path: PathBuf },
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<tch::TchError> for Error {
    /// A safetensors file that could not be written or read for an I/O reason (a full disk) is
    /// an I/O error naming the file, not a library error.
    fn from(e: tch::TchError) -> Self {
        match e {
            tch::TchError::SafeTensorError {
                path,
                err: safetensors::SafeTensorError::IoError(source),
            } => Error::Io {
                path: path.into(),
                source,
            },
            e => Error::Torch(e),
        }
    }
}

/// Loads `path` (safetensors) into `vs`, every variable by name; a failure names the file.
pub(crate) fn load_weights(vs: &mut tch::nn::VarStore, path: &std::path::Path) -> Result<()> {
    vs.load(path).map_err(|source| Error::Weights {
        path: path.to_path_buf(),
        source,
    })
}

/// `Err(Error::Value)` unless `ok`.
pub(crate) fn require(
    ok: bool,
    key: &'static str,
    value: impl ToString,
    want: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Value {
            key,
            value: value.to_string(),
            want,
        })
    }
}

/// A classification head's training loss on fp32 logits: cross-entropy over classes (`y`: class
/// ids), or binary cross-entropy per label (`y`: 0/1 per label) for a multi-label head.
pub(crate) fn head_loss(logits: &tch::Tensor, y: &tch::Tensor, multi_label: bool) -> tch::Tensor {
    if multi_label {
        logits.binary_cross_entropy_with_logits::<tch::Tensor>(y, None, None, tch::Reduction::Mean)
    } else {
        logits.cross_entropy_for_logits(y)
    }
}

/// A classification head's probabilities from its logits, in fp32: a softmax over classes, or a
/// sigmoid per label for a multi-label head.
pub(crate) fn head_probs(logits: &tch::Tensor, multi_label: bool) -> tch::Tensor {
    if multi_label {
        logits.to_kind(tch::Kind::Float).sigmoid()
    } else {
        logits.softmax(-1, tch::Kind::Float)
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

/// Compute precision: fp32, or bf16/fp16 compute with fp32 master weights; `auto` is bf16 where
/// the device computes it natively (see [`crate::device::native_bf16`]) and fp32 elsewhere, where
/// emulated bf16 would be slower than fp32.
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
    Auto,
}

impl Precision {
    /// The precision a run on `device` uses: `auto` decided, fp16 refused off CUDA. An explicit
    /// bf16 where it is only emulated is kept, with a warning.
    pub fn resolve(self, device: tch::Device) -> Result<Precision> {
        match self {
            Precision::Auto if crate::device::native_bf16(device) == Some(true) => {
                Ok(Precision::Bf16)
            }
            Precision::Auto => Ok(Precision::Fp32),
            Precision::Fp16 if !device.is_cuda() => Err(Error::Value {
                key: "precision",
                value: "fp16".into(),
                want: "fp16 needs a CUDA device; use bf16 (or auto) on the CPU",
            }),
            Precision::Bf16 if crate::device::native_bf16(device) == Some(false) => {
                warn_emulated_bf16(device);
                Ok(self)
            }
            other => Ok(other),
        }
    }

    pub fn kind(self, device: tch::Device) -> Result<tch::Kind> {
        Ok(match self.resolve(device)? {
            Precision::Bf16 => tch::Kind::BFloat16,
            Precision::Fp16 => tch::Kind::Half,
            _ => tch::Kind::Float,
        })
    }
}

fn warn_emulated_bf16(device: tch::Device) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let what = if device.is_cuda() {
            "this GPU (compute capability below 8.0)"
        } else {
            "this CPU (no AVX-512 BF16)"
        };
        eprintln!(
            "genolm: warning: {what} does not compute bf16 natively: expect bf16 to be slower \
             than fp32 here (precision = \"auto\" picks fp32)"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_auto_precision_follows_the_cpu() {
        let cpu = tch::Device::Cpu;
        let native = crate::device::native_bf16(cpu) == Some(true);
        let want = if native {
            Precision::Bf16
        } else {
            Precision::Fp32
        };
        assert_eq!(Precision::Auto.resolve(cpu).unwrap(), want);
        assert_eq!(
            Precision::Bf16.resolve(cpu).unwrap(),
            Precision::Bf16,
            "explicit bf16 is kept"
        );
        assert_eq!(Precision::Fp32.resolve(cpu).unwrap(), Precision::Fp32);
        let err = Precision::Fp16.resolve(cpu).unwrap_err().to_string();
        assert!(err.contains("needs a CUDA device"), "{err}");
        assert_eq!(
            Precision::Auto.kind(cpu).unwrap(),
            if native {
                tch::Kind::BFloat16
            } else {
                tch::Kind::Float
            }
        );
    }
}
