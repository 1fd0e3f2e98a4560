//! Evaluation: the metrics a biologist reports for a classifier.

pub mod metrics;
pub mod training_log;
