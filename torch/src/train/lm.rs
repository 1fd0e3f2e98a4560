//! `genolm pretrain` / `genolm lm eval`: an AWD-LSTM language model over a token corpus.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::checkpoint::{self, Position};
use super::freeze::LayerGroups;
use super::optim::{AdamW, AdamWConfig};
use super::schedule::OneCycle;
use super::trainer::{self, Runtime, StepTiming};
use super::{io_err, Error, Precision, Result};
use crate::model::awd_lstm::{detach, AwdLstmConfig, Hidden, LanguageModel};
use genolm::corpus::lm::{LmBatch, LmStreams};
use genolm::corpus::{Corpus, Split};
use genolm::fsutil::write_atomic;
use genolm::tokenize::hf;

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    #[serde(default = "super::defaults::batch_size")]
    pub batch_size: usize,
    #[serde(default = "d_bptt")]
    pub bptt: usize,
    #[serde(default = "d_epochs")]
    pub epochs: u64,
    /// Stop after this many optimizer steps (0 = run all epochs).
    #[serde(default)]
    pub max_steps: u64,
    /// Peak learning rate of the one-cycle schedule.
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "super::defaults::weight_decay")]
    pub weight_decay: f64,
    /// Adam beta1 at the start/end and at the peak of the cycle.
    #[serde(default = "d_moms")]
    pub moms: (f64, f64),
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
    #[serde(default = "d_pct_start")]
    pub pct_start: f64,
    #[serde(default = "d_div")]
    pub div: f64,
    #[serde(default = "d_final_div")]
    pub final_div: f64,
    /// Gradient-norm clipping (0 = off).
    #[serde(default = "super::defaults::clip")]
    pub clip: f64,
    #[serde(default)]
    pub precision: Precision,
    /// Loss scaling for fp16 (see [`LossScaling`]).
    #[serde(default)]
    pub loss_scaling: super::LossScaling,
    #[serde(default = "super::defaults::seed")]
    pub seed: u64,
    #[serde(default = "super::defaults::device")]
    pub device: String,
    /// libtorch intra-op threads (0 = libtorch's default, one per core).
    #[serde(default)]
    pub threads: i32,
    #[serde(default = "d_log_every")]
    pub log_every: u64,
    #[serde(default = "d_ckpt_every")]
    pub checkpoint_every: u64,
    /// Validation batches per evaluation (0 = the whole validation split).
    #[serde(default)]
    pub valid_max_batches: u64,
}

fn d_bptt() -> usize {
    70
}
fn d_epochs() -> u64 {
    1
}
fn d_lr() -> f64 {
    1e-2
}
fn d_moms() -> (f64, f64) {
    (0.95, 0.85)
}
fn d_beta2() -> f64 {
    0.99
}
fn d_eps() -> f64 {
    1e-5
}
fn d_pct_start() -> f64 {
    0.25
}
fn d_div() -> f64 {
    25.0
}
fn d_final_div() -> f64 {
    1e5
}
fn d_log_every() -> u64 {
    50
}
fn d_ckpt_every() -> u64 {
    500
}

impl Default for TrainSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// `configs/lm-*.toml`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// The token corpus directory (from `genolm corpus build`).
    pub corpus: PathBuf,
    #[serde(default)]
    pub model: AwdLstmConfig,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub output: OutputSection,
    /// Fine-tuning: a language-model directory whose weights start this run. Its tokenizer must be
    /// the corpus's (build the corpus with `--tokenizer` that directory) and its model section this one.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

/// What a model directory's config.toml holds: the config plus what rebuilds the model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelDirConfig {
    pub kind: String,
    pub genolm_version: String,
    pub vocab_size: i64,
    pub k: usize,
    pub stride: usize,
    pub tokenizer_sha256: String,
    pub corpus_sha256: Vec<String>,
    pub pretrain: PretrainConfig,
}

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

