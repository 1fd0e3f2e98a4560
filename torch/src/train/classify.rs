//! `genolm classify train`: a ULMFiT classifier on labelled sequences, from a language model's encoder
//! (or from scratch, the "naive" baseline), with gradual unfreezing and discriminative learning rates.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::checkpoint::{self, TRAIN_STATE_DIR};
use super::optim::{AdamW, AdamWConfig};
use super::schedule::OneCycle;
use super::{io_err, Error, Precision, Result};
use crate::model::awd_lstm::AwdLstmConfig;
use crate::model::classifier::{Classifier, HeadConfig};
use genolm::corpus::labelled::{LabelledSet, LabelledSource, SetSplit};
use genolm::eval::metrics::{self, BinaryMetrics, Report};
use genolm::fsutil::write_atomic;
use genolm::rng::SplitMix64;
use genolm::tokenize::{hf, KmerSpec, KmerTokenizer, PAD_ID, UNK_ID};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// How many groups, counted from the head, train in this stage (0 = all).
    pub unfreeze: usize,
    pub epochs: u64,
    /// Peak learning rate of the head; each lower group gets lr / lr_div^depth.
    pub lr: f64,
}

/// Genomic-ULMFiT's recipe: head only; then the last 2 groups; then 3; then everything.
fn d_stages() -> Vec<Stage> {
    vec![
        Stage {
            unfreeze: 1,
            epochs: 1,
            lr: 2e-2,
        },
        Stage {
            unfreeze: 2,
            epochs: 1,
            lr: 1e-2,
        },
        Stage {
            unfreeze: 3,
            epochs: 1,
            lr: 5e-3,
        },
        Stage {
            unfreeze: 0,
            epochs: 3,
            lr: 1e-3,
        },
    ]
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyTrain {
    #[serde(default = "super::defaults::batch_size")]
    pub batch_size: usize,
    #[serde(default = "d_stages")]
    pub stages: Vec<Stage>,
    /// Discriminative learning rates: each group below the head trains at lr / lr_div^depth.
    #[serde(default = "d_lr_div")]
    pub lr_div: f64,
    #[serde(default = "super::defaults::weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "d_moms")]
    pub moms: (f64, f64),
    #[serde(default = "super::defaults::clip")]
    pub clip: f64,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default = "super::defaults::seed")]
    pub seed: u64,
    #[serde(default = "super::defaults::device")]
    pub device: String,
    #[serde(default)]
    pub threads: i32,
    /// Validation metric that picks the best checkpoint: mcc, accuracy, f1, auroc or auprc.
    #[serde(default = "d_metric")]
    pub metric: String,
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
fn d_metric() -> String {
    "mcc".into()
}
fn d_true() -> bool {
    true
}
fn d_clas_drop_mult() -> f64 {
    0.5
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
    #[serde(default = "super::defaults::seed")]
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
            seed: super::defaults::seed(),
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
    pub output: super::lm::OutputSection,
}

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

/// Token ids of sequences in each k-mer frame: with stride s > 1 a sequence has s readings, from
/// base 0, 1, ..., s - 1 (`frames[f][row]`; frame 0 is the usual one).
struct Encoded {
    frames: Vec<Vec<Vec<i64>>>,
    labels: Vec<i64>,
}

