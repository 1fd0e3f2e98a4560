//! `genolm classify train`: a ULMFiT classifier on labelled sequences, from a language model's encoder
//! (or from scratch, the "naive" baseline), with gradual unfreezing and discriminative learning rates.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{nn, Device, Kind};

pub use crate::config::classify::*;
use crate::config::Metric;
use crate::features::kmer::{
    batch, epoch_rng, load_splits, median_length, select, sortish_batches, tokenizer_for, Encoded,
};
pub use crate::features::kmer::{task_split, write_lm_sequences};
use crate::infer::predict::encoded_probs;
pub use crate::infer::table::{prediction_rows, predictions_header, predictions_tsv};
use crate::model::awd_lstm::AwdLstmConfig;
use crate::model::classifier::{Classifier, HeadConfig};
use crate::modeldir::{self, ModelKind, MODEL_FILE, TRAIN_STATE_DIR};
use crate::train::fit::{
    fit, BatchCursor, FitOptions, FitPlan, Items, Keep, Outcome, StagePlan, StepLoss, Task, Trainee,
};
use crate::train::freeze::{LayerGroups, Trainable};
use crate::train::optim::{AdamW, AdamWConfig};
use crate::train::trainer::{self, Runtime};
use crate::train::{io_err, Error, Result};
use genolm::corpus::labelled::SetSplit;
use genolm::eval::metrics::{self, BinaryMetrics, Report, Truth};
use genolm::eval::training_log::MetricsRow;
use genolm::fsutil::write_atomic;
use genolm::rng::SplitMix64;
use genolm::tokenize::{hf, KmerTokenizer, PAD_ID};
use outputs::write_outputs;

pub(crate) mod outputs;

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

pub(crate) fn metric_of(r: &Report, metric: Metric, loss: f64) -> f64 {
    let s = &r.summary;
    match metric {
        Metric::ValidLoss => -loss,
        Metric::Accuracy => r.accuracy,
        Metric::F1 => s.f1,
        Metric::Auroc => s.auroc,
        Metric::Auprc => s.auprc,
        Metric::Mcc => s.mcc,
    }
}

/// What a training run reads: data and model (its variables and optimizer go to the fit loop).
struct Run {
    data: TaskData,
    clf: Classifier,
    /// Batches per epoch (the same every epoch).
    per_epoch: u64,
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
/// Every check of a classifier config that needs no data: what `classify train` refuses first.
pub fn validate_config(cfg: &ClassifyConfig) -> Result<()> {
    check_model_section(cfg)?;
    check_ranges(cfg)
}

fn check_model_section(cfg: &ClassifyConfig) -> Result<()> {
    let d = AwdLstmConfig::default();
    let m = &cfg.model;
    if cfg.lm.is_some() && *m != d {
        return Err(Error::Setting {
            key: "[model]".into(),
            problem: "taken from the language model given by `lm`; remove the [model] section"
                .into(),
        });
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
        return Err(Error::Setting {
            key: "model.drop_mult, model.*_p".into(),
            problem: "do not apply to classifiers: they use fastai's classifier dropouts scaled \
                      by the top-level `drop_mult` (default 0.5); set that instead"
                .into(),
        });
    }
    Ok(())
}

/// Values a classifier run cannot use, refused before any data is read.
fn check_ranges(cfg: &ClassifyConfig) -> Result<()> {
    use crate::train::require;
    let (t, h) = (&cfg.train, &cfg.head);
    require(
        t.batch_size >= 2,
        "train.batch_size",
        t.batch_size,
        "must be at least 2 (the head's BatchNorm needs 2 sequences)",
    )?;
    require(
        !t.stages.is_empty(),
        "train.stages",
        "[]",
        "nothing to train",
    )?;
    check_head(h)
}

/// A classifier head that can be built: what a config is checked for, and a saved model dir too.
pub(crate) fn check_head(h: &crate::model::classifier::HeadConfig) -> Result<()> {
    use crate::train::require;
    require(h.bptt >= 1, "head.bptt", h.bptt, "must be at least 1 token")?;
    require(
        h.max_len >= 1,
        "head.max_len",
        h.max_len,
        "must be at least 1 token",
    )?;
    require(
        h.lin_size >= 1,
        "head.lin_size",
        h.lin_size,
        "must be at least 1",
    )?;
    if let Some((a, b)) = h.ps {
        require(
            (0.0..1.0).contains(&a) && (0.0..1.0).contains(&b),
            "head.ps",
            format!("[{a}, {b}]"),
            "dropouts must be in [0, 1)",
        )?;
    }
    Ok(())
}

/// The task's labelled sequences, split and encoded with the model's tokenizer.
struct TaskData {
    tr: Encoded,
    va: Encoded,
    te: Encoded,
    /// Ids of the test sequences, in `te`'s row order.
    te_ids: Vec<String>,
    /// Classes, or the labels of multi-label data.
    classes: Vec<String>,
    /// One sigmoid per label (binary cross-entropy) instead of a softmax over classes.
    multi_label: bool,
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
        return Err(Error::SplitsTooSmall {
            train: tr.len(),
            valid: va.len(),
            test: te.len(),
        });
    }
    let te_ids = set
        .rows_in(SetSplit::Test)
        .into_iter()
        .map(|i| set.ids[i].clone())
        .collect();
    let train_len = median_length(&set, SetSplit::Train);
    Ok(TaskData {
        train_len,
        tr,
        va,
        te,
        te_ids,
        multi_label: set.is_multi_label(),
        classes: set.classes,
    })
}

