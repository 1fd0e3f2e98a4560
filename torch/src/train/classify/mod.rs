//! `genolm classify train`: a ULMFiT classifier on labelled sequences, from a language model's encoder
//! (or from scratch, the "naive" baseline), with gradual unfreezing and discriminative learning rates.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::{nn, Device, Kind};

use crate::infer::predict::encoded_probs;
use crate::model::awd_lstm::AwdLstmConfig;
use crate::model::classifier::{Classifier, HeadConfig};
use crate::train::checkpoint::{self, TRAIN_STATE_DIR};
use crate::train::freeze;
use crate::train::optim::{AdamW, AdamWConfig};
use crate::train::schedule::OneCycle;
use crate::train::trainer::{self, Runtime, StepTiming};
use crate::train::{io_err, Error, Result};
use data::{batch, epoch_rng, load_splits, select, sortish_batches, tokenizer_for, Encoded};
use genolm::corpus::labelled::SetSplit;
use genolm::eval::metrics::{self, BinaryMetrics, Report};
use genolm::fsutil::write_atomic;
use genolm::rng::SplitMix64;
use genolm::tokenize::{hf, KmerTokenizer, PAD_ID};
use outputs::{write_json, write_outputs};

mod config;
pub(crate) mod data;
mod outputs;

pub use config::*;
pub use data::{task_split, write_lm_sequences};
pub use outputs::{prediction_rows, predictions_header, predictions_tsv};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ClassifyReport {
    pub dir: PathBuf,
    /// Test-set metrics (for two classes, of the second class; for more, the macro means).
    #[serde(flatten)]
    pub test: metrics::BinaryMetrics,
    pub n_test: usize,
    pub seconds: f64,
    /// Training throughput: sequences through forward, backward and the optimizer step per second.
    pub train_sequences_per_s: f64,
}

fn metric_of(r: &Report, name: &str) -> f64 {
    let s = &r.summary;
    match name {
        "accuracy" => r.accuracy,
        "f1" => s.f1,
        "auroc" => s.auroc,
        "auprc" => s.auprc,
        _ => s.mcc,
    }
}

/// Where classifier training stands; a checkpoint saves it so that `--resume` continues there.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierPosition {
    pub stage: usize,
    /// Epoch within the stage.
    pub epoch: u64,
    pub batch_in_epoch: u64,
    pub step: u64,
    /// Training loss summed over the batches of this epoch so far.
    pub loss_sum: f64,
    /// Best validation score so far (none before the first epoch ends).
    pub best: Option<f64>,
    /// Epochs of this stage since the score last improved (early stopping).
    pub since_best: u64,
}

/// What a training run needs: data, model, optimizer.
struct Run {
    data: TaskData,
    vs: nn::VarStore,
    clf: Classifier,
    opt: AdamW,
    /// Batches per epoch (the same every epoch).
    per_epoch: u64,
    timing: StepTiming,
    kind: Kind,
    device: Device,
}

/// fastai's classifier dropouts (`awd_lstm_clas_config`: output 0.4, hidden 0.3, input 0.4,
/// embedding 0.05, weights 0.5) times `drop_mult`; the head's first dropout is the output one.
fn with_classifier_dropouts(
    mut enc: AwdLstmConfig,
    head: &HeadConfig,
    drop_mult: f64,
) -> (AwdLstmConfig, HeadConfig) {
    enc.output_p = 0.4;
    enc.hidden_p = 0.3;
    enc.input_p = 0.4;
    enc.embed_p = 0.05;
    enc.weight_p = 0.5;
    enc.drop_mult = drop_mult;
    let mut head = head.clone();
    head.ps = Some(head.dropouts(drop_mult));
    (enc, head)
}

