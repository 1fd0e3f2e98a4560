//! The configs of training runs, as read from TOML and recorded in model directories. Types only:
//! the model directory ([`crate::modeldir`]) stores them, the trainer ([`crate::train`]) runs them.

pub mod classify;
pub mod cnn;
pub mod lm;

/// The validation metric that picks a classifier's or CNN's best checkpoint (and ends a stage early
/// with `patience`). An enum, so that a misspelt name is refused when the config is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The validation cross-entropy (lower is better).
    ValidLoss,
    Mcc,
    Accuracy,
    F1,
    Auroc,
    Auprc,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::ValidLoss => "valid_loss",
            Metric::Mcc => "mcc",
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Auroc => "auroc",
            Metric::Auprc => "auprc",
        }
    }
}

/// Defaults shared by the language-model and classifier configs.
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
