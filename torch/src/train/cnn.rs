//! `genolm cnn train`: a one-hot CNN on labelled sequences, from scratch or from a trained CNN
//! (TLVar's transfer: reinitialised output, layers frozen through a named group), through the one
//! fit loop with reverse-complement augmentation.

use std::path::Path;
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::classify::{keep_best, stage_plans, validation_row, write_test_results, ClassifyReport};
use super::fit::{
    fit, BatchCursor, FitOptions, FitPlan, Items, Keep, Outcome, StepLoss, Task, Trainee,
};
use super::freeze::LayerGroups;
use super::optim::AdamWConfig;
use super::trainer::{self, Runtime};
use super::{io_err, Error, Result};
use crate::config::cnn::{CnnRunConfig, CnnSpec, Schedule};
use crate::features::kmer::{epoch_rng, load_task};
use crate::features::onehot::one_hot;
use crate::model::cnn::Cnn;
use crate::modeldir::{self, ModelKind, MODEL_FILE};
use genolm::corpus::labelled::{LabelledSet, SetSplit};
use genolm::eval::metrics::Truth;
use genolm::eval::training_log::MetricsRow;
use genolm::genome::nucleotide::reverse_complement;

/// The rows of one split: sequences (each the model's input length) and their truth.
struct Split {
    ids: Vec<String>,
    seqs: Vec<Vec<u8>>,
    truth: Truth,
}

impl Split {
    fn of(set: &LabelledSet, which: SetSplit) -> Self {
        let rows = set.rows_in(which);
        Self {
            ids: rows.iter().map(|&i| set.ids[i].clone()).collect(),
            seqs: rows.iter().map(|&i| set.sequences[i].clone()).collect(),
            truth: set.truth_of(&rows),
        }
    }

    /// The training target of `rows`: class ids, or a rows x labels matrix of 0/1.
    fn target(&self, rows: &[usize]) -> Tensor {
        match &self.truth {
            Truth::Classes(c) => {
                Tensor::from_slice(&rows.iter().map(|&r| c[r] as i64).collect::<Vec<_>>())
            }
            Truth::Labels(l) => {
                let flat: Vec<f32> = rows
                    .iter()
                    .flat_map(|&r| l[r].iter().map(|&on| f32::from(u8::from(on))))
                    .collect();
                Tensor::from_slice(&flat).view([rows.len() as i64, -1])
            }
        }
    }
}

/// Class probabilities (multi-label: each label's) of `seqs`, RC-averaged when asked, in order,
/// in batches.
pub(crate) fn cnn_probs(
    model: &Cnn,
    seqs: &[&[u8]],
    batch_size: usize,
    rc_average: bool,
    multi_label: bool,
    kind: Kind,
    device: Device,
) -> Vec<Vec<f64>> {
    let _guard = tch::no_grad_guard();
    let len = model.config.input_len as usize;
    let n_enc = model.config.n_encoding;
    let mut probs = Vec::with_capacity(seqs.len());
    let forward = |x: Tensor| {
        super::head_probs(
            &model.forward(&x.to_device(device), false, kind),
            multi_label,
        )
    };
    for chunk in seqs.chunks(batch_size.max(1)) {
        let mut p = forward(one_hot(chunk, len, n_enc));
        if rc_average {
            let rc: Vec<Vec<u8>> = chunk.iter().map(|s| reverse_complement(s)).collect();
            let refs: Vec<&[u8]> = rc.iter().map(Vec::as_slice).collect();
            p = (p + forward(one_hot(&refs, len, n_enc))) / 2.0;
        }
        probs.extend(crate::infer::prob_rows(&p));
    }
    probs
}

struct CnnTask<'a> {
    model: &'a mut Cnn,
    train: &'a Split,
    valid: &'a Split,
    cfg: &'a CnnRunConfig,
    classes: &'a [String],
    cursor: BatchCursor,
    flip: Vec<bool>,
    kind: Kind,
    device: Device,
}