/// `[model]` gives a naive encoder's shape only: its dropouts would be silently replaced by the
/// classifier's, and with `lm` the shape is the LM's.
fn check_model_section(cfg: &ClassifyConfig) -> Result<()> {
    let d = AwdLstmConfig::default();
    let m = &cfg.model;
    if cfg.lm.is_some() && *m != d {
        return Err(Error::Invalid(
            "[model] is taken from the language model given by `lm`; remove the [model] section"
                .into(),
        ));
    }
    let dropouts = |c: &AwdLstmConfig| {
        [
            c.output_p,
            c.hidden_p,
            c.input_p,
            c.embed_p,
            c.weight_p,
            c.drop_mult,
        ]
    };
    if dropouts(m) != dropouts(&d) {
        return Err(Error::Invalid(
            "model.drop_mult and model.*_p do not apply to classifiers: they use fastai's classifier \
             dropouts scaled by the top-level `drop_mult` (default 0.5); set that instead"
                .into(),
        ));
    }
    Ok(())
}

/// sha256 of each data file, and of the LM's weights: what the model was made from.
fn input_checksums(cfg: &ClassifyConfig) -> Result<std::collections::BTreeMap<String, String>> {
    let mut files: Vec<PathBuf> = cfg
        .data
        .files()
        .into_iter()
        .map(Path::to_path_buf)
        .collect();
    if let Some(lm) = &cfg.lm {
        files.push(lm.join(crate::train::lm::MODEL_FILE));
    }
    let mut sums = std::collections::BTreeMap::new();
    for f in files {
        let sum =
            genolm::genome::open::sha256_file(&f).map_err(|e| Error::Invalid(e.to_string()))?;
        sums.insert(f.display().to_string(), sum);
    }
    Ok(sums)
}

/// The task's labelled sequences, split and encoded with the model's tokenizer.
struct TaskData {
    tr: Encoded,
    va: Encoded,
    te: Encoded,
    /// Ids of the test sequences, in `te`'s row order.
    te_ids: Vec<String>,
    classes: Vec<String>,
    /// Median length of the training sequences (bases): the window `scan` uses by default.
    train_len: u64,
}

fn task_data(cfg: &ClassifyConfig, tok: &KmerTokenizer, backwards: bool) -> Result<TaskData> {
    let set = load_splits(cfg)?;
    let n_frames = cfg.train.n_frames(tok);
    let split = |which| select(&set, tok, which, n_frames, backwards);
    let (tr, va, te) = (
        split(SetSplit::Train),
        split(SetSplit::Valid),
        split(SetSplit::Test),
    );
    if tr.len() < 2 || va.len() == 0 || te.len() == 0 {
        return Err(Error::Invalid(format!(
            "splits too small: train {}, valid {}, test {}",
            tr.len(),
            va.len(),
            te.len()
        )));
    }
    let te_ids = set
        .rows_in(SetSplit::Test)
        .into_iter()
        .map(|i| set.ids[i].clone())
        .collect();
    let train_len = data::median_length(&set, SetSplit::Train);
    Ok(TaskData {
        train_len,
        tr,
        va,
        te,
        te_ids,
        classes: set.classes,
    })
}

