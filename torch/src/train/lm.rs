//! `genolm pretrain` / `finetune-lm` / `lm eval`: an AWD-LSTM language model over a token corpus,
//! trained through the one fit loop ([`super::fit`]) as the LM task.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::checkpoint;
use super::fit::{self, FitOptions, FitPlan, Items, Keep, Outcome, StagePlan, StepLoss, Task};
use super::freeze::{LayerGroups, Trainable};
use super::optim::AdamWConfig;
use super::trainer::{self, Runtime};
use super::{Error, Precision, Result};
pub use crate::config::lm::{LmSpec, OutputSection, PretrainConfig, TrainSection};
use crate::model::awd_lstm::{detach, Hidden, LanguageModel};
use crate::modeldir::{self, ModelKind, MODEL_FILE};
use genolm::corpus::lm::{LmBatch, LmStreams};
use genolm::corpus::{Corpus, Split};
use genolm::eval::training_log::MetricsRow;
use genolm::tokenize::hf;

#[derive(Debug, Clone, serde::Serialize)]
pub struct PretrainReport {
    pub dir: PathBuf,
    pub steps: u64,
    pub tokens_per_s: f64,
    pub train_loss: f64,
    pub valid_loss: Option<f64>,
    pub valid_accuracy: Option<f64>,
    pub valid_perplexity: Option<f64>,
    pub baseline_loss: f64,
    pub seconds: f64,
    /// False when the run stopped early (--stop-after) and can be resumed.
    pub completed: bool,
    /// Peak resident memory of the process (VmHWM), MB.
    pub peak_rss_mb: f64,
    /// Data-parallel jobs: ranks, and rank 0's gradient averaging per step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_parallel: Option<crate::dist::AllreduceStats>,
}

/// The process's peak resident set (Linux VmHWM), in MB; 0 where /proc is unavailable.
pub fn peak_rss_mb() -> f64 {
    genolm::mem::peak_rss_bytes() as f64 / (1024.0 * 1024.0)
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EvalResult {
    pub loss: f64,
    pub accuracy: f64,
    pub perplexity: f64,
    pub tokens: u64,
}

/// Every check of a pretraining config that needs no data: what `pretrain` refuses first.
pub fn validate(cfg: &PretrainConfig) -> Result<()> {
    use crate::train::require;
    cfg.model.validate()?;
    let t = &cfg.train;
    require(
        t.bptt >= 1,
        "train.bptt",
        t.bptt,
        "the BPTT window must be at least 1 token",
    )?;
    require(
        t.batch_size >= 1,
        "train.batch_size",
        t.batch_size,
        "need at least one stream",
    )?;
    require(
        t.epochs > 0 || t.max_steps > 0,
        "train.epochs",
        "0 and train.max_steps = 0",
        "nothing to train",
    )?;
    require(
        (0.0..1.0).contains(&t.pct_start),
        "train.pct_start",
        t.pct_start,
        "must be in [0, 1)",
    )
}

fn batch_tensors(b: &LmBatch, device: Device) -> (Tensor, Tensor) {
    let shape = [b.batch_size as i64, b.seq_len as i64];
    (
        Tensor::from_slice(&b.x).view(shape).to_device(device),
        Tensor::from_slice(&b.y).view(shape).to_device(device),
    )
}

/// Loss, accuracy and perplexity of `model` over `streams` (no dropout, hidden carried).
pub fn evaluate(
    model: &LanguageModel,
    streams: &mut LmStreams,
    kind: Kind,
    max_batches: u64,
    bar: &indicatif::ProgressBar,
) -> Result<EvalResult> {
    let _guard = tch::no_grad_guard();
    let model = &model.cast_for_inference(kind);
    streams.start_epoch(0);
    let device = model.encoder.embedding.device();
    let mut hidden = model.encoder.zero_hidden(streams.batch_size as i64, kind);
    let (mut loss_sum, mut correct, mut n) = (0.0f64, 0i64, 0u64);
    let mut batches = 0;
    let started = Instant::now();
    while let Some(b) = streams.next_batch()? {
        let (x, y) = batch_tensors(&b, device);
        let (loss, h) = model.loss(&x, &y, &hidden, false, kind);
        hidden = h;
        let count = (b.batch_size * b.seq_len) as u64;
        loss_sum += loss.ce.double_value(&[]) * count as f64;
        correct += loss
            .logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[]);
        n += count;
        batches += 1;
        bar.inc(1);
        let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("loss {:.4} {rate:.0} tok/s", loss_sum / n as f64));
        if max_batches > 0 && batches >= max_batches {
            break;
        }
    }
    bar.finish_and_clear();
    let loss = loss_sum / n.max(1) as f64;
    Ok(EvalResult {
        loss,
        accuracy: correct as f64 / n.max(1) as f64,
        perplexity: loss.exp(),
        tokens: n,
    })
}

