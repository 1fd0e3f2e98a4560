//! The one fit loop. Pretraining, LM fine-tuning, the ULMFiT classifier and the CNN run through it;
//! a [`Task`] supplies batches, the loss, validation and any state beyond weights and optimizer
//! that a checkpoint must carry. The loop owns the rest: stages of trainable layer groups, the
//! one-cycle schedule per stage, per-step dropout seeds, Ctrl-C and `--stop-after` checkpoints,
//! periodic checkpoints, the metrics log, keeping the best (or last) weights, early stopping,
//! throughput and the progress bar.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::{nn, Tensor};

use super::checkpoint;
use super::freeze::{self, Trainable};
use super::optim::AdamW;
use super::schedule::OneCycle;
use super::trainer::{self, StepTiming};
use super::{Error, Result};
use genolm::eval::training_log::{MetricsLog, MetricsRow};

/// Where a run is: what a checkpoint saves beside the weights and the optimizer.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    #[serde(default)]
    pub stage: usize,
    /// Epoch within the stage.
    #[serde(default)]
    pub epoch: u64,
    #[serde(default)]
    pub batch_in_epoch: u64,
    /// Optimizer steps taken.
    #[serde(default)]
    pub step: u64,
    /// The step the current stage started at (its schedule counts from there).
    #[serde(default)]
    pub stage_start_step: u64,
    /// Items (tokens or sequences) trained on.
    #[serde(default, alias = "tokens_seen")]
    pub items_seen: u64,
    /// Training loss summed over the steps since the last metrics row, and how many.
    #[serde(default)]
    pub window_loss: f64,
    #[serde(default)]
    pub window_steps: u64,
    /// The mean training loss of the last closed window.
    #[serde(default)]
    pub last_train_loss: Option<f64>,
    /// Best validation score so far (kept weights: [`Keep::Best`]).
    #[serde(default)]
    pub best: Option<f64>,
    /// Epochs of this stage since the score last improved (early stopping).
    #[serde(default)]
    pub since_best: u64,
    /// The run this checkpoint belongs to (the directory's `run_id`): a `train_state/` copied
    /// from another run is refused. Absent in checkpoints of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Position {
    /// The mean training loss since the last row becomes the latest one.
    pub fn close_window(&mut self) -> Option<f64> {
        if self.window_steps > 0 {
            self.last_train_loss = Some(self.window_loss / self.window_steps as f64);
        }
        self.window_loss = 0.0;
        self.window_steps = 0;
        self.last_train_loss
    }
}

/// One training step's loss.
pub struct StepLoss {
    /// What is minimised (with an LM's activation regularizers).
    pub minimise: Tensor,
    /// What is reported (the cross-entropy).
    pub report: Tensor,
    /// Items in the batch: tokens or sequences.
    pub items: u64,
}

/// What a model family's training supplies to the loop.
pub trait Task {
    type Batch;
    /// Starts epoch `epoch` of stage `stage`, skipping its first `skip` batches (a resumed run).
    fn start_epoch(&mut self, stage: usize, epoch: u64, skip: u64) -> Result<()>;
    /// The next training batch of the epoch; None when the epoch is over.
    fn next_batch(&mut self) -> Result<Option<Self::Batch>>;
    /// The loss of a training batch (dropout on).
    fn train_loss(&mut self, batch: &Self::Batch) -> StepLoss;
    /// Validation at the end of an epoch: fills the row's `valid_*` fields and returns the score
    /// that picks the kept weights (higher is better); None without validation data.
    fn validate(&mut self, row: &mut MetricsRow) -> Result<Option<f64>>;
    /// Tensors beyond weights and optimizer that a checkpoint carries (an LM's hidden state). In
    /// a data-parallel job every rank calls it (it may gather the ranks' shares); rank 0 saves.
    fn extra_state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }
    /// Takes back what [`Self::extra_state`] saved, from the checkpoint's tensors.
    fn restore_extra_state(&mut self, _saved: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
    /// Which layer groups are frozen changed (BatchNorm of frozen groups keeps its statistics).
    fn set_frozen(&mut self, _frozen: &[bool]) {}
}