fn setup(
    cfg: &ClassifyConfig,
    out: &Path,
    resume: bool,
    writes: bool,
) -> Result<(Run, nn::VarStore, AdamW, SavedClassifier)> {
    let t = &cfg.train;
    let Runtime {
        device,
        precision,
        kind,
    } = Runtime::new(&t.device, t.precision, t.threads, t.seed)?;
    let tok = tokenizer_for(cfg)?;
    validate_config(cfg)?;
    let shape = match &cfg.lm {
        Some(lm) => crate::train::lm::load_model_config(lm)?.pretrain.model,
        None => cfg.model.clone(),
    };
    let (enc_cfg, head) = with_classifier_dropouts(shape, &cfg.head, cfg.drop_mult);
    enc_cfg.validate()?;
    let data = task_data(cfg, &tok, enc_cfg.backwards)?;
    let vs = nn::VarStore::new(device);
    let n_classes = data.classes.len() as i64;
    let clf = Classifier::new(
        &vs.root(),
        tok.vocab_size() as i64,
        &enc_cfg,
        &head,
        n_classes,
    );
    if let Some(lm) = &cfg.lm {
        // The LM's encoder; the head starts fresh (the LM's decoder is not loaded).
        modeldir::load_prefixes(&vs, &lm.join(MODEL_FILE), &["encoder."])?;
    }
    let mut saved = SavedClassifier {
        classes: data.classes.clone(),
        multi_label: data.multi_label,
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
    if !resume && writes {
        trainer::refuse_existing(out, "classifier")?;
        std::fs::create_dir_all(out).map_err(io_err(out))?;
        hf::save(&tok, out)?;
        saved.inputs_sha256 = modeldir::input_checksums(&cfg.data, cfg.lm.as_deref())?;
        modeldir::write_spec(out, ModelKind::UlmfitClassifier, &saved)?;
    }
    let opt = trainer::optimizer(
        &LayerGroups::new(clf.layer_groups()),
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
        clf,
        per_epoch,
        kind,
        device,
    };
    Ok((run, vs, opt, saved))
}

/// Sorted-ish batches of the training split, one k-mer frame per sequence and epoch; validation
/// by the configured metric, which picks the kept weights.
struct ClassifierTask<'a> {
    run: &'a Run,
    batch_size: usize,
    seed: u64,
    metric: Metric,
    cursor: BatchCursor,
    frame_of: Vec<usize>,
}

