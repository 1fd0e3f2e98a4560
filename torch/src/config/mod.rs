//! The configs of training runs, as read from TOML and recorded in model directories. Types only:
//! the model directory ([`crate::modeldir`]) stores them, the trainer ([`crate::train`]) runs them.

pub mod classify;
pub mod cnn;
pub mod lm;

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