fn validate(cfg: &PretrainConfig) -> Result<()> {
    cfg.model.validate()?;
    let t = &cfg.train;
    let bad = |m: String| Err(Error::Invalid(m));
    if t.bptt == 0 {
        return bad("train.bptt = 0: the BPTT window must be at least 1 token".into());
    }
    if t.batch_size == 0 {
        return bad("train.batch_size = 0: need at least one stream".into());
    }
    if t.epochs == 0 && t.max_steps == 0 {
        return bad("train.epochs = 0 and train.max_steps = 0: nothing to train".into());
    }
    if !(0.0..1.0).contains(&t.pct_start) {
        return bad(format!(
            "train.pct_start = {} must be in [0, 1)",
            t.pct_start
        ));
    }
    Ok(())
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

struct Metrics {
    file: std::fs::File,
    path: PathBuf,
}

impl Metrics {
    fn open(path: PathBuf, append: bool) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(Self { file, path })
    }

    fn log(&mut self, value: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{value}").map_err(io_err(&self.path))
    }
}

/// Writes the parts of a model directory that do not change during training.
fn write_model_dir_header(
    out: &Path,
    corpus: &Corpus,
    cfg: &PretrainConfig,
    vocab: i64,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let tok = hf::load(&corpus.dir)?;
    hf::save(&tok, out)?;
    let m = &corpus.manifest;
    let dir_cfg = ModelDirConfig {
        kind: "awd_lstm_lm".into(),
        genolm_version: env!("CARGO_PKG_VERSION").into(),
        vocab_size: vocab,
        k: m.tokenizer.k,
        stride: m.tokenizer.stride,
        tokenizer_sha256: m.tokenizer.sha256.clone(),
        corpus_sha256: m.sources.iter().map(|s| s.sha256.clone()).collect(),
        pretrain: cfg.clone(),
    };
    let text = toml::to_string_pretty(&dir_cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    let path = out.join(CONFIG_FILE);
    write_atomic(&path, text.as_bytes()).map_err(io_err(&path))
}

pub fn load_model_config(dir: &Path) -> Result<ModelDirConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Loads a pretrained LM's weights for fine-tuning, after checking that it reads the same tokens.
fn init_from_pretrained(
    vs: &mut nn::VarStore,
    init: &Path,
    corpus: &Corpus,
    cfg: &PretrainConfig,
) -> Result<()> {
    let theirs = hf::load(init)?;
    let ours = hf::load(&corpus.dir)?;
    if theirs.tokens() != ours.tokens() || theirs.spec() != ours.spec() {
        return Err(Error::Invalid(format!(
            "{}: built with a different tokenizer than the pretrained model {} (k={} stride={} vocab={} vs k={} stride={} \
             vocab={}); rebuild the corpus with --tokenizer {}",
            corpus.dir.display(),
            init.display(),
            ours.k(),
            ours.stride(),
            ours.vocab_size(),
            theirs.k(),
            theirs.stride(),
            theirs.vocab_size(),
            init.display()
        )));
    }
    let saved = load_model_config(init)?;
    if saved.pretrain.model != cfg.model {
        return Err(Error::Invalid(format!(
            "{}: the pretrained model is {:?}, this config's model is {:?}",
            init.display(),
            saved.pretrain.model,
            cfg.model
        )));
    }
    vs.load(init.join(MODEL_FILE))?;
    Ok(())
}

pub struct PretrainOptions<'a> {
    pub resume: bool,
    pub interrupted: &'a AtomicBool,
    pub progress: bool,
    /// Stop cleanly at this step with a checkpoint, as Ctrl-C does (to split a run across jobs).
    pub stop_after: Option<u64>,
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

/// The checkpoint in `out` (weights, optimizer, position, hidden state), after checking that it
/// is of this config's model.
fn resume(
    out: &Path,
    cfg: &PretrainConfig,
    vocab: i64,
    vs: &mut nn::VarStore,
    opt: &mut AdamW,
    kind: Kind,
) -> Result<(Position, Hidden)> {
    let saved = load_model_config(out)?;
    if saved.pretrain.model != cfg.model || saved.vocab_size != vocab {
        return Err(Error::Invalid(format!(
            "{}: the checkpoint's model (vocab {}, {:?}) differs from this config's (vocab {vocab}, {:?})",
            out.display(),
            saved.vocab_size,
            saved.pretrain.model,
            cfg.model
        )));
    }
    let ck = checkpoint::load(out, vs, opt, cfg.model.n_layers as usize)?;
    let hidden = ck
        .hidden
        .into_iter()
        .map(|(h, c)| (h.to_kind(kind), c.to_kind(kind)))
        .collect();
    Ok((ck.position, hidden))
}

/// What a pretraining run holds from start to end.
struct LmRun {
    model: LanguageModel,
    vs: nn::VarStore,
    opt: AdamW,
    train: LmStreams,
    valid: Option<LmStreams>,
    schedule: OneCycle,
    total_steps: u64,
    /// The "informed random" loss ln(4^stride).
    baseline: f64,
    device: Device,
    kind: Kind,
}

/// Where a run is: what a checkpoint saves, and what the log and report have seen.
struct RunState {
    pos: Position,
    hidden: Hidden,
    timing: StepTiming,
    /// Cross-entropy sum and steps since the last log line.
    window_loss: (f64, u64),
    last_train_loss: f64,
}

impl RunState {
    /// The mean training loss since the last log line becomes the latest one.
    fn close_window(&mut self) {
        if self.window_loss.1 > 0 {
            self.last_train_loss = self.window_loss.0 / self.window_loss.1 as f64;
        }
        self.window_loss = (0.0, 0);
    }
}

/// How an epoch's loop ended.
enum EpochEnd {
    /// The training streams ran out: validate and go on to the next epoch.
    Exhausted,
    /// `max_steps` reached: validate and finish.
    MaxSteps,
    /// `--stop-after` reached: checkpoint and finish without validating.
    StopAfter,
}

/// Model, optimizer, streams and schedule of a run; resumed from `out`'s checkpoint with
/// `resume`, else `out` is started as a new model dir.
fn setup(cfg: &PretrainConfig, out: &Path, resume: bool) -> Result<(LmRun, RunState)> {
    validate(cfg)?;
    let t = &cfg.train;
    let corpus = Corpus::open(&cfg.corpus)?;
    let vocab = corpus.manifest.tokenizer.vocab_size as i64;
    let baseline = corpus.manifest.tokenizer.stride as f64 * 4f64.ln();
    let Runtime {
        device,
        precision,
        kind,
    } = Runtime::new(&t.device, t.precision, t.threads, t.seed)?;
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
        .backwards(backwards);
    let valid = validation_streams(&corpus, t, backwards)?;
    let total_steps = step_budget(t, train.approx_batches_per_epoch());
    let schedule = OneCycle {
        lr_max: t.lr,
        pct_start: t.pct_start,
        div: t.div,
        final_div: t.final_div,
        moms: t.moms,
        total_steps,
    };
    let (pos, hidden) = if resume {
        self::resume(out, cfg, vocab, &mut vs, &mut opt, kind)?
    } else {
        trainer::refuse_existing(out, "model")?;
        // The model dir records the precision used, "auto" decided.
        let mut recorded = cfg.clone();
        recorded.train.precision = precision;
        write_model_dir_header(out, &corpus, &recorded, vocab)?;
        let hidden = model.encoder.zero_hidden(t.batch_size as i64, kind);
        (Position::default(), hidden)
    };
    let run = LmRun {
        model,
        vs,
        opt,
        train,
        valid,
        schedule,
        total_steps,
        baseline,
        device,
        kind,
    };
    let state = RunState {
        pos,
        hidden,
        timing: StepTiming::default(),
        window_loss: (0.0, 0),
        last_train_loss: f64::NAN,
    };
    Ok((run, state))
}

impl LmRun {
    /// One optimizer step on `batch`, the hidden state carried (detached) to the next; returns
    /// the batch's cross-entropy and the step's learning rate and momentum.
    fn step(&mut self, t: &TrainSection, st: &mut RunState, batch: &LmBatch) -> (f64, f64, f64) {
        let started = Instant::now();
        trainer::seed_step(t.seed, st.pos.step);
        let (lr, mom) = self.schedule.at(st.pos.step);
        let (x, y) = batch_tensors(batch, self.device);
        let (loss, new_hidden) = self.model.loss(&x, &y, &st.hidden, true, self.kind);
        trainer::minimize(&mut self.opt, &loss.total, t.clip, lr, mom);
        st.hidden = detach(&new_hidden);
        let ce = loss.ce.double_value(&[]);
        let n_tok = (batch.batch_size * batch.seq_len) as u64;
        st.timing.record(st.pos.step, started, n_tok);
        st.pos.step += 1;
        st.pos.batch_in_epoch += 1;
        st.pos.tokens_seen += n_tok;
        st.window_loss.0 += ce;
        st.window_loss.1 += 1;
        (ce, lr, mom)
    }

    /// Steps through the rest of the current epoch, logging and checkpointing on the way.
    fn train_epoch(
        &mut self,
        t: &TrainSection,
        st: &mut RunState,
        out: &Path,
        opts: &PretrainOptions,
        metrics: &mut Metrics,
        bar: &indicatif::ProgressBar,
    ) -> Result<EpochEnd> {
        loop {
            if opts.interrupted.load(Ordering::SeqCst) {
                bar.finish_and_clear();
                let RunState { pos, hidden, .. } = st;
                return trainer::stop_interrupted(out, &self.vs, &self.opt, hidden, pos, pos.step);
            }
            if t.max_steps > 0 && st.pos.step >= t.max_steps {
                return Ok(EpochEnd::MaxSteps);
            }
            if opts.stop_after.is_some_and(|s| st.pos.step >= s) {
                checkpoint::save(out, &self.vs, &self.opt, &st.hidden, &st.pos)?;
                return Ok(EpochEnd::StopAfter);
            }
            let Some(batch) = self.train.next_batch()? else {
                return Ok(EpochEnd::Exhausted);
            };
            let (ce, lr, mom) = self.step(t, st, &batch);
            let tps = st.timing.per_second();
            bar.set_position(st.pos.step);
            bar.set_message(format!("loss {ce:.4} lr {lr:.2e} {tps:.0} tok/s"));
            if st.pos.step.is_multiple_of(t.log_every.max(1)) {
                st.close_window();
                metrics.log(serde_json::json!({
                    "step": st.pos.step, "epoch": st.pos.epoch, "tokens": st.pos.tokens_seen,
                    "train_loss": st.last_train_loss, "lr": lr, "mom": mom, "tokens_per_s": tps,
                }))?;
            }
            if t.checkpoint_every > 0 && st.pos.step.is_multiple_of(t.checkpoint_every) {
                checkpoint::save(out, &self.vs, &self.opt, &st.hidden, &st.pos)?;
            }
        }
    }
}

/// Pretrains (or resumes) a language model into `out`.
pub fn pretrain(cfg: &PretrainConfig, out: &Path, opts: PretrainOptions) -> Result<PretrainReport> {
    let started = Instant::now();
    let t = &cfg.train;
    let (mut run, mut st) = setup(cfg, out, opts.resume)?;
    let mut metrics = Metrics::open(out.join(METRICS_FILE), opts.resume)?;
    let bar = crate::progress::steps_bar(run.total_steps, st.pos.step, opts.progress);
    let epochs = if t.epochs == 0 { u64::MAX } else { t.epochs };
    let mut last_eval: Option<EvalResult> = None;
    let mut stopped = false;
    while st.pos.epoch < epochs {
        run.train.start_epoch(st.pos.epoch);
        if st.pos.batch_in_epoch > 0 {
            run.train.skip(st.pos.batch_in_epoch);
        } else {
            st.hidden = run.model.encoder.zero_hidden(t.batch_size as i64, run.kind);
        }
        let end = run.train_epoch(t, &mut st, out, &opts, &mut metrics, &bar)?;
        st.close_window();
        if let EpochEnd::StopAfter = end {
            // Stopped early: checkpointed where it is, no validation; finished below like any run.
            last_eval = None;
            stopped = true;
            break;
        }
        // End of an epoch, or of the run at max_steps: validate, log, checkpoint (after an epoch,
        // at the start of the next one).
        last_eval = log_validation(
            &run.model,
            run.valid.as_mut(),
            run.kind,
            t.valid_max_batches,
            &mut metrics,
            &st.pos,
            run.baseline,
            st.last_train_loss,
        )?;
        let done = matches!(end, EpochEnd::MaxSteps);
        if !done {
            st.pos.epoch += 1;
            st.pos.batch_in_epoch = 0;
        }
        checkpoint::save(out, &run.vs, &run.opt, &st.hidden, &st.pos)?;
        if done {
            break;
        }
    }
    bar.finish_and_clear();
    checkpoint::save_weights(&run.vs, &out.join(MODEL_FILE))?;
    // A plot that cannot be drawn (no font installed) is worth a warning, not a lost run.
    if !stopped {
        if let Err(e) = genolm::plot::training_curves(out, Some(run.baseline)) {
            eprintln!("genolm: warning: training curves not drawn: {e}");
        }
    }
    Ok(PretrainReport {
        dir: out.to_path_buf(),
        steps: st.pos.step,
        tokens_per_s: st.timing.per_second(),
        train_loss: st.last_train_loss,
        valid_loss: last_eval.map(|e| e.loss),
        valid_accuracy: last_eval.map(|e| e.accuracy),
        valid_perplexity: last_eval.map(|e| e.perplexity),
        baseline_loss: run.baseline,
        seconds: started.elapsed().as_secs_f64(),
        completed: !stopped,
        peak_rss_mb: peak_rss_mb(),
    })
}

#[allow(clippy::too_many_arguments)]
fn log_validation(
    model: &LanguageModel,
    valid: Option<&mut LmStreams>,
    kind: Kind,
    max_batches: u64,
    metrics: &mut Metrics,
    pos: &Position,
    baseline: f64,
    train_loss: f64,
) -> Result<Option<EvalResult>> {
    let Some(valid) = valid else { return Ok(None) };
    let e = evaluate(
        model,
        valid,
        kind,
        max_batches,
        &indicatif::ProgressBar::hidden(),
    )?;
    metrics.log(serde_json::json!({
        "step": pos.step, "epoch": pos.epoch, "tokens": pos.tokens_seen, "train_loss": train_loss,
        "valid_loss": e.loss, "valid_accuracy": e.accuracy, "valid_perplexity": e.perplexity,
        "baseline_loss": baseline,
    }))?;
    Ok(Some(e))
}

/// Loads a language model directory for evaluation (weights + config).
pub fn load_model(
    dir: &Path,
    device: Device,
) -> Result<(nn::VarStore, LanguageModel, ModelDirConfig)> {
    let cfg = load_model_config(dir)?;
    let mut vs = nn::VarStore::new(device);
    let model = LanguageModel::new(&vs.root(), cfg.vocab_size, &cfg.pretrain.model);
    vs.load(dir.join(MODEL_FILE))?;
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
        let theirs = hf::load(&corpus.dir)?;
        let ours = hf::load(model_dir)?;
        if theirs.tokens() != ours.tokens() || theirs.spec() != ours.spec() {
            return Err(Error::Invalid(format!(
                "{}: built with a different tokenizer than the model {} (k={} stride={} vocab={} vs k={} stride={} vocab={}); \
                 rebuild the corpus with --tokenizer {}",
                corpus_dir.display(),
                model_dir.display(),
                theirs.k(),
                theirs.stride(),
                theirs.vocab_size(),
                ours.k(),
                ours.stride(),
                ours.vocab_size(),
                model_dir.display()
            )));
        }
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