/// Writes the parts of a model directory that do not change during training.
fn write_model_dir_header(
    out: &Path,
    corpus: &Corpus,
    cfg: &PretrainConfig,
    vocab: i64,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(super::io_err(out))?;
    let tok = hf::load(&corpus.dir)?;
    hf::save(&tok, out)?;
    let m = &corpus.manifest;
    let spec = LmSpec {
        genolm_version: env!("CARGO_PKG_VERSION").into(),
        vocab_size: vocab,
        k: m.tokenizer.k,
        stride: m.tokenizer.stride,
        tokenizer_sha256: m.tokenizer.sha256.clone(),
        corpus_sha256: m.sources.iter().map(|s| s.sha256.clone()).collect(),
        pretrain: cfg.clone(),
    };
    modeldir::write_spec(out, ModelKind::LanguageModel, &spec)
}

/// The config of a language-model directory (any other kind of model is refused).
pub fn load_model_config(dir: &Path) -> Result<LmSpec> {
    Ok(modeldir::read_spec(dir, &[ModelKind::LanguageModel])?.1)
}

/// Loads a pretrained LM's weights for fine-tuning, after checking that it reads the same tokens.
fn init_from_pretrained(
    vs: &mut nn::VarStore,
    init: &Path,
    corpus: &Corpus,
    cfg: &PretrainConfig,
) -> Result<()> {
    same_tokenizer(&corpus.dir, init)?;
    let saved = load_model_config(init)?;
    if saved.pretrain.model != cfg.model {
        return Err(Error::Mismatch {
            subject: init.display().to_string(),
            found: format!("the pretrained model is {:?}", saved.pretrain.model),
            expected: format!("this config's model is {:?}", cfg.model),
        });
    }
    crate::train::load_weights(vs, &init.join(MODEL_FILE))?;
    Ok(())
}

/// Streams over the validation split (none without one), at fastai's validation batch size or
/// fewer streams when the split is too small for it.
fn validation_streams(
    corpus: &Corpus,
    t: &TrainSection,
    backwards: bool,
) -> Result<Option<LmStreams>> {
    let valid_tokens: u64 = corpus
        .documents
        .iter()
        .filter(|d| d.split == Split::Valid)
        .map(|d| d.n_tokens as u64)
        .sum();
    if valid_tokens == 0 {
        eprintln!(
            "genolm: warning: the corpus has no validation documents, so this run reports no valid \
             loss; rebuild it with `corpus build --doc-len 1000` \
             (a one-record genome is otherwise a single document, which no split can divide)"
        );
        return Ok(None);
    }
    let valid_bs = t
        .batch_size
        .min((valid_tokens / (4 * t.bptt as u64).max(1)).max(1) as usize);
    Ok(Some(
        LmStreams::new(corpus, Some(Split::Valid), valid_bs, t.bptt, t.seed)?.backwards(backwards),
    ))
}

/// Steps of the run: `epochs` worth, or `max_steps` when it comes first (either 0: the other).
fn step_budget(t: &TrainSection, per_epoch: u64) -> u64 {
    match t.max_steps {
        0 => t.epochs * per_epoch,
        m if t.epochs == 0 => m,
        m => m.min(t.epochs * per_epoch),
    }
}

