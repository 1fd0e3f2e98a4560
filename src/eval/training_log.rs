//! `metrics.jsonl`, the training log of every model directory: one typed row per line, written by
//! the trainer and read back by the plots (neither side spells a key as a string).
//!
//! A row is a training step (`lr`, `mom`, throughput) or an evaluation at the end of an epoch
//! (`valid_*`); fields a row does not have are left out of its line.

use std::io::Write;
use std::path::{Path, PathBuf};

pub const METRICS_FILE: &str = "metrics.jsonl";

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricsRow {
    /// Optimizer steps taken.
    #[serde(default)]
    pub step: u64,
    /// Unfreezing stage (classifiers; a language model has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// Epoch (within the stage).
    #[serde(default)]
    pub epoch: u64,
    /// Tokens seen (language models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Mean training loss of the steps since the previous row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mom: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequences_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_perplexity: Option<f64>,
    /// The language model's "informed random" loss ln(4^stride).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_mcc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_auroc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_auprc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_f1: Option<f64>,
    /// The validation metric that picks the kept weights, and its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Seconds since the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

impl MetricsRow {
    /// An evaluation row (it has a validation loss).
    pub fn is_validation(&self) -> bool {
        self.valid_loss.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}", path = path.display())]
pub struct LogError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Appends rows to `DIR/metrics.jsonl`, one whole line per write.
pub struct MetricsLog {
    file: std::fs::File,
    path: PathBuf,
}

impl MetricsLog {
    /// A fresh log in `dir`; or, resuming at `resume_step`, the existing one without the rows
    /// logged after that checkpoint (they are logged again as the run replays those steps).
    pub fn open(dir: &Path, resume_step: Option<u64>) -> Result<Self, LogError> {
        let path = dir.join(METRICS_FILE);
        let err = |source| LogError {
            path: path.clone(),
            source,
        };
        // Kept lines are copied as they are: parsing and printing a float again could move its
        // last bit (serde_json's parser is not correctly rounded).
        let mut text = String::new();
        if let (Some(step), true) = (resume_step, path.exists()) {
            let old = std::fs::read_to_string(&path).map_err(err)?;
            for line in old.lines() {
                match serde_json::from_str::<MetricsRow>(line) {
                    Ok(row) if row.step <= step => {
                        text.push_str(line);
                        text.push('\n');
                    }
                    _ => {}
                }
            }
        }
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(err)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(err)?;
        Ok(Self { file, path })
    }

    pub fn append(&mut self, row: &MetricsRow) -> Result<(), LogError> {
        self.file
            .write_all(line_of(row).as_bytes())
            .map_err(|source| LogError {
                path: self.path.clone(),
                source,
            })
    }
}

fn line_of(row: &MetricsRow) -> String {
    format!(
        "{}\n",
        serde_json::to_string(row).expect("a metrics row serializes")
    )
}

fn read_rows(path: &Path) -> std::io::Result<Vec<MetricsRow>> {
    let text = std::fs::read_to_string(path)?;
    // A line cut short by a crash is skipped, not fatal.
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// The rows of `DIR/metrics.jsonl`.
pub fn read(dir: &Path) -> Result<Vec<MetricsRow>, LogError> {
    let path = dir.join(METRICS_FILE);
    read_rows(&path).map_err(|source| LogError { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rows_round_trip_and_resume_drops_rows_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), None).unwrap();
        for step in [10, 20, 30] {
            log.append(&MetricsRow {
                step,
                train_loss: Some(step as f64 / 7.0),
                ..Default::default()
            })
            .unwrap();
        }
        let rows = read(dir.path()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].train_loss, Some(20.0 / 7.0), "exact to the bit");
        let text = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
        assert!(!text.contains("valid_loss"), "absent fields stay out");
        let mut log = MetricsLog::open(dir.path(), Some(20)).unwrap();
        log.append(&MetricsRow {
            step: 30,
            valid_loss: Some(1.5),
            ..Default::default()
        })
        .unwrap();
        let rows = read(dir.path()).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.step).collect::<Vec<_>>(),
            [10, 20, 30]
        );
        assert!(rows[2].is_validation());
    }
}
