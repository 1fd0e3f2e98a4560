//! A one-hot CNN run's config (`configs/cnn-*.toml`) and the `config.json` of a CNN directory.

use std::path::{Path, PathBuf};

use super::classify::{SplitConfig, Stage};
use super::lm::OutputSection;
use crate::model::cnn::CnnConfig;
use crate::modeldir::{self, ModelKind};
use crate::train::{LossScaling, Precision, Result};
use genolm::corpus::labelled::LabelledSource;

/// The learning rate over a stage: constant (Keras' Adam, as TLVar and Novakovsky et al. train)
/// or fastai's one cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    #[default]
    Constant,
    OneCycle,
}

fn d_stages() -> Vec<Stage> {
    vec![Stage {
        unfreeze: 0,
        epochs: 50,
        lr: 1e-3,
        freeze_through: None,
    }]
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnTrain {
    #[serde(default = "crate::config::defaults::batch_size")]
    pub batch_size: usize,
    /// Default: all layers, up to 50 epochs at 1e-3 (early stopping ends it sooner).
    #[serde(default = "d_stages")]
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub schedule: Schedule,
    /// Discriminative learning rates: each group below the top at lr / lr_div^depth (1: none).
    #[serde(default = "d_lr_div")]
    pub lr_div: f64,
    #[serde(default)]
    pub weight_decay: f64,
    /// Adam's beta1 (constant schedule) or the one cycle's (high, low).
    #[serde(default = "d_moms")]
    pub moms: (f64, f64),
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
    /// Gradient-norm clipping (0: off).
    #[serde(default)]
    pub clip: f64,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub loss_scaling: LossScaling,
    #[serde(default = "crate::config::defaults::seed")]
    pub seed: u64,
    #[serde(default = "crate::config::defaults::device")]
    pub device: String,
    #[serde(default)]
    pub threads: i32,
    /// What picks the kept epoch and drives early stopping: valid_loss (lowest), or mcc,
    /// accuracy, f1, auroc, auprc (highest).
    #[serde(default = "d_metric")]
    pub metric: super::Metric,
    /// Epochs without a better `metric` before a stage ends (0: never).
    #[serde(default = "d_patience")]
    pub patience: u64,
    /// Train on each sequence or its reverse complement, drawn per sequence and epoch.
    #[serde(default = "d_true")]
    pub rc_augment: bool,
    /// Validate and predict with the mean of a sequence's and its reverse complement's scores.
    #[serde(default = "d_true")]
    pub rc_average: bool,
}

fn d_lr_div() -> f64 {
    1.0
}
fn d_moms() -> (f64, f64) {
    (0.9, 0.9)
}
fn d_beta2() -> f64 {
    0.999
}
fn d_eps() -> f64 {
    1e-7
}
fn d_metric() -> super::Metric {
    super::Metric::ValidLoss
}
fn d_patience() -> u64 {
    5
}
fn d_true() -> bool {
    true
}

impl Default for CnnTrain {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// Transfer learning: a trained CNN whose weights start this run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitFrom {
    /// A CNN directory (its input length must be this run's).
    pub model: PathBuf,
    /// Layer groups that start fresh instead (default: the output layer, for new classes).
    #[serde(default = "d_reinit")]
    pub reinit: Vec<String>,
}

fn d_reinit() -> Vec<String> {
    vec!["out".into()]
}

/// `configs/cnn-*.toml`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnRunConfig {
    pub data: LabelledSource,
    /// Class names in order (default: as first seen in the data); with two, the second is the
    /// positive one.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub split: SplitConfig,
    pub model: CnnConfig,
    #[serde(default)]
    pub train: CnnTrain,
    #[serde(default)]
    pub init: Option<InitFrom>,
    #[serde(default)]
    pub output: OutputSection,
}

/// `config.json` of a CNN directory (kind `cnn`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CnnSpec {
    /// Classes, or the labels of a multi-label model.
    pub classes: Vec<String>,
    /// One sigmoid output per label, trained with binary cross-entropy (multi-label data).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_label: bool,
    pub model: CnnConfig,
    pub config: CnnRunConfig,
    #[serde(default)]
    pub inputs_sha256: std::collections::BTreeMap<String, String>,
}

impl CnnSpec {
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(modeldir::read_spec(dir, &[ModelKind::Cnn])?.1)
    }
}

impl CnnRunConfig {
    pub fn task_source(&self) -> super::classify::TaskSource {
        super::classify::TaskSource {
            data: self.data.clone(),
            classes: self.classes.clone(),
            split: self.split.clone(),
        }
    }
}
