//! Evaluation: the metrics a biologist reports for a classifier.

pub mod metrics;
pub mod pretraining_curve;
pub mod training_log;