fn setup(cfg: &ClassifyConfig, out: &Path, resume: bool) -> Result<(Run, SavedClassifier)> {
    let t = &cfg.train;
    let Runtime {
        device,
        precision,
        kind,
    } = Runtime::new(&t.device, t.precision, t.threads, t.seed)?;
    let tok = tokenizer_for(cfg)?;
    check_model_section(cfg)?;
    let shape = match &cfg.lm {
        Some(lm) => crate::train::lm::load_model_config(lm)?.pretrain.model,
        None => cfg.model.clone(),
    };
    let (enc_cfg, head) = with_classifier_dropouts(shape, &cfg.head, cfg.drop_mult);
    enc_cfg.validate()?;
    let data = task_data(cfg, &tok, enc_cfg.backwards)?;
    let mut vs = nn::VarStore::new(device);
    let n_classes = data.classes.len() as i64;
    let clf = Classifier::new(
        &vs.root(),
        tok.vocab_size() as i64,
        &enc_cfg,
        &head,
        n_classes,
    );
    if let Some(lm) = &cfg.lm {
        let missing = vs.load_partial(lm.join(crate::train::lm::MODEL_FILE))?;
        if missing.iter().any(|n| n.starts_with("encoder.")) {
            return Err(Error::Invalid(format!(
                "{}: encoder tensors missing: {missing:?}",
                lm.display()
            )));
        }
    }
    let mut saved = SavedClassifier {
        kind: "awd_lstm_classifier".into(),
        classes: data.classes.clone(),
        encoder: enc_cfg.clone(),
        head,
        // The precision used ("auto" decided), as the LM's model dir records it.
        config: ClassifyConfig {
            train: ClassifyTrain {
                precision,
                ..cfg.train.clone()
            },
            ..cfg.clone()
        },
        // Hashed once, when the run starts; a resumed run keeps the config.json written then.
        inputs_sha256: Default::default(),
        train_len: Some(data.train_len),
    };
    if !resume {
        trainer::refuse_existing(out, "classifier")?;
        std::fs::create_dir_all(out).map_err(io_err(out))?;
        hf::save(&tok, out)?;
        saved.inputs_sha256 = input_checksums(cfg)?;
        write_json(out, "config.json", &saved)?;
    }
    let opt = trainer::optimizer(
        &freeze::LayerGroups::new(clf.layer_groups()),
        &vs,
        AdamWConfig {
            beta2: 0.99,
            eps: 1e-5,
            weight_decay: t.weight_decay,
        },
        t.loss_scaling.scaler(precision),
    )?;
    let per_epoch = sortish_batches(&data.tr, t.batch_size, &mut SplitMix64::new(0)).len() as u64;
    let run = Run {
        data,
        vs,
        clf,
        opt,
        per_epoch,
        timing: StepTiming::default(),
        kind,
        device,
    };
    Ok((run, saved))
}

/// Mean cross-entropy of the true classes.
fn log_loss(labels: &[u32], probs: &[Vec<f64>]) -> f64 {
    let sum: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&l, p)| -p[l as usize].max(1e-12).ln())
        .sum();
    sum / labels.len().max(1) as f64
}

pub struct ClassifyOptions<'a> {
    /// Continue the checkpoint in the output directory.
    pub resume: bool,
    /// Set by Ctrl-C: save a checkpoint and stop.
    pub interrupted: &'a AtomicBool,
    /// Save a checkpoint and stop before this step, as Ctrl-C does.
    pub stop_after: Option<u64>,
    /// Show a progress bar (steps, stage, epoch, loss, sequences/s, ETA) on a terminal.
    pub progress: bool,
}

/// The one-cycle schedule of a stage, over all its epochs.
fn stage_schedule(stage: &Stage, moms: (f64, f64), per_epoch: u64) -> OneCycle {
    OneCycle {
        lr_max: stage.lr,
        pct_start: 0.25,
        div: 25.0,
        final_div: 1e5,
        moms,
        total_steps: stage.epochs * per_epoch,
    }
}

/// `metrics.jsonl`, rewritten whole (atomically) after each epoch.
struct EpochLog {
    path: PathBuf,
    text: String,
}

impl EpochLog {
    fn append(&mut self, line: serde_json::Value) -> Result<()> {
        self.text.push_str(&format!("{line}\n"));
        write_atomic(&self.path, self.text.as_bytes()).map_err(io_err(&self.path))
    }
}

/// Why a training pass over an epoch returned.
enum EpochEnd {
    Done,
    /// `stop_after` reached: checkpoint saved.
    Stopped,
}