impl Encoded {
    fn new<'a>(
        tok: &KmerTokenizer,
        seqs: impl Iterator<Item = &'a [u8]>,
        labels: Vec<i64>,
        n_frames: usize,
    ) -> Self {
        let seqs: Vec<&[u8]> = seqs.collect();
        let frames = (0..n_frames.max(1))
            .map(|f| {
                seqs.iter()
                    .map(|s| {
                        let ids: Vec<i64> = tok
                            .encode(&s[f.min(s.len())..])
                            .into_iter()
                            .map(i64::from)
                            .collect();
                        // Shorter than k: one unknown token, so that every row has a length.
                        if ids.is_empty() {
                            vec![i64::from(UNK_ID)]
                        } else {
                            ids
                        }
                    })
                    .collect()
            })
            .collect();
        Self { frames, labels }
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

fn select(set: &LabelledSet, tok: &KmerTokenizer, which: SetSplit, n_frames: usize) -> Encoded {
    let rows = set.rows_in(which);
    Encoded::new(
        tok,
        rows.iter().map(|&i| set.sequences[i].as_slice()),
        rows.iter().map(|&i| set.labels[i] as i64).collect(),
        n_frames,
    )
}

/// Right-padded batch of the given rows, each read in the frame `frame_of(row)`, longest first (the
/// order the classifier reads chunks in); returns the rows in that order with the tensors.
fn batch(
    e: &Encoded,
    rows: &[usize],
    frame_of: impl Fn(usize) -> usize,
    device: Device,
) -> (Tensor, Tensor, Vec<usize>) {
    let ids = |r: usize| &e.frames[frame_of(r)][r];
    let mut rows = rows.to_vec();
    rows.sort_by_key(|&r| std::cmp::Reverse(ids(r).len()));
    let len = rows.first().map(|&r| ids(r).len()).unwrap_or(1);
    let mut flat = vec![i64::from(PAD_ID); rows.len() * len];
    for (b, &r) in rows.iter().enumerate() {
        let ids = ids(r);
        flat[b * len..b * len + ids.len()].copy_from_slice(ids);
    }
    let x = Tensor::from_slice(&flat)
        .view([rows.len() as i64, len as i64])
        .to_device(device);
    let y = Tensor::from_slice(&rows.iter().map(|&r| e.labels[r]).collect::<Vec<_>>())
        .to_device(device);
    (x, y, rows)
}

/// fastai's SortishSampler: shuffle, sort by length within chunks of 50 batches, shuffle batches.
fn sortish_batches(e: &Encoded, bs: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..e.len()).collect();
    for i in (1..idx.len()).rev() {
        idx.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut batches = Vec::new();
    for chunk in idx.chunks(bs * 50) {
        let mut c = chunk.to_vec();
        c.sort_by_key(|&i| std::cmp::Reverse(e.frames[0][i].len()));
        batches.extend(c.chunks(bs).map(|b| b.to_vec()));
    }
    for i in (1..batches.len()).rev() {
        batches.swap(i, rng.below(i as u64 + 1) as usize);
    }
    batches.retain(|b| b.len() > 1); // BatchNorm needs two samples in training
    batches
}

/// Class probabilities for every row, in row order: the mean over the rows' k-mer frames.
fn predict(clf: &Classifier, e: &Encoded, bs: usize, kind: Kind, device: Device) -> Vec<Vec<f64>> {
    let _guard = tch::no_grad_guard();
    let mut order: Vec<usize> = (0..e.len()).collect();
    order.sort_by_key(|&i| e.frames[0][i].len());
    let k = clf.n_classes as usize;
    let mut probs = vec![vec![0.0; k]; e.len()];
    let share = 1.0 / e.frames.len() as f64;
    let encoder = clf.encoder.cast_for_inference(kind);
    for f in 0..e.frames.len() {
        for rows in order.chunks(bs) {
            let (x, _, rows) = batch(e, rows, |_| f, device);
            let p = clf
                .forward_with(&encoder, &x, i64::from(PAD_ID), false, kind)
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
            let p: Vec<f32> = Vec::<f32>::try_from(p.flatten(0, -1)).unwrap_or_default();
            for (j, &r) in rows.iter().enumerate() {
                for (c, &v) in p[j * k..(j + 1) * k].iter().enumerate() {
                    probs[r][c] += share * v as f64;
                }
            }
        }
    }
    probs
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

fn tokenizer_for(cfg: &ClassifyConfig) -> Result<KmerTokenizer> {
    if let Some(lm) = &cfg.lm {
        return Ok(hf::load(lm)?);
    }
    if let Some(t) = &cfg.tokenizer {
        return Ok(hf::load(t)?);
    }
    match (cfg.k, cfg.stride) {
        (Some(k), Some(s)) => Ok(KmerTokenizer::complete(KmerSpec::new(k, s)?)),
        _ => Err(Error::Invalid(
            "give `lm` (a language-model dir), `tokenizer`, or `k` and `stride`".into(),
        )),
    }
}

fn load_splits(cfg: &ClassifyConfig) -> Result<LabelledSet> {
    let mut set = cfg.data.load().map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(order) = &cfg.classes {
        set.order_classes(order)
            .map_err(|e| Error::Invalid(e.to_string()))?;
    }
    if set.splits.is_none() {
        set.split_stratified(cfg.split.valid_frac, cfg.split.test_frac, cfg.split.seed);
    }
    Ok(set)
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
    tr: Encoded,
    va: Encoded,
    te: Encoded,
    /// Ids of the test sequences, in `te`'s row order.
    te_ids: Vec<String>,
    classes: Vec<String>,
    vs: nn::VarStore,
    clf: Classifier,
    opt: AdamW,
    n_groups: usize,
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
        files.push(lm.join(super::lm::MODEL_FILE));
    }
    let mut sums = std::collections::BTreeMap::new();
    for f in files {
        let sum =
            genolm::genome::open::sha256_file(&f).map_err(|e| Error::Invalid(e.to_string()))?;
        sums.insert(f.display().to_string(), sum);
    }
    Ok(sums)
}

fn setup(cfg: &ClassifyConfig, out: &Path, resume: bool) -> Result<(Run, SavedClassifier)> {
    let t = &cfg.train;
    let device = crate::device::resolve(t.device.parse()?)?;
    let kind = t.precision.kind(device)?;
    if t.threads > 0 {
        tch::set_num_threads(t.threads);
    }
    tch::manual_seed(t.seed as i64);
    let tok = tokenizer_for(cfg)?;
    check_model_section(cfg)?;
    let shape = match &cfg.lm {
        Some(lm) => super::lm::load_model_config(lm)?.pretrain.model,
        None => cfg.model.clone(),
    };
    let (enc_cfg, head) = with_classifier_dropouts(shape, &cfg.head, cfg.drop_mult);
    enc_cfg.validate()?;
    let set = load_splits(cfg)?;
    let n_frames = if t.all_frames { tok.stride() } else { 1 };
    let (tr, va, te) = (
        select(&set, &tok, SetSplit::Train, n_frames),
        select(&set, &tok, SetSplit::Valid, n_frames),
        select(&set, &tok, SetSplit::Test, n_frames),
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
    let mut vs = nn::VarStore::new(device);
    let n_classes = set.classes.len() as i64;
    let clf = Classifier::new(
        &vs.root(),
        tok.vocab_size() as i64,
        &enc_cfg,
        &head,
        n_classes,
    );
    if let Some(lm) = &cfg.lm {
        let missing = vs.load_partial(lm.join(super::lm::MODEL_FILE))?;
        if missing.iter().any(|n| n.starts_with("encoder.")) {
            return Err(Error::Invalid(format!(
                "{}: encoder tensors missing: {missing:?}",
                lm.display()
            )));
        }
    }
    let mut saved = SavedClassifier {
        kind: "awd_lstm_classifier".into(),
        classes: set.classes.clone(),
        encoder: enc_cfg.clone(),
        head,
        config: cfg.clone(),
        // Hashed once, when the run starts; a resumed run keeps the config.json written then.
        inputs_sha256: Default::default(),
    };
    if !resume {
        if out.join(TRAIN_STATE_DIR).exists() || out.join(super::lm::MODEL_FILE).exists() {
            return Err(Error::Invalid(format!(
                "{}: already holds a classifier; continue it with --resume {0}, or choose another --out",
                out.display()
            )));
        }
        std::fs::create_dir_all(out).map_err(io_err(out))?;
        hf::save(&tok, out)?;
        saved.inputs_sha256 = input_checksums(cfg)?;
        write_json(out, "config.json", &saved)?;
    }
    let n_groups = enc_cfg.n_layers as usize + 2;
    // BatchNorm running statistics are buffers, not parameters.
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let named = named.into_iter().map(|(n, p)| {
        let g = super::group_of(&n, enc_cfg.n_layers);
        (n, p, g)
    });
    let opt = AdamW::new(
        named.collect(),
        n_groups,
        AdamWConfig {
            beta2: 0.99,
            eps: 1e-5,
            weight_decay: t.weight_decay,
        },
    );
    let run = Run {
        tr,
        va,
        te,
        te_ids,
        classes: set.classes,
        vs,
        clf,
        opt,
        n_groups,
        kind,
        device,
    };
    Ok((run, saved))
}

fn write_json(out: &Path, name: &str, value: &impl serde::Serialize) -> Result<()> {
    let p = out.join(name);
    let text = serde_json::to_string_pretty(value).expect("serializes") + "\n";
    write_atomic(&p, text.as_bytes()).map_err(io_err(&p))
}

/// The config a classifier directory was started with (for `--resume`).
pub fn saved_config(dir: &Path) -> Result<ClassifyConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let saved: SavedClassifier = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: not a genolm classifier: {e}", path.display())))?;
    Ok(saved.config)
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

/// Batch order of one epoch: a function of (seed, stage, epoch) alone, so a resumed run replays it.
fn epoch_rng(seed: u64, stage: usize, epoch: u64) -> SplitMix64 {
    let mut mix = SplitMix64::new(seed ^ ((stage as u64) << 32) ^ epoch);
    SplitMix64::new(mix.next_u64())
}

pub struct ClassifyOptions<'a> {
    /// Continue the checkpoint in the output directory.
    pub resume: bool,
    /// Set by Ctrl-C: save a checkpoint and stop.
    pub interrupted: &'a AtomicBool,
    /// Save a checkpoint and stop before this step, as Ctrl-C does.
    pub stop_after: Option<u64>,
}

/// Writes the training and validation sequences of a task (never its test split) as FASTA, for
/// fine-tuning a language model on the target domain; returns how many.
pub fn write_lm_sequences(cfg: &ClassifyConfig, path: &Path) -> Result<usize> {
    let set = load_splits(cfg)?;
    let splits = set.splits.as_ref().expect("splits assigned");
    let mut text = Vec::new();
    let mut n = 0;
    for i in (0..set.len()).filter(|&i| splits[i] != SetSplit::Test) {
        text.extend_from_slice(format!(">{}\n", set.ids[i]).as_bytes());
        text.extend_from_slice(&set.sequences[i]);
        text.push(b'\n');
        n += 1;
    }
    write_atomic(path, &text).map_err(io_err(path))?;
    Ok(n)
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
    let log_path = out.join("metrics.jsonl");
    let mut log = String::new();
    if opts.resume {
        let ck = checkpoint::load::<ClassifierPosition>(out, &mut run.vs, &mut run.opt, 0)?;
        pos = ck.position;
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
    }
    let best_path = out.join(".best.safetensors");
    let per_epoch = sortish_batches(&run.tr, t.batch_size, &mut SplitMix64::new(0)).len() as u64;
    let va_labels: Vec<u32> = run.va.labels.iter().map(|&l| l as u32).collect();
    let (mut step_seconds, mut step_sequences) = (0.0, 0usize);
    while pos.stage < t.stages.len() {
        let stage = &t.stages[pos.stage];
        let trainable = match stage.unfreeze {
            0 => run.n_groups,
            n => n.min(run.n_groups),
        };
        for g in 0..run.n_groups {
            let depth = run.n_groups - 1 - g;
            run.opt.group_frozen[g] = depth >= trainable;
            run.opt.group_lr_mult[g] = t.lr_div.powi(-(depth as i32));
        }
        let schedule = OneCycle {
            lr_max: stage.lr,
            pct_start: 0.25,
            div: 25.0,
            final_div: 1e5,
            moms: t.moms,
            total_steps: stage.epochs * per_epoch,
        };
        while pos.epoch < stage.epochs {
            let batches = sortish_batches(
                &run.tr,
                t.batch_size,
                &mut epoch_rng(t.seed, pos.stage, pos.epoch),
            );
            // One k-mer frame per sequence and epoch, drawn like the batch order.
            let mut frame_rng = epoch_rng(t.seed ^ 0xF4A3E, pos.stage, pos.epoch);
            let n_frames = run.tr.frames.len() as u64;
            let frame_of: Vec<usize> = (0..run.tr.len())
                .map(|_| frame_rng.below(n_frames) as usize)
                .collect();
            for rows in &batches[pos.batch_in_epoch as usize..] {
                if opts.interrupted.load(Ordering::SeqCst) {
                    checkpoint::save(out, &run.vs, &run.opt, &[], &pos)?;
                    return Err(Error::Interrupted {
                        step: pos.step,
                        dir: out.to_path_buf(),
                    });
                }
                if opts.stop_after == Some(pos.step) {
                    checkpoint::save(out, &run.vs, &run.opt, &[], &pos)?;
                    return Ok(None);
                }
                // Dropout masks depend only on (seed, step): a resumed run draws the same ones.
                tch::manual_seed(
                    (t.seed as i64)
                        .wrapping_mul(1_000_003)
                        .wrapping_add(pos.step as i64),
                );
                let step_started = Instant::now();
                let (x, y, _) = batch(&run.tr, rows, |r| frame_of[r], run.device);
                let logits = run
                    .clf
                    .forward(&x, i64::from(PAD_ID), true, run.kind)
                    .to_kind(Kind::Float);
                let loss = logits.cross_entropy_for_logits(&y);
                let (lr, mom) = schedule.at(pos.epoch * per_epoch + pos.batch_in_epoch);
                let mut grads = run.opt.backward(&loss);
                AdamW::clip_grad_norm(&mut grads, t.clip);
                run.opt.step(&grads, lr, mom);
                pos.loss_sum += loss.double_value(&[]);
                // The first steps warm up allocators and oneDNN kernels: not throughput.
                if pos.step > 3 {
                    step_seconds += step_started.elapsed().as_secs_f64();
                    step_sequences += rows.len();
                }
                pos.step += 1;
                pos.batch_in_epoch += 1;
            }
            let probs = predict(&run.clf, &run.va, t.batch_size, run.kind, run.device);
            let r = metrics::report(&va_labels, &probs, &run.classes);
            let score = metric_of(&r, &t.metric);
            log.push_str(&format!(
                "{}\n",
                serde_json::json!({
                    "stage": pos.stage, "epoch": pos.epoch, "step": pos.step,
                    "train_loss": pos.loss_sum / batches.len().max(1) as f64,
                    "valid_loss": log_loss(&va_labels, &probs),
                    "valid_accuracy": r.accuracy, "valid_mcc": r.summary.mcc, "valid_auroc": r.summary.auroc,
                    "valid_f1": r.summary.f1, "metric": t.metric, "score": score,
                    "seconds": started.elapsed().as_secs_f64(),
                })
            ));
            write_atomic(&log_path, log.as_bytes()).map_err(io_err(&log_path))?;
            if pos.best.is_none_or(|b| score > b) {
                pos.best = Some(score);
                pos.since_best = 0;
                super::checkpoint::save_weights(&run.vs, &best_path)?;
            } else {
                pos.since_best += 1;
            }
            pos.epoch += 1;
            pos.batch_in_epoch = 0;
            pos.loss_sum = 0.0;
            if t.patience > 0 && pos.since_best >= t.patience {
                eprintln!(
                    "classify: stage {} stopped early: {} epochs without a better validation {}",
                    pos.stage + 1,
                    pos.since_best,
                    t.metric
                );
                break;
            }
        }
        pos.stage += 1;
        pos.epoch = 0;
        pos.since_best = 0;
    }
    run.vs.load(&best_path)?;
    std::fs::rename(&best_path, out.join(super::lm::MODEL_FILE)).map_err(io_err(out))?;
    let state = out.join(TRAIN_STATE_DIR);
    if state.exists() {
        std::fs::remove_dir_all(&state).map_err(io_err(&state))?;
    }
    let probs = predict(&run.clf, &run.te, t.batch_size, run.kind, run.device);
    let labels: Vec<u32> = run.te.labels.iter().map(|&l| l as u32).collect();
    let r = metrics::report(&labels, &probs, &run.classes);
    let tsv = predictions_tsv(&run.te_ids, &run.classes, Some(&labels), &probs);
    let tsv_path = out.join("test_predictions.tsv");
    write_atomic(&tsv_path, tsv.as_bytes()).map_err(io_err(&tsv_path))?;
    write_outputs(out, &saved, &r, &labels, &probs)?;
    Ok(Some(ClassifyReport {
        dir: out.to_path_buf(),
        test: BinaryMetrics {
            accuracy: r.accuracy,
            ..r.summary.clone()
        },
        n_test: r.n,
        seconds: started.elapsed().as_secs_f64(),
        train_sequences_per_s: step_sequences as f64 / step_seconds.max(1e-9),
    }))
}

/// `config.json` of a classifier directory: what rebuilds the model for `predict`, and what it was
/// made from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedClassifier {
    pub kind: String,
    pub classes: Vec<String>,
    pub encoder: AwdLstmConfig,
    pub head: HeadConfig,
    pub config: ClassifyConfig,
    #[serde(default)]
    pub inputs_sha256: std::collections::BTreeMap<String, String>,
}