/// A corpus read by a model must use the model's tokenizer: other ids would mean other k-mers.
fn same_tokenizer(corpus: &Path, model: &Path) -> Result<()> {
    let (theirs, ours) = (hf::load(corpus)?, hf::load(model)?);
    if theirs.tokens() == ours.tokens() && theirs.spec() == ours.spec() {
        return Ok(());
    }
    let describe = |t: &genolm::tokenize::KmerTokenizer| {
        format!("k={} stride={} vocab={}", t.k(), t.stride(), t.vocab_size())
    };
    Err(Error::Mismatch {
        subject: format!("corpus {}", corpus.display()),
        found: format!("built with a different tokenizer ({})", describe(&theirs)),
        expected: format!(
            "the model {0} has {1}: rebuild the corpus with --tokenizer {0}",
            model.display(),
            describe(&ours)
        ),
    })
}

/// A checkpoint in `out` continues only a run of this config's model.
fn check_resumable(out: &Path, cfg: &PretrainConfig, vocab: i64) -> Result<()> {
    let saved = load_model_config(out)?;
    if saved.pretrain.model != cfg.model || saved.vocab_size != vocab {
        return Err(Error::Mismatch {
            subject: out.display().to_string(),
            found: format!(
                "the checkpoint's model is vocab {}, {:?}",
                saved.vocab_size, saved.pretrain.model
            ),
            expected: format!("this config's is vocab {vocab}, {:?}", cfg.model),
        });
    }
    Ok(())
}

/// Next-token prediction over the corpus streams, the LSTM state carried from batch to batch
/// (the task's extra state in a checkpoint).
struct LmTask {
    model: LanguageModel,
    train: LmStreams,
    valid: Option<LmStreams>,
    hidden: Hidden,
    batch_size: i64,
    valid_max_batches: u64,
    /// The "informed random" loss ln(4^stride).
    baseline: f64,
    device: Device,
    kind: Kind,
}

impl Task for LmTask {
    type Batch = LmBatch;