/// An epoch's batches of row indices and how far the epoch has gone: the batch source of the
/// classifier tasks (a resumed epoch starts `skip` batches in).
#[derive(Debug, Default)]
pub struct BatchCursor {
    batches: Vec<Vec<usize>>,
    next: usize,
}

impl BatchCursor {
    pub fn start(&mut self, batches: Vec<Vec<usize>>, skip: u64) {
        self.batches = batches;
        self.next = skip as usize;
    }

    /// The next batch's rows; in a data-parallel job, this rank's contiguous share of them (a
    /// batch too small to give every rank a row is skipped by all ranks alike).
    pub fn next_batch(&mut self) -> Option<Vec<usize>> {
        loop {
            let rows = self.batches.get(self.next).cloned();
            self.next += 1;
            let (Some(rows), Some(d)) = (rows.as_ref(), crate::dist::current()) else {
                return rows;
            };
            if rows.len() >= d.world {
                let share = |r: usize| r * rows.len() / d.world;
                return Some(rows[share(d.rank)..share(d.rank + 1)].to_vec());
            }
        }
    }
}

/// What is counted as trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    Tokens,
    Sequences,
}

/// Which weights the run ends with.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    /// The last step's.
    Last,
    /// Those of the best validation score, saved to this file whenever it improves.
    Best(PathBuf),
}

/// One stage: which layer groups train, for how long, at what peak learning rate.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    pub trainable: Trainable,
    pub epochs: u64,
    pub lr: f64,
    /// Steps of the stage's one-cycle schedule.
    pub schedule_steps: u64,
}

/// How a run trains, beyond what its task knows.
#[derive(Debug, Clone)]
pub struct FitPlan {
    pub stages: Vec<StagePlan>,
    pub pct_start: f64,
    pub div: f64,
    pub final_div: f64,
    pub moms: (f64, f64),
    /// Each group below the top trains at lr / lr_div^depth.
    pub lr_div: f64,
    pub seed: u64,
    pub clip: f64,
    /// Stop after this many steps (0: run every epoch).
    pub max_steps: u64,
    /// A step row in the metrics every this many steps (0: validation rows only).
    pub log_every: u64,
    /// A checkpoint every this many steps (0: at the end of each epoch only).
    pub checkpoint_every: u64,
    /// End a stage after this many epochs without a better score (0: never).
    pub patience: u64,
    pub keep: Keep,
    pub items: Items,
    /// The progress bar's name.
    pub label: &'static str,
}

/// How a run is started and stopped from outside.
pub struct FitOptions<'a> {
    /// Continue the checkpoint in the output directory.
    pub resume: bool,
    /// Set by Ctrl-C: save a checkpoint and stop.
    pub interrupted: &'a AtomicBool,
    /// Save a checkpoint and stop at this step, as Ctrl-C does (to split a run across jobs).
    pub stop_after: Option<u64>,
    pub progress: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// `stop_after` reached: a checkpoint to resume from.
    Stopped,
}

pub struct FitEnd {
    pub outcome: Outcome,
    pub position: Position,
    /// The last validation row logged.
    pub last_validation: Option<MetricsRow>,
    pub timing: StepTiming,
}

/// How an epoch's loop ended.
enum EpochEnd {
    Exhausted,
    MaxSteps,
}

/// The model's variables and the optimizer over them.
pub struct Trainee<'a> {
    pub vs: &'a mut nn::VarStore,
    pub opt: &'a mut AdamW,
}