impl Task for CnnTask<'_> {
    type Batch = Vec<usize>;

    fn start_epoch(&mut self, stage: usize, epoch: u64, skip: u64) -> Result<()> {
        let t = &self.cfg.train;
        let mut rng = epoch_rng(t.seed, stage, epoch);
        let mut order: Vec<usize> = (0..self.train.seqs.len()).collect();
        rng.shuffle(&mut order);
        let mut batches: Vec<Vec<usize>> =
            order.chunks(t.batch_size).map(<[usize]>::to_vec).collect();
        // BatchNorm needs two samples in training.
        batches.retain(|b| b.len() > 1);
        let mut flips = epoch_rng(t.seed ^ 0x005E_ED4C, stage, epoch);
        self.flip = (0..order.len())
            .map(|_| t.rc_augment && flips.below(2) == 1)
            .collect();
        self.cursor.start(batches, skip);
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<Vec<usize>>> {
        Ok(self.cursor.next_batch())
    }

    fn train_loss(&mut self, rows: &Vec<usize>) -> StepLoss {
        let seqs: Vec<Vec<u8>> = rows
            .iter()
            .map(|&r| {
                let s = &self.train.seqs[r];
                if self.flip[r] {
                    reverse_complement(s)
                } else {
                    s.clone()
                }
            })
            .collect();
        let refs: Vec<&[u8]> = seqs.iter().map(Vec::as_slice).collect();
        let x = one_hot(
            &refs,
            self.model.config.input_len as usize,
            self.model.config.n_encoding,
        );
        let y = self.train.target(rows).to_device(self.device);
        let logits = self
            .model
            .forward(&x.to_device(self.device), true, self.kind);
        // Cnn::forward returns fp32 logits.
        let multi_label = matches!(self.train.truth, Truth::Labels(_));
        let loss = super::head_loss(&logits, &y, multi_label);
        StepLoss {
            minimise: loss.shallow_clone(),
            report: loss,
            items: rows.len() as u64,
        }
    }

    fn validate(&mut self, row: &mut MetricsRow) -> Result<Option<f64>> {
        let t = &self.cfg.train;
        let refs: Vec<&[u8]> = self.valid.seqs.iter().map(Vec::as_slice).collect();
        let probs = cnn_probs(
            self.model,
            &refs,
            t.batch_size,
            t.rc_average,
            self.valid.truth.is_multi_label(),
            self.kind,
            self.device,
        );
        let truth = &self.valid.truth;
        let r = truth.report(&probs, self.classes);
        let score = validation_row(row, &r, truth, &probs, t.metric);
        row.valid_auprc = Some(r.summary.auprc);
        Ok(Some(score))
    }

    fn set_frozen(&mut self, frozen: &[bool]) {
        self.model.set_frozen(frozen);
    }
}

pub fn validate_config(cfg: &CnnRunConfig) -> Result<()> {
    cfg.model.validate()?;
    let t = &cfg.train;
    crate::train::require(
        t.batch_size >= 2,
        "train.batch_size",
        t.batch_size,
        "a CNN batch needs at least 2 sequences (BatchNorm)",
    )?;
    crate::train::require(
        !t.stages.is_empty(),
        "train.stages",
        "[]",
        "at least one stage: nothing to train",
    )
}

/// The pretrained CNN must read this run's input length (checked before any data is read).
fn check_pretrained(cfg: &CnnRunConfig) -> Result<()> {
    let Some(init) = &cfg.init else {
        return Ok(());
    };
    let theirs = CnnSpec::read(&init.model)?;
    if theirs.model.input_len != cfg.model.input_len {
        return Err(Error::Mismatch {
            subject: init.model.display().to_string(),
            found: format!("the pretrained CNN reads {} bases", theirs.model.input_len),
            expected: format!(
                "this run's model reads {} (model.input_len)",
                cfg.model.input_len
            ),
        });
    }
    Ok(())
}

/// Loads the pretrained CNN's weights except the groups to reinitialise.
fn init_from(vs: &nn::VarStore, model: &Cnn, cfg: &CnnRunConfig) -> Result<()> {
    let Some(init) = &cfg.init else {
        return Ok(());
    };
    let groups = LayerGroups::new(model.layer_groups());
    for name in &init.reinit {
        groups.find(name).map_err(|problem| Error::Setting {
            key: "init.reinit".into(),
            problem,
        })?;
    }
    let keep: Vec<String> = groups
        .names()
        .iter()
        .filter(|n| !init.reinit.contains(n))
        .map(|n| format!("{n}."))
        .collect();
    let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
    let loaded = modeldir::load_prefixes(vs, &init.model.join(MODEL_FILE), &keep)?;
    eprintln!(
        "cnn: {} tensors from {}; fresh: {}",
        loaded.loaded.len(),
        init.model.display(),
        if loaded.kept.is_empty() {
            "none".to_string()
        } else {
            loaded.kept.join(", ")
        }
    );
    Ok(())
}