    fn start_epoch(&mut self, _stage: usize, epoch: u64, skip: u64) -> Result<()> {
        self.train.start_epoch(epoch);
        if skip > 0 {
            self.train.skip(skip);
        } else {
            self.hidden = self.model.encoder.zero_hidden(self.batch_size, self.kind);
        }
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<LmBatch>> {
        Ok(self.train.next_batch()?)
    }

    fn train_loss(&mut self, batch: &LmBatch) -> StepLoss {
        let (x, y) = batch_tensors(batch, self.device);
        let (loss, hidden) = self.model.loss(&x, &y, &self.hidden, true, self.kind);
        self.hidden = detach(&hidden);
        StepLoss {
            minimise: loss.total,
            report: loss.ce,
            items: (batch.batch_size * batch.seq_len) as u64,
        }
    }

    fn validate(&mut self, row: &mut MetricsRow) -> Result<Option<f64>> {
        let Some(valid) = self.valid.as_mut() else {
            return Ok(None);
        };
        let bar = indicatif::ProgressBar::hidden();
        let e = evaluate(&self.model, valid, self.kind, self.valid_max_batches, &bar)?;
        row.valid_loss = Some(e.loss);
        row.valid_accuracy = Some(e.accuracy);
        row.valid_perplexity = Some(e.perplexity);
        row.baseline_loss = Some(self.baseline);
        Ok(Some(-e.loss))
    }

    fn extra_state(&self) -> Result<Vec<(String, Tensor)>> {
        // The whole batch's state (a data-parallel job's ranks each hold their streams' rows), so
        // a run resumes with the same or another number of ranks.
        let whole = |t: &Tensor| -> Result<Tensor> {
            let t = t.to_kind(Kind::Float);
            match crate::dist::current() {
                Some(d) => Ok(d.gather_rows(&t, 1)?),
                None => Ok(t),
            }
        };
        let mut named = Vec::new();
        for (l, (h, c)) in self.hidden.iter().enumerate() {
            named.push((format!("hidden.{l}.h"), whole(h)?));
            named.push((format!("hidden.{l}.c"), whole(c)?));
        }
        Ok(named)
    }

    fn restore_extra_state(&mut self, saved: &HashMap<String, Tensor>) -> Result<()> {
        let get = |name: String| {
            saved
                .get(&name)
                .map(|t| match crate::dist::current() {
                    Some(d) => d.own_rows(t, 1),
                    None => t.shallow_clone(),
                })
                .map(|t| t.to_device(self.device).to_kind(self.kind))
                .ok_or_else(|| Error::Damaged {
                    path: std::path::PathBuf::from(crate::modeldir::TRAIN_STATE_DIR),
                    problem: format!("the checkpoint lacks the LSTM state {name}"),
                })
        };
        self.hidden = (0..self.hidden.len())
            .map(|l| Ok((get(format!("hidden.{l}.h"))?, get(format!("hidden.{l}.c"))?)))
            .collect::<Result<_>>()?;
        Ok(())
    }
}

/// Pretrains (or resumes, or fine-tunes with `init_from`) a language model into `out`.
pub fn pretrain(cfg: &PretrainConfig, out: &Path, opts: &FitOptions) -> Result<PretrainReport> {
    let started = Instant::now();
    validate(cfg)?;
    let t = &cfg.train;
    // A data-parallel job: each rank reads its share of the batch's streams; rank 0 writes.
    let ((rank, world), _lock) = trainer::join_job(&t.device, out)?;
    let Runtime {
        device,
        precision,
        kind,
    } = Runtime::new(&t.device, t.precision, t.threads, t.seed)?;
    if !t.batch_size.is_multiple_of(world) {
        return Err(Error::Setting {
            key: "train.batch_size".into(),
            problem: format!(
                "{} streams cannot be shared equally by {world} data-parallel ranks",
                t.batch_size
            ),
        });
    }
    let corpus = Corpus::open(&cfg.corpus)?;
    let vocab = corpus.manifest.tokenizer.vocab_size as i64;
    let mut vs = nn::VarStore::new(device);
    let model = LanguageModel::new(&vs.root(), vocab, &cfg.model);
    if let Some(init) = &cfg.init_from {
        init_from_pretrained(&mut vs, init, &corpus, cfg)?;
    }
    let mut opt = trainer::optimizer(
        &LayerGroups::new(model.layer_groups()),
        &vs,
        AdamWConfig {
            beta2: t.beta2,
            eps: t.eps,
            weight_decay: t.weight_decay,
        },
        t.loss_scaling.scaler(precision),
    )?;
    let backwards = cfg.model.backwards;
    let train = LmStreams::new(&corpus, Some(Split::Train), t.batch_size, t.bptt, t.seed)?
        .backwards(backwards)
        .shard(rank, world);
    let valid = validation_streams(&corpus, t, backwards)?;
    let total_steps = step_budget(t, train.approx_batches_per_epoch());
    if opts.resume {
        check_resumable(out, cfg, vocab)?;
    } else if rank == 0 {
        trainer::refuse_existing(out, "model")?;
        // The model dir records the precision used, "auto" decided.
        let mut recorded = cfg.clone();
        recorded.train.precision = precision;
        write_model_dir_header(out, &corpus, &recorded, vocab)?;
    }
    let local_batch = (t.batch_size / world) as i64;
    let mut task = LmTask {
        hidden: model.encoder.zero_hidden(local_batch, kind),
        model,
        train,
        valid,
        batch_size: local_batch,
        valid_max_batches: t.valid_max_batches,
        baseline: corpus.manifest.tokenizer.stride as f64 * 4f64.ln(),
        device,
        kind,
    };
    let plan = FitPlan {
        stages: vec![StagePlan {
            trainable: Trainable::Top(0),
            epochs: if t.epochs == 0 { u64::MAX } else { t.epochs },
            lr: t.lr,
            schedule_steps: total_steps,
        }],
        pct_start: t.pct_start,
        div: t.div,
        final_div: t.final_div,
        moms: t.moms,
        lr_div: 1.0,
        seed: t.seed,
        clip: t.clip,
        max_steps: t.max_steps,
        log_every: t.log_every.max(1),
        checkpoint_every: t.checkpoint_every,
        patience: 0,
        keep: Keep::Last,
        items: Items::Tokens,
        label: "pretrain",
    };
    let trainee = fit::Trainee {
        vs: &mut vs,
        opt: &mut opt,
    };
    let mut end = fit::fit(&mut task, trainee, &plan, out, opts)?;
    if rank == 0 {
        checkpoint::save_weights(&vs, &out.join(MODEL_FILE))?;
    }
    let completed = end.outcome == Outcome::Completed;
    // A plot that cannot be drawn (no font installed) is worth a warning, not a lost run.
    if completed && rank == 0 {
        if let Err(e) = genolm::plot::training_curves(out, Some(task.baseline)) {
            eprintln!("genolm: warning: training curves not drawn: {e}");
        }
    }
    // A run stopped early reports no validation: it did not end an epoch.
    let valid = end.last_validation.filter(|_| completed);
    Ok(PretrainReport {
        dir: out.to_path_buf(),
        steps: end.position.step,
        tokens_per_s: end.timing.per_second(),
        train_loss: end.position.close_window().unwrap_or(f64::NAN),
        valid_loss: valid.as_ref().and_then(|r| r.valid_loss),
        valid_accuracy: valid.as_ref().and_then(|r| r.valid_accuracy),
        valid_perplexity: valid.as_ref().and_then(|r| r.valid_perplexity),
        baseline_loss: task.baseline,
        seconds: started.elapsed().as_secs_f64(),
        completed,
        peak_rss_mb: peak_rss_mb(),
        data_parallel: crate::dist::current().map(|d| d.stats()),
    })
}

/// Loads a language model directory for evaluation (weights + config).
pub fn load_model(dir: &Path, device: Device) -> Result<(nn::VarStore, LanguageModel, LmSpec)> {
    let cfg = load_model_config(dir)?;
    modeldir::check_buildable(dir, || {
        cfg.pretrain.model.validate()?;
        crate::train::require(
            cfg.vocab_size >= 1,
            "vocab_size",
            cfg.vocab_size,
            "at least 1",
        )
    })?;
    let mut vs = nn::VarStore::new(device);
    let model = LanguageModel::new(&vs.root(), cfg.vocab_size, &cfg.pretrain.model);
    crate::train::load_weights(&mut vs, &dir.join(MODEL_FILE))?;
    Ok((vs, model, cfg))
}

/// `genolm lm eval`: a model on any corpus built with the same tokenizer.
/// How `lm eval` reads the corpus and computes.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub split: Option<Split>,
    pub device: String,
    pub batch_size: usize,
    pub bptt: usize,
    pub precision: Precision,
    /// Stop after this many batches (0 = the whole split).
    pub max_batches: u64,
    pub progress: bool,
}

pub fn eval_command(model_dir: &Path, corpus_dir: &Path, o: &EvalOptions) -> Result<EvalResult> {
    let device = crate::device::resolve(o.device.parse()?)?;
    let kind = o.precision.kind(device)?;
    let (_vs, model, cfg) = load_model(model_dir, device)?;
    let corpus = Corpus::open(corpus_dir)?;
    if corpus.manifest.tokenizer.sha256 != cfg.tokenizer_sha256 {
        same_tokenizer(&corpus.dir, model_dir)?;
    }
    let mut streams = LmStreams::new(&corpus, o.split, o.batch_size, o.bptt, 0)?
        .backwards(cfg.pretrain.model.backwards);
    let mut total = streams.approx_batches_per_epoch();
    if o.max_batches > 0 {
        total = total.min(o.max_batches);
    }
    let bar = crate::progress::counting_bar("lm eval", "batches", total, 0, o.progress);
    evaluate(&model, &mut streams, kind, o.max_batches, &bar)
}