impl Task for ClassifierTask<'_> {
    type Batch = Vec<usize>;

    fn start_epoch(&mut self, stage: usize, epoch: u64, skip: u64) -> Result<()> {
        let tr = &self.run.data.tr;
        let batches = sortish_batches(tr, self.batch_size, &mut epoch_rng(self.seed, stage, epoch));
        // One k-mer frame per sequence and epoch, drawn like the batch order.
        let mut frame_rng = epoch_rng(self.seed ^ 0xF4A3E, stage, epoch);
        let n_frames = tr.frames.len() as u64;
        self.frame_of = (0..tr.len())
            .map(|_| frame_rng.below(n_frames) as usize)
            .collect();
        self.cursor.start(batches, skip);
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<Vec<usize>>> {
        Ok(self.cursor.next_batch())
    }

    fn train_loss(&mut self, rows: &Vec<usize>) -> StepLoss {
        let run = self.run;
        let (x, y, _) = batch(&run.data.tr, rows, |r| self.frame_of[r], run.device);
        let logits = run
            .clf
            .forward(&x, i64::from(PAD_ID), true, run.kind)
            .to_kind(Kind::Float);
        let loss = crate::train::head_loss(&logits, &y, run.data.multi_label);
        StepLoss {
            minimise: loss.shallow_clone(),
            report: loss,
            items: rows.len() as u64,
        }
    }

    fn validate(&mut self, row: &mut MetricsRow) -> Result<Option<f64>> {
        let run = self.run;
        let truth = run.data.va.truth.clone();
        let probs = encoded_probs(
            &run.clf,
            &run.data.va,
            self.batch_size,
            run.data.multi_label,
            (run.kind, run.device),
        );
        let r = truth.report(&probs, &run.data.classes);
        Ok(Some(validation_row(row, &r, &truth, &probs, self.metric)))
    }
}

/// Fills a metrics row with the validation metrics of any classifier and returns the score of
/// `metric` (higher is better: `valid_loss` counts negated).
pub(crate) fn validation_row(
    row: &mut MetricsRow,
    r: &Report,
    truth: &Truth,
    probs: &[Vec<f64>],
    metric: Metric,
) -> f64 {
    let loss = truth.log_loss(probs);
    let score = metric_of(r, metric, loss);
    row.valid_loss = Some(loss);
    row.valid_accuracy = Some(r.accuracy);
    row.valid_mcc = Some(r.summary.mcc);
    row.valid_auroc = Some(r.summary.auroc);
    row.valid_f1 = Some(r.summary.f1);
    row.metric = Some(metric.name().to_string());
    row.score = Some(score);
    score
}

/// Configured stages as the fit loop runs them: which groups train (`unfreeze` or
/// `freeze_through`, checked against the model's groups), for how many epochs of `per_epoch` steps.
pub(crate) fn stage_plans(
    stages: &[Stage],
    groups: &LayerGroups,
    per_epoch: u64,
) -> Result<Vec<StagePlan>> {
    stages
        .iter()
        .map(|s| {
            let trainable = match &s.freeze_through {
                Some(name) => {
                    Trainable::After(groups.find(name).map_err(|problem| Error::Setting {
                        key: "freeze_through".into(),
                        problem,
                    })?)
                }
                None => Trainable::Top(s.unfreeze),
            };
            Ok(StagePlan {
                trainable,
                epochs: s.epochs,
                lr: s.lr,
                schedule_steps: s.epochs * per_epoch,
            })
        })
        .collect()
}

/// The stages of `t` as the fit loop runs them.
fn fit_plan(
    t: &ClassifyTrain,
    groups: &LayerGroups,
    per_epoch: u64,
    best: PathBuf,
) -> Result<FitPlan> {
    Ok(FitPlan {
        stages: stage_plans(&t.stages, groups, per_epoch)?,
        pct_start: 0.25,
        div: 25.0,
        final_div: 1e5,
        moms: t.moms,
        lr_div: t.lr_div,
        seed: t.seed,
        clip: t.clip,
        max_steps: 0,
        log_every: 0,
        checkpoint_every: 0,
        patience: t.patience,
        keep: Keep::Best(best),
        items: Items::Sequences,
        label: "classify",
    })
}