/// A run of `task` into `out` under `plan` (or the continuation of the checkpoint there).
pub fn fit<T: Task>(
    task: &mut T,
    model: Trainee,
    plan: &FitPlan,
    out: &Path,
    opts: &FitOptions,
) -> Result<FitEnd> {
    let Trainee { vs, opt } = model;
    let mut pos = Position::default();
    if opts.resume {
        let (saved, extra) = checkpoint::load::<Position>(out, vs, opt)?;
        check_same_run(out, &saved)?;
        task.restore_extra_state(&extra)?;
        pos = saved;
    } else {
        pos.run = Some(start_run(out)?);
    }
    if let Some(d) = crate::dist::current() {
        // Every rank starts from rank 0's weights (and BatchNorm statistics).
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tensors: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        d.broadcast(&mut tensors)?;
    }
    // Rank 0 alone writes the metrics (and checkpoints, kept weights).
    let log = match crate::dist::is_main() {
        true => Some(MetricsLog::open(out, opts.resume.then_some(pos.step))?),
        false => None,
    };
    let mut run = Run {
        task,
        vs,
        opt,
        plan,
        out,
        opts,
        log,
        stop_agreed: false,
        timing: StepTiming::default(),
        started: Instant::now(),
        last_validation: None,
        bar: indicatif::ProgressBar::hidden(),
    };
    let total: u64 = plan.stages.iter().map(|s| s.schedule_steps).sum();
    // One progress bar for a data-parallel job: rank 0's.
    let progress = opts.progress && crate::dist::is_main();
    run.bar = crate::progress::counting_bar(plan.label, "steps", total, pos.step, progress);
    let outcome = run.stages(&mut pos);
    run.bar.finish_and_clear();
    Ok(FitEnd {
        outcome: outcome?,
        position: pos,
        last_validation: run.last_validation,
        timing: run.timing,
    })
}

/// The file naming a training directory's run (written when the run starts).
pub const RUN_ID_FILE: &str = "run_id";

/// A new run's id, recorded in `out` (by rank 0) and in every checkpoint it saves.
fn start_run(out: &Path) -> Result<String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let id = format!(
        "{:016x}",
        genolm::rng::SplitMix64::new(nanos ^ ((std::process::id() as u64) << 32)).next_u64()
    );
    if crate::dist::is_main() {
        let path = out.join(RUN_ID_FILE);
        std::fs::create_dir_all(out).map_err(super::io_err(out))?;
        genolm::fsutil::write_atomic(&path, id.as_bytes()).map_err(super::io_err(&path))?;
    }
    Ok(id)
}

/// A checkpoint continues only the run that saved it: one copied into another run's directory
/// would mix that run's weights and position with this one's metrics and config.
fn check_same_run(out: &Path, saved: &Position) -> Result<()> {
    let path = out.join(RUN_ID_FILE);
    let (Some(theirs), Ok(ours)) = (&saved.run, std::fs::read_to_string(&path)) else {
        return Ok(()); // a checkpoint or directory from before run ids
    };
    if theirs != ours.trim() {
        return Err(Error::Mismatch {
            subject: out.join(checkpoint::TRAIN_STATE_DIR).display().to_string(),
            found: format!("a checkpoint of run {theirs}, from another run's directory"),
            expected: format!(
                "this directory's run is {} ({}); resume the run the checkpoint came from",
                ours.trim(),
                path.display()
            ),
        });
    }
    Ok(())
}

struct Run<'a, T: Task> {
    task: &'a mut T,
    vs: &'a mut nn::VarStore,
    opt: &'a mut AdamW,
    plan: &'a FitPlan,
    out: &'a Path,
    opts: &'a FitOptions<'a>,
    log: Option<MetricsLog>,
    /// Data-parallel: a stop (Ctrl-C) any rank asked for, agreed by all at the last step.
    stop_agreed: bool,
    timing: StepTiming,
    started: Instant,
    last_validation: Option<MetricsRow>,
    bar: indicatif::ProgressBar,
}