/// Test metrics, ROC/PR curves, confusion matrix and training curves of a finished run.
fn write_outputs(
    out: &Path,
    saved: &SavedClassifier,
    r: &Report,
    labels: &[u32],
    probs: &[Vec<f64>],
) -> Result<()> {
    write_json(out, "test_metrics.json", r)?;
    let classes = &saved.classes;
    let warn = |what: &str, e: genolm::plot::Error| {
        eprintln!("genolm: warning: {what} plot not drawn: {e}");
    };
    // ROC and PR: of the positive class (the second) for two classes, the curves a paper shows;
    // one-vs-rest per class for more.
    use genolm::plot::{LegendAt, RGBColor, Series};
    const PALETTE: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    let curves: Vec<usize> = if classes.len() == 2 {
        vec![1]
    } else {
        (0..classes.len()).collect()
    };
    type Curve = fn(&[f64], &[bool]) -> Vec<(f64, f64)>;
    let series_of = |curve: Curve, area: &str| -> Vec<Series> {
        curves
            .iter()
            .map(|&c| {
                let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
                let pos: Vec<bool> = labels.iter().map(|&l| l as usize == c).collect();
                let m = &r.per_class[c];
                let value = if area == "AUROC" { m.auroc } else { m.auprc };
                let rest = if classes.len() == 2 {
                    classes[0].clone()
                } else {
                    "rest".to_string()
                };
                Series {
                    name: format!("{} vs {rest} ({area} {value:.3})", classes[c]),
                    points: curve(&scores, &pos),
                    color: PALETTE[c % PALETTE.len()],
                    dashed: false,
                    markers: false,
                }
            })
            .collect()
    };
    let plots = [
        (
            "roc",
            "ROC (test)",
            "false positive rate",
            "true positive rate",
            series_of(metrics::roc_curve, "AUROC"),
            LegendAt::LowerRight,
        ),
        (
            "pr",
            "Precision-recall (test)",
            "recall",
            "precision",
            series_of(metrics::pr_curve, "AUPRC"),
            LegendAt::LowerLeft,
        ),
    ];
    for (stem, title, x_label, y_label, series, legend) in plots {
        let plot = genolm::plot::LinePlot {
            title,
            x_label,
            y_label,
            series,
            zoom_y: None,
            legend,
        };
        if let Err(e) = genolm::plot::line_plot(out, stem, &plot) {
            warn(stem, e);
        }
    }
    let confusion = genolm::plot::ConfusionPlot {
        title: "Confusion matrix (test)",
        classes,
        counts: &r.confusion,
    };
    if let Err(e) = genolm::plot::render(out, "confusion", &confusion) {
        warn("confusion", e);
    }
    if let Err(e) = genolm::plot::classifier_curves(out) {
        warn("training", e);
    }
    Ok(())
}