/// One epoch of training from where `pos` stands (mid-epoch after a resume), checkpointing and
/// returning on Ctrl-C or `stop_after`.
fn train_epoch(
    run: &mut Run,
    t: &ClassifyTrain,
    pos: &mut ClassifierPosition,
    schedule: &OneCycle,
    opts: &ClassifyOptions,
    out: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<EpochEnd> {
    let batches = sortish_batches(
        &run.data.tr,
        t.batch_size,
        &mut epoch_rng(t.seed, pos.stage, pos.epoch),
    );
    // One k-mer frame per sequence and epoch, drawn like the batch order.
    let mut frame_rng = epoch_rng(t.seed ^ 0xF4A3E, pos.stage, pos.epoch);
    let n_frames = run.data.tr.frames.len() as u64;
    let frame_of: Vec<usize> = (0..run.data.tr.len())
        .map(|_| frame_rng.below(n_frames) as usize)
        .collect();
    for rows in &batches[pos.batch_in_epoch as usize..] {
        if opts.interrupted.load(Ordering::SeqCst) {
            return trainer::stop_interrupted(out, &run.vs, &run.opt, &[], pos, pos.step);
        }
        if opts.stop_after == Some(pos.step) {
            checkpoint::save(out, &run.vs, &run.opt, &[], pos)?;
            return Ok(EpochEnd::Stopped);
        }
        trainer::seed_step(t.seed, pos.step);
        let step_started = Instant::now();
        let (x, y, _) = batch(&run.data.tr, rows, |r| frame_of[r], run.device);
        let logits = run
            .clf
            .forward(&x, i64::from(PAD_ID), true, run.kind)
            .to_kind(Kind::Float);
        let loss = logits.cross_entropy_for_logits(&y);
        let (lr, mom) = schedule.at(pos.epoch * run.per_epoch + pos.batch_in_epoch);
        trainer::minimize(&mut run.opt, &loss, t.clip, lr, mom);
        pos.loss_sum += loss.double_value(&[]);
        run.timing.record(pos.step, step_started, rows.len() as u64);
        pos.step += 1;
        pos.batch_in_epoch += 1;
        bar.set_position(pos.step);
        bar.set_message(format!(
            "stage {} of {} epoch {} loss {:.4} {:.0} seq/s",
            pos.stage + 1,
            t.stages.len(),
            pos.epoch + 1,
            pos.loss_sum / pos.batch_in_epoch as f64,
            run.timing.per_second()
        ));
    }
    Ok(EpochEnd::Done)
}

/// Validation after an epoch: logs it, keeps the best weights so far in `best_path`; returns
/// whether the stage should stop early.
fn end_epoch(
    run: &Run,
    t: &ClassifyTrain,
    pos: &mut ClassifierPosition,
    log: &mut EpochLog,
    best_path: &Path,
    started: Instant,
) -> Result<bool> {
    let va_labels = run.data.va.class_ids();
    let probs = encoded_probs(&run.clf, &run.data.va, t.batch_size, run.kind, run.device);
    let r = metrics::report(&va_labels, &probs, &run.data.classes);
    let score = metric_of(&r, &t.metric);
    log.append(serde_json::json!({
        "stage": pos.stage, "epoch": pos.epoch, "step": pos.step,
        "train_loss": pos.loss_sum / run.per_epoch.max(1) as f64,
        "valid_loss": log_loss(&va_labels, &probs),
        "valid_accuracy": r.accuracy, "valid_mcc": r.summary.mcc, "valid_auroc": r.summary.auroc,
        "valid_f1": r.summary.f1, "metric": t.metric, "score": score,
        "seconds": started.elapsed().as_secs_f64(),
    }))?;
    if pos.best.is_none_or(|b| score > b) {
        pos.best = Some(score);
        pos.since_best = 0;
        checkpoint::save_weights(&run.vs, best_path)?;
    } else {
        pos.since_best += 1;
    }
    pos.epoch += 1;
    pos.batch_in_epoch = 0;
    pos.loss_sum = 0.0;
    Ok(t.patience > 0 && pos.since_best >= t.patience)
}

/// The best weights become the model; test metrics, predictions and plots are written.
fn finish(
    run: &mut Run,
    out: &Path,
    saved: &SavedClassifier,
    best_path: &Path,
    started: Instant,
) -> Result<ClassifyReport> {
    run.vs.load(best_path)?;
    std::fs::rename(best_path, out.join(crate::train::lm::MODEL_FILE)).map_err(io_err(out))?;
    let state = out.join(TRAIN_STATE_DIR);
    if state.exists() {
        std::fs::remove_dir_all(&state).map_err(io_err(&state))?;
    }
    let batch_size = saved.config.train.batch_size;
    let probs = encoded_probs(&run.clf, &run.data.te, batch_size, run.kind, run.device);
    let labels = run.data.te.class_ids();
    let r = metrics::report(&labels, &probs, &run.data.classes);
    let tsv = predictions_tsv(&run.data.te_ids, &run.data.classes, Some(&labels), &probs);
    let tsv_path = out.join("test_predictions.tsv");
    write_atomic(&tsv_path, tsv.as_bytes()).map_err(io_err(&tsv_path))?;
    write_outputs(out, saved, &r, &labels, &probs)?;
    Ok(ClassifyReport {
        dir: out.to_path_buf(),
        test: BinaryMetrics {
            accuracy: r.accuracy,
            ..r.summary.clone()
        },
        n_test: r.n,
        seconds: started.elapsed().as_secs_f64(),
        train_sequences_per_s: run.timing.per_second(),
    })
}

/// Trains a classifier into `out` (or continues the checkpoint there). `None`: stopped by
/// `stop_after`, with a checkpoint to resume.
pub fn train(
    cfg: &ClassifyConfig,
    out: &Path,
    opts: ClassifyOptions,
) -> Result<Option<ClassifyReport>> {
    let started = Instant::now();
    let t = &cfg.train;
    let (mut run, saved) = setup(cfg, out, opts.resume)?;
    let mut pos = ClassifierPosition::default();
    let mut log = EpochLog {
        path: out.join("metrics.jsonl"),
        text: String::new(),
    };
    if opts.resume {
        let ck = checkpoint::load::<ClassifierPosition>(out, &mut run.vs, &mut run.opt, 0)?;
        pos = ck.position;
        log.text = std::fs::read_to_string(&log.path).unwrap_or_default();
    }
    let best_path = out.join(".best.safetensors");
    let total: u64 = t.stages.iter().map(|s| s.epochs * run.per_epoch).sum();
    let bar = crate::progress::counting_bar("classify", "steps", total, pos.step, opts.progress);
    while pos.stage < t.stages.len() {
        let stage = &t.stages[pos.stage];
        freeze::unfreeze_top(&mut run.opt, stage.unfreeze, t.lr_div);
        let schedule = stage_schedule(stage, t.moms, run.per_epoch);
        while pos.epoch < stage.epochs {
            let end = train_epoch(&mut run, t, &mut pos, &schedule, &opts, out, &bar);
            if !matches!(end, Ok(EpochEnd::Done)) {
                bar.finish_and_clear();
            }
            if let EpochEnd::Stopped = end? {
                return Ok(None);
            }
            if end_epoch(&run, t, &mut pos, &mut log, &best_path, started)? {
                bar.suspend(|| {
                    eprintln!(
                        "classify: stage {} stopped early: {} epochs without a better validation {}",
                        pos.stage + 1,
                        pos.since_best,
                        t.metric
                    )
                });
                // The stage's remaining epochs drop out of the bar's total.
                let skipped = (stage.epochs - pos.epoch) * run.per_epoch;
                bar.set_length(bar.length().unwrap_or(0).saturating_sub(skipped));
                break;
            }
        }
        pos.stage += 1;
        pos.epoch = 0;
        pos.since_best = 0;
    }
    bar.finish_and_clear();
    finish(&mut run, out, &saved, &best_path, started).map(Some)
}