/// The best weights become the model: what every classifier family does when its run completes.
/// A run killed after the rename (its checkpoint still there) resumes to here and finds them
/// already in place.
pub(crate) fn keep_best(vs: &mut nn::VarStore, out: &Path, best_path: &Path) -> Result<()> {
    let model = out.join(MODEL_FILE);
    if best_path.exists() {
        crate::train::load_weights(vs, best_path)?;
        std::fs::rename(best_path, &model).map_err(io_err(out))?;
    } else {
        crate::train::load_weights(vs, &model)?;
    }
    Ok(())
}

/// Test predictions, metrics and plots of a finished classifier (any family), and its report.
/// The checkpoint goes last: a run killed before then can still be resumed to this point.
pub(crate) fn write_test_results(
    out: &Path,
    ids: &[String],
    classes: &[String],
    truth: &Truth,
    probs: &[Vec<f64>],
    started: Instant,
    train_sequences_per_s: f64,
) -> Result<ClassifyReport> {
    let r = truth.report(probs, classes);
    let tsv = predictions_tsv(ids, classes, Some(truth), probs, truth.is_multi_label());
    let tsv_path = out.join("test_predictions.tsv");
    write_atomic(&tsv_path, tsv.as_bytes()).map_err(io_err(&tsv_path))?;
    write_outputs(out, classes, &r, truth, probs)?;
    let state = out.join(TRAIN_STATE_DIR);
    genolm::fsutil::remove_dir_atomic(&state).map_err(io_err(&state))?;
    Ok(ClassifyReport {
        dir: out.to_path_buf(),
        test: BinaryMetrics {
            accuracy: r.accuracy,
            ..r.summary.clone()
        },
        n_test: r.n,
        seconds: started.elapsed().as_secs_f64(),
        train_sequences_per_s,
    })
}

/// The best weights become the model; test metrics, predictions and plots are written.
fn finish(
    run: &Run,
    vs: &mut nn::VarStore,
    out: &Path,
    saved: &SavedClassifier,
    best_path: &Path,
    started: Instant,
    train_sequences_per_s: f64,
) -> Result<ClassifyReport> {
    keep_best(vs, out, best_path)?;
    let batch_size = saved.config.train.batch_size;
    let probs = encoded_probs(
        &run.clf,
        &run.data.te,
        batch_size,
        run.data.multi_label,
        (run.kind, run.device),
    );
    let truth = run.data.te.truth.clone();
    write_test_results(
        out,
        &run.data.te_ids,
        &run.data.classes,
        &truth,
        &probs,
        started,
        train_sequences_per_s,
    )
}

/// Trains a classifier into `out` (or continues the checkpoint there). `None`: stopped by
/// `stop_after`, with a checkpoint to resume.
pub fn train(
    cfg: &ClassifyConfig,
    out: &Path,
    opts: &FitOptions,
) -> Result<Option<ClassifyReport>> {
    let started = Instant::now();
    let t = &cfg.train;
    // A data-parallel job: each rank trains on its share of every batch; rank 0 writes.
    let ((rank, _), _lock) = trainer::join_job(&t.device, out)?;
    let (run, mut vs, mut opt, saved) = setup(cfg, out, opts.resume, rank == 0)?;
    let best_path = out.join(".best.safetensors");
    let groups = LayerGroups::new(run.clf.layer_groups());
    let plan = fit_plan(t, &groups, run.per_epoch, best_path.clone())?;
    let mut task = ClassifierTask {
        run: &run,
        batch_size: t.batch_size,
        seed: t.seed,
        metric: t.metric,
        cursor: BatchCursor::default(),
        frame_of: Vec::new(),
    };
    let trainee = Trainee {
        vs: &mut vs,
        opt: &mut opt,
    };
    let end = fit(&mut task, trainee, &plan, out, opts)?;
    // The other ranks' part ends with training; rank 0 keeps the best weights and tests them.
    if end.outcome == Outcome::Stopped || rank != 0 {
        return Ok(None);
    }
    let rate = end.timing.per_second();
    finish(&run, &mut vs, out, &saved, &best_path, started, rate).map(Some)
}