/// A trained classifier loaded from its directory.
pub struct LoadedClassifier {
    pub vs: nn::VarStore,
    pub model: Classifier,
    pub tokenizer: KmerTokenizer,
    pub saved: SavedClassifier,
}

pub fn load_classifier(dir: &Path, device: Device) -> Result<LoadedClassifier> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let saved: SavedClassifier = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: not a genolm classifier: {e}", path.display())))?;
    let tokenizer = hf::load(dir)?;
    let mut vs = nn::VarStore::new(device);
    let model = Classifier::new(
        &vs.root(),
        tokenizer.vocab_size() as i64,
        &saved.encoder,
        &saved.head,
        saved.classes.len() as i64,
    );
    vs.load(dir.join(super::lm::MODEL_FILE))?;
    Ok(LoadedClassifier {
        vs,
        model,
        tokenizer,
        saved,
    })
}

/// Several classifiers (an ensemble), in the order given.
pub fn load_classifiers(dirs: &[PathBuf], device: Device) -> Result<Vec<LoadedClassifier>> {
    dirs.iter().map(|d| load_classifier(d, device)).collect()
}

/// Class probabilities for sequences, averaged over their k-mer frames when the classifier was
/// trained on all of them; with `rc_average`, each is also averaged with its reverse complement's
/// (a sequence and its reverse complement are the same DNA).
pub fn predict_sequences(
    m: &LoadedClassifier,
    seqs: &[Vec<u8>],
    rc_average: bool,
    batch_size: usize,
    kind: Kind,
) -> Vec<Vec<f64>> {
    let device = m.vs.device();
    let n_frames = if m.saved.config.train.all_frames {
        m.tokenizer.stride()
    } else {
        1
    };
    let unlabelled = |seqs: &[Vec<u8>]| {
        let e = Encoded::new(
            &m.tokenizer,
            seqs.iter().map(Vec::as_slice),
            vec![0; seqs.len()],
            n_frames,
        );
        predict(&m.model, &e, batch_size, kind, device)
    };
    let mut probs = unlabelled(seqs);
    if rc_average {
        let rc: Vec<Vec<u8>> = seqs
            .iter()
            .map(|s| genolm::genome::nucleotide::reverse_complement(s))
            .collect();
        for (p, q) in probs.iter_mut().zip(unlabelled(&rc)) {
            for (a, b) in p.iter_mut().zip(q) {
                *a = (*a + b) / 2.0;
            }
        }
    }
    probs
}