/// Trains a CNN into `out` (or continues the checkpoint there). `None`: stopped by `stop_after`.
pub fn train(cfg: &CnnRunConfig, out: &Path, opts: &FitOptions) -> Result<Option<ClassifyReport>> {
    let started = Instant::now();
    validate_config(cfg)?;
    check_pretrained(cfg)?;
    let t = &cfg.train;
    // A data-parallel job: each rank trains on its share of every batch; rank 0 writes.
    let ((rank, world), _lock) = trainer::join_job(&t.device, out)?;
    crate::train::require(
        t.batch_size >= 2 * world,
        "train.batch_size",
        t.batch_size,
        "at least 2 sequences per data-parallel rank (BatchNorm)",
    )?;
    let Runtime {
        device,
        precision,
        kind,
    } = Runtime::new(&t.device, t.precision, t.threads, t.seed)?;
    let set = load_task(&cfg.data, cfg.classes.as_deref(), &cfg.split)?;
    let data_name = cfg
        .data
        .files()
        .first()
        .map_or("data".to_string(), |f| f.display().to_string());
    crate::infer::cnn::check_set_lengths(&set, cfg.model.input_len, &data_name)?;
    let (tr, va, te) = (
        Split::of(&set, SetSplit::Train),
        Split::of(&set, SetSplit::Valid),
        Split::of(&set, SetSplit::Test),
    );
    if tr.seqs.len() < 2 || va.seqs.is_empty() || te.seqs.is_empty() {
        return Err(Error::SplitsTooSmall {
            train: tr.seqs.len(),
            valid: va.seqs.len(),
            test: te.seqs.len(),
        });
    }
    let classes = set.classes.clone();
    let mut vs = nn::VarStore::new(device);
    let mut model = Cnn::new(&vs.root(), &cfg.model, classes.len() as i64);
    init_from(&vs, &model, cfg)?;
    let groups = LayerGroups::new(model.layer_groups());
    let per_epoch =
        (tr.seqs.len() / t.batch_size + usize::from(tr.seqs.len() % t.batch_size > 1)) as u64;
    let stages = stage_plans(&t.stages, &groups, per_epoch)?;
    if !opts.resume && rank == 0 {
        trainer::refuse_existing(out, "model")?;
        std::fs::create_dir_all(out).map_err(io_err(out))?;
        let mut recorded = cfg.clone();
        recorded.train.precision = precision;
        let spec = CnnSpec {
            classes: classes.clone(),
            multi_label: set.is_multi_label(),
            model: cfg.model.clone(),
            config: recorded,
            inputs_sha256: modeldir::input_checksums(
                &cfg.data,
                cfg.init.as_ref().map(|i| i.model.as_path()),
            )?,
        };
        modeldir::write_spec(out, ModelKind::Cnn, &spec)?;
    } else if opts.resume {
        CnnSpec::read(out)?;
    }
    let mut opt = trainer::optimizer(
        &groups,
        &vs,
        AdamWConfig {
            beta2: t.beta2,
            eps: t.eps,
            weight_decay: t.weight_decay,
        },
        t.loss_scaling.scaler(precision),
    )?;
    let (pct_start, div, final_div) = match t.schedule {
        Schedule::Constant => (0.0, 1.0, 1.0),
        Schedule::OneCycle => (0.25, 25.0, 1e5),
    };
    let best = out.join(".best.safetensors");
    let plan = FitPlan {
        stages,
        pct_start,
        div,
        final_div,
        moms: t.moms,
        lr_div: t.lr_div,
        seed: t.seed,
        clip: t.clip,
        max_steps: 0,
        log_every: 0,
        checkpoint_every: 0,
        patience: t.patience,
        keep: Keep::Best(best.clone()),
        items: Items::Sequences,
        label: "cnn",
    };
    let end = {
        let mut task = CnnTask {
            model: &mut model,
            train: &tr,
            valid: &va,
            cfg,
            classes: &classes,
            cursor: BatchCursor::default(),
            flip: Vec::new(),
            kind,
            device,
        };
        let trainee = Trainee {
            vs: &mut vs,
            opt: &mut opt,
        };
        fit(&mut task, trainee, &plan, out, opts)?
    };
    // The other ranks' part ends with training; rank 0 keeps the best weights and tests them.
    if end.outcome == Outcome::Stopped || rank != 0 {
        return Ok(None);
    }
    keep_best(&mut vs, out, &best)?;
    let refs: Vec<&[u8]> = te.seqs.iter().map(Vec::as_slice).collect();
    let multi = set.is_multi_label();
    let probs = cnn_probs(
        &model,
        &refs,
        t.batch_size,
        t.rc_average,
        multi,
        kind,
        device,
    );
    let rate = end.timing.per_second();
    write_test_results(out, &te.ids, &classes, &te.truth, &probs, started, rate).map(Some)
}
