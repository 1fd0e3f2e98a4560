//! Models. Every parameter has a stable, documented name (see [`awd_lstm`]): it is the interface the
//! classifiers, the freeze machinery and outside users rely on.

pub mod awd_lstm;
pub mod classifier;
pub mod cnn;
pub mod dropout;
pub mod norm;

pub use awd_lstm::{AwdLstm, AwdLstmConfig, LanguageModel};