/// Mean class probabilities of several classifiers (an ensemble; one model is the plain case).
/// Each reads the sequences with its own tokenizer, so models of different k or direction combine;
/// all must share the class list, in the same order.
pub fn ensemble_probs(
    models: &[LoadedClassifier],
    seqs: &[Vec<u8>],
    rc_average: bool,
    batch_size: usize,
    precision: Precision,
) -> Result<Vec<Vec<f64>>> {
    let first = models
        .first()
        .ok_or_else(|| Error::Invalid("no classifier given".into()))?;
    if let Some(m) = models
        .iter()
        .find(|m| m.saved.classes != first.saved.classes)
    {
        return Err(Error::Invalid(format!(
            "classifiers of an ensemble must share their classes: {:?} vs {:?}",
            first.saved.classes, m.saved.classes
        )));
    }
    let mut sum = vec![vec![0.0; first.saved.classes.len()]; seqs.len()];
    for m in models {
        let kind = precision.kind(m.vs.device())?;
        let probs = predict_sequences(m, seqs, rc_average, batch_size, kind);
        for (s, p) in sum.iter_mut().zip(probs) {
            for (a, b) in s.iter_mut().zip(p) {
                *a += b / models.len() as f64;
            }
        }
    }
    Ok(sum)
}

/// The rows of a classifier's training data in one split, exactly as training drew them (same
/// data, class order and split seed): e.g. the test set, to evaluate models trained on it.
pub fn task_split(cfg: &ClassifyConfig, which: SetSplit) -> Result<LabelledSet> {
    let set = load_splits(cfg)?;
    let keep = set.rows_in(which);
    Ok(LabelledSet {
        ids: keep.iter().map(|&i| set.ids[i].clone()).collect(),
        sequences: keep.iter().map(|&i| set.sequences[i].clone()).collect(),
        labels: keep.iter().map(|&i| set.labels[i]).collect(),
        classes: set.classes,
        splits: Some(vec![which; keep.len()]),
    })
}

