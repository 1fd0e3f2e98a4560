//! A classifier task's config (`configs/<task>.toml`) and the `config.json` of a classifier directory.

use std::path::{Path, PathBuf};

use crate::model::awd_lstm::AwdLstmConfig;
use crate::model::classifier::HeadConfig;
use crate::modeldir::{self, ModelKind};
use crate::train::{Precision, Result};
use genolm::corpus::labelled::{LabelledSource, SetSplit};
use genolm::tokenize::KmerTokenizer;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// How many groups, counted from the head, train in this stage (0 = all).
    #[serde(default)]
    pub unfreeze: usize,
    pub epochs: u64,
    /// Peak learning rate of the head; each lower group gets lr / lr_div^depth.
    pub lr: f64,
    /// Instead of `unfreeze`: freeze this layer group (by name, e.g. "conv2" or "lstm.0", or
    /// 0-based index) and every group below it; the groups above it train.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_through: Option<String>,
}

/// Genomic-ULMFiT's recipe: head only; then the last 2 groups; then 3; then everything.
fn d_stages() -> Vec<Stage> {
    vec![
        Stage {
            unfreeze: 1,
            epochs: 1,
            lr: 2e-2,
            freeze_through: None,
        },
        Stage {
            unfreeze: 2,
            epochs: 1,
            lr: 1e-2,
            freeze_through: None,
        },
        Stage {
            unfreeze: 3,
            epochs: 1,
            lr: 5e-3,
            freeze_through: None,
        },
        Stage {
            unfreeze: 0,
            epochs: 3,
            lr: 1e-3,
            freeze_through: None,
        },
    ]
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyTrain {
    #[serde(default = "crate::config::defaults::batch_size")]
    pub batch_size: usize,
    #[serde(default = "d_stages")]
    pub stages: Vec<Stage>,
    /// Discriminative learning rates: each group below the head trains at lr / lr_div^depth.
    #[serde(default = "d_lr_div")]
    pub lr_div: f64,
    #[serde(default = "crate::config::defaults::weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "d_moms")]
    pub moms: (f64, f64),
    #[serde(default = "crate::config::defaults::clip")]
    pub clip: f64,
    #[serde(default)]
    pub precision: Precision,
    /// Loss scaling for fp16 (see [`LossScaling`]).
    #[serde(default)]
    pub loss_scaling: crate::train::LossScaling,
    #[serde(default = "crate::config::defaults::seed")]
    pub seed: u64,
    #[serde(default = "crate::config::defaults::device")]
    pub device: String,
    #[serde(default)]
    pub threads: i32,
    /// Validation metric that picks the best checkpoint: mcc, accuracy, f1, auroc, auprc or
    /// valid_loss.
    #[serde(default = "d_metric")]
    pub metric: super::Metric,
    /// With stride > 1, a sequence has `stride` k-mer readings (from base 0, 1, ...): training
    /// draws one per sequence and epoch, prediction averages them. False: frame 0 only.
    #[serde(default = "d_true")]
    pub all_frames: bool,
    /// Early stopping: end a stage after this many epochs without a better validation metric
    /// (0: never). The best checkpoint of the whole run is the one kept.
    #[serde(default)]
    pub patience: u64,
}

fn d_lr_div() -> f64 {
    2.6
}
fn d_moms() -> (f64, f64) {
    (0.8, 0.7)
}
fn d_metric() -> super::Metric {
    super::Metric::Mcc
}
fn d_true() -> bool {
    true
}
fn d_clas_drop_mult() -> f64 {
    0.5
}

impl ClassifyTrain {
    /// How many k-mer frames of each sequence the classifier reads: all of them (as many as the
    /// stride) or frame 0 only.
    pub fn n_frames(&self, tok: &KmerTokenizer) -> usize {
        if self.all_frames {
            tok.stride()
        } else {
            1
        }
    }
}

impl Default for ClassifyTrain {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    #[serde(default = "d_valid")]
    pub valid_frac: f64,
    #[serde(default = "d_test")]
    pub test_frac: f64,
    #[serde(default = "crate::config::defaults::seed")]
    pub seed: u64,
}

fn d_valid() -> f64 {
    0.1
}
fn d_test() -> f64 {
    0.15
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            valid_frac: d_valid(),
            test_frac: d_test(),
            seed: crate::config::defaults::seed(),
        }
    }
}

/// `configs/<task>.toml`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    /// A language-model directory: its encoder and tokenizer start the classifier. Absent: a randomly
    /// initialised encoder (the naive baseline) with `tokenizer`, or a complete vocabulary of k/stride.
    #[serde(default)]
    pub lm: Option<PathBuf>,
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    #[serde(default)]
    pub k: Option<usize>,
    #[serde(default)]
    pub stride: Option<usize>,
    pub data: LabelledSource,
    /// Class names in order (default: as first seen in the data). With two classes the second is
    /// the positive one of precision, recall, specificity and the ROC/PR curves.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub split: SplitConfig,
    /// Encoder shape for a naive classifier (with `lm`, the LM's own is used).
    #[serde(default)]
    pub model: AwdLstmConfig,
    #[serde(default)]
    pub head: HeadConfig,
    /// Scales fastai's classifier dropouts (output 0.4, hidden 0.3, input 0.4, embedding 0.05,
    /// weights 0.5), which replace the LM's (or `model`'s) own, as text_classifier_learner does.
    #[serde(default = "d_clas_drop_mult")]
    pub drop_mult: f64,
    #[serde(default)]
    pub train: ClassifyTrain,
    #[serde(default)]
    pub output: crate::config::lm::OutputSection,
}

/// `config.json` of a ULMFiT classifier directory (kind `awd_lstm_classifier`): what rebuilds the
/// model for `predict`, and what it was made from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedClassifier {
    /// Classes, or the labels of a multi-label classifier.
    pub classes: Vec<String>,
    /// One sigmoid output per label, trained with binary cross-entropy (multi-label data).
    #[serde(default)]
    pub multi_label: bool,
    pub encoder: AwdLstmConfig,
    pub head: HeadConfig,
    pub config: ClassifyConfig,
    #[serde(default)]
    pub inputs_sha256: std::collections::BTreeMap<String, String>,
    /// Median length of the training sequences (bases); absent in directories made before it was
    /// recorded (see [`SavedClassifier::train_len`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_len: Option<u64>,
}

impl SavedClassifier {
    /// `DIR/config.json`, which must be a ULMFiT classifier's.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(modeldir::read_spec(dir, &[ModelKind::UlmfitClassifier])?.1)
    }

    /// The training sequences' median length: recorded, or (older directories) measured on the
    /// training split of the data the config names, drawn as training drew it.
    pub fn train_len(&self) -> Result<u64> {
        if let Some(n) = self.train_len {
            return Ok(n);
        }
        let set = crate::features::kmer::load_splits(&self.config)?;
        Ok(crate::features::kmer::median_length(&set, SetSplit::Train))
    }
}

/// The config a classifier directory was started with (for `--resume`).
pub fn saved_config(dir: &Path) -> Result<ClassifyConfig> {
    Ok(SavedClassifier::read(dir)?.config)
}

/// Where a classifier's labelled data came from and how it was split: enough to draw its test
/// set again, whatever the model family.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskSource {
    pub data: LabelledSource,
    pub classes: Option<Vec<String>>,
    pub split: SplitConfig,
}

impl ClassifyConfig {
    pub fn task_source(&self) -> TaskSource {
        TaskSource {
            data: self.data.clone(),
            classes: self.classes.clone(),
            split: self.split.clone(),
        }
    }
}