impl<T: Task> Run<'_, T> {
    fn checkpoint(&self, pos: &Position) -> Result<()> {
        let extra = self.task.extra_state()?;
        if crate::dist::is_main() {
            checkpoint::save(self.out, self.vs, self.opt, &extra, pos)?;
        }
        Ok(())
    }

    fn log(&mut self, row: &MetricsRow) -> Result<()> {
        match self.log.as_mut() {
            Some(log) => Ok(log.append(row)?),
            None => Ok(()),
        }
    }

    /// Whether to stop for Ctrl-C now. In a data-parallel job the ranks agree on it at each
    /// step (see [`Self::step`]), so all of them stop, and checkpoint, at the same one.
    fn stop_requested(&self) -> bool {
        match crate::dist::current() {
            Some(_) => self.stop_agreed,
            None => self.opts.interrupted.load(Ordering::SeqCst),
        }
    }

    /// A metrics row at `pos` with what every row has.
    fn row(&self, pos: &Position) -> MetricsRow {
        MetricsRow {
            step: pos.step,
            epoch: pos.epoch,
            stage: (self.plan.items == Items::Sequences).then_some(pos.stage),
            tokens: (self.plan.items == Items::Tokens).then_some(pos.items_seen),
            ..Default::default()
        }
    }

    fn stages(&mut self, pos: &mut Position) -> Result<Outcome> {
        let plan = self.plan;
        while pos.stage < plan.stages.len() {
            let stage = &plan.stages[pos.stage];
            if pos.epoch == 0 && pos.batch_in_epoch == 0 {
                pos.stage_start_step = pos.step;
            }
            freeze::set_trainable(self.opt, stage.trainable, plan.lr_div);
            self.task.set_frozen(&self.opt.group_frozen);
            let schedule = OneCycle {
                lr_max: stage.lr,
                pct_start: plan.pct_start,
                div: plan.div,
                final_div: plan.final_div,
                moms: plan.moms,
                total_steps: stage.schedule_steps,
            };
            while pos.epoch < stage.epochs {
                self.task
                    .start_epoch(pos.stage, pos.epoch, pos.batch_in_epoch)?;
                let Some(end) = self.epoch(pos, &schedule)? else {
                    return Ok(Outcome::Stopped);
                };
                let max_steps = matches!(end, EpochEnd::MaxSteps);
                let improved_or_kept = self.end_epoch(pos, max_steps)?;
                if max_steps {
                    return Ok(Outcome::Completed);
                }
                if !improved_or_kept && plan.patience > 0 && pos.since_best >= plan.patience {
                    self.bar.suspend(|| {
                        eprintln!(
                            "{}: stage {} stopped early: {} epochs without a better validation score",
                            plan.label,
                            pos.stage + 1,
                            pos.since_best
                        )
                    });
                    // The stage's remaining epochs drop out of the bar's total.
                    let per_epoch = stage.schedule_steps / stage.epochs.max(1);
                    let skipped = (stage.epochs - pos.epoch) * per_epoch;
                    self.bar
                        .set_length(self.bar.length().unwrap_or(0).saturating_sub(skipped));
                    break;
                }
            }
            pos.stage += 1;
            pos.epoch = 0;
            pos.batch_in_epoch = 0;
            pos.since_best = 0;
        }
        Ok(Outcome::Completed)
    }

    /// Steps through the rest of the epoch. None: stopped (`stop_after`) with a checkpoint.
    fn epoch(&mut self, pos: &mut Position, schedule: &OneCycle) -> Result<Option<EpochEnd>> {
        let plan = self.plan;
        loop {
            if self.stop_requested() {
                self.bar.finish_and_clear();
                self.checkpoint(pos)?;
                return Err(Error::Interrupted {
                    step: pos.step,
                    dir: self.out.to_path_buf(),
                });
            }
            if plan.max_steps > 0 && pos.step >= plan.max_steps {
                return Ok(Some(EpochEnd::MaxSteps));
            }
            if self.opts.stop_after.is_some_and(|s| pos.step >= s) {
                self.checkpoint(pos)?;
                return Ok(None);
            }
            let Some(batch) = self.task.next_batch()? else {
                return Ok(Some(EpochEnd::Exhausted));
            };
            let (lr, mom) = self.step(pos, schedule, &batch)?;
            if plan.log_every > 0 && pos.step.is_multiple_of(plan.log_every) {
                let mut row = self.row(pos);
                row.train_loss = pos.close_window();
                row.lr = Some(lr);
                row.mom = Some(mom);
                let rate = Some(self.timing.per_second());
                match plan.items {
                    Items::Tokens => row.tokens_per_s = rate,
                    Items::Sequences => row.sequences_per_s = rate,
                }
                self.log(&row)?;
            }
            if plan.checkpoint_every > 0 && pos.step.is_multiple_of(plan.checkpoint_every) {
                self.checkpoint(pos)?;
            }
        }
    }

    /// One optimizer step; returns its learning rate and momentum.
    fn step(
        &mut self,
        pos: &mut Position,
        schedule: &OneCycle,
        batch: &T::Batch,
    ) -> Result<(f64, f64)> {
        let started = Instant::now();
        let dist = crate::dist::current();
        // Each rank of a data-parallel job draws its own dropout masks (rank 0 the one-process ones).
        let rank = dist.map_or(0, |d| d.rank as u64);
        trainer::seed_step(self.plan.seed ^ rank.wrapping_mul(0x9E37_79B9), pos.step);
        let loss = self.task.train_loss(batch);
        let (lr, mom) = schedule.at(pos.step - pos.stage_start_step);
        trainer::minimize(self.opt, &loss.minimise, self.plan.clip, lr, mom)?;
        let mut reported = loss.report.double_value(&[]);
        if let Some(d) = dist {
            // The batch's loss is the mean of the ranks' (equal shares); a stop any rank was
            // asked for travels in the same allreduce.
            let stop = self.opts.interrupted.load(Ordering::SeqCst);
            let (mean, any) = d.mean_and_any(reported, stop)?;
            reported = mean;
            self.stop_agreed = any;
        }
        // Counted for the whole job (the ranks' shares are equal, to a row), so positions and
        // throughput mean the same whatever the number of ranks.
        let items = loss.items * dist.map_or(1, |d| d.world as u64);
        self.timing.record(pos.step, started, items);
        pos.step += 1;
        pos.batch_in_epoch += 1;
        pos.items_seen += items;
        pos.window_loss += reported;
        pos.window_steps += 1;
        self.bar.set_position(pos.step);
        let unit = match self.plan.items {
            Items::Tokens => "tok/s",
            Items::Sequences => "seq/s",
        };
        self.bar.set_message(format!(
            "stage {}/{} epoch {} loss {:.4} lr {lr:.2e} {:.0} {unit}",
            pos.stage + 1,
            self.plan.stages.len(),
            pos.epoch + 1,
            pos.window_loss / pos.window_steps as f64,
            self.timing.per_second()
        ));
        Ok((lr, mom))
    }

    /// Validation, the kept weights, the next epoch's position and a checkpoint. Returns whether
    /// the score improved (always true when the last weights are kept).
    fn end_epoch(&mut self, pos: &mut Position, max_steps: bool) -> Result<bool> {
        let mut row = self.row(pos);
        row.train_loss = pos.close_window();
        row.seconds = Some(self.started.elapsed().as_secs_f64());
        let score = self.task.validate(&mut row)?;
        if score.is_some() {
            self.log(&row)?;
            self.last_validation = Some(row);
        }
        let mut improved = true;
        if let (Keep::Best(path), Some(score)) = (&self.plan.keep, score) {
            improved = pos.best.is_none_or(|b| score > b);
            if improved {
                pos.best = Some(score);
                pos.since_best = 0;
                if crate::dist::is_main() {
                    checkpoint::save_weights(self.vs, path)?;
                }
            } else {
                pos.since_best += 1;
            }
        }
        if !max_steps {
            pos.epoch += 1;
            pos.batch_in_epoch = 0;
        }
        self.checkpoint(pos)?;
        Ok(improved)
    }
}