/// The data's class indices follow its own first-seen order: maps them onto the model's classes.
fn labels_in(classes: &[String], set: &LabelledSet) -> Result<Vec<u32>> {
    set.labels
        .iter()
        .map(|&l| {
            let name = &set.classes[l as usize];
            classes
                .iter()
                .position(|c| c == name)
                .map(|i| i as u32)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "label {name:?} is not one of the model's classes {classes:?}"
                    ))
                })
        })
        .collect()
}

/// Metrics of one classifier or the mean of several on labelled sequences, with the per-sequence
/// probabilities and labels (in the models' class order) they were computed from.
pub struct Evaluation {
    pub report: Report,
    pub labels: Vec<u32>,
    pub probs: Vec<Vec<f64>>,
}

/// `genolm classify eval`: trained classifiers (averaged when more than one) on labelled data.
pub fn evaluate_on(
    models: &[LoadedClassifier],
    set: &LabelledSet,
    batch_size: usize,
    precision: Precision,
) -> Result<Evaluation> {
    let probs = ensemble_probs(models, &set.sequences, false, batch_size, precision)?;
    let classes = &models[0].saved.classes;
    let labels = labels_in(classes, set)?;
    Ok(Evaluation {
        report: metrics::report(&labels, &probs, classes),
        labels,
        probs,
    })
}

/// One row per sequence: id, the true class when known, one probability column per class and the
/// predicted class (the most probable).
pub fn predictions_tsv(
    ids: &[String],
    classes: &[String],
    labels: Option<&[u32]>,
    probs: &[Vec<f64>],
) -> String {
    let mut text = String::from("id");
    if labels.is_some() {
        text.push_str("\tlabel");
    }
    for c in classes {
        text.push_str(&format!("\tp_{c}"));
    }
    text.push_str("\tpredicted\n");
    for (i, (id, p)) in ids.iter().zip(probs).enumerate() {
        text.push_str(id);
        if let Some(l) = labels {
            text.push_str(&format!("\t{}", classes[l[i] as usize]));
        }
        for v in p {
            text.push_str(&format!("\t{v:.6}"));
        }
        let best = p
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map_or(0, |(i, _)| i);
        text.push_str(&format!("\t{}\n", classes[best]));
    }
    text
}
