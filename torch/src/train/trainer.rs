//! What the fit loop ([`super::fit`]) and its tasks share: device and precision, the optimizer over
//! the model's layer groups, per-step dropout seeds, the update step, throughput, and the refusal
//! to overwrite a model.

use std::path::Path;
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::freeze::LayerGroups;
use super::optim::{AdamW, AdamWConfig, LossScaler};
use super::{Error, Precision, Result};
use crate::modeldir::{MODEL_FILE, TRAIN_STATE_DIR};

/// Where a run computes, and in what precision.
#[derive(Debug, Clone, Copy)]
pub struct Runtime {
    pub device: Device,
    /// The precision the run uses (`auto` decided).
    pub precision: Precision,
    pub kind: Kind,
}

impl Runtime {
    /// `device` as given (auto, cpu, cuda, cuda:N), the precision's compute kind there, libtorch's
    /// threads (0: its default), and the global seed (weight initialisation) set.
    pub fn new(device: &str, precision: Precision, threads: i32, seed: u64) -> Result<Self> {
        let device = crate::device::resolve(device.parse()?)?;
        let precision = precision.resolve(device)?;
        let kind = precision.kind(device)?;
        if threads > 0 {
            tch::set_num_threads(threads);
        }
        tch::manual_seed(seed as i64);
        Ok(Self {
            device,
            precision,
            kind,
        })
    }
}

/// Joins the data-parallel job this process was launched into, if any (torchrun, srun,
/// `genolm launch`), and takes the output's lock on rank 0, which alone writes: a second run on
/// the same --out refuses. Returns (rank, world) and the lock, held for the whole run.
pub fn join_job(
    device: &str,
    out: &Path,
) -> Result<((usize, usize), Option<genolm::fsutil::OutputLock>)> {
    let device = crate::device::resolve(device.parse()?)?;
    let place = crate::dist::init(device)?.map_or((0, 1), |d| (d.rank, d.world));
    let lock = match place.0 {
        0 => Some(genolm::fsutil::OutputLock::for_dir(out)?),
        _ => None,
    };
    Ok((place, lock))
}

/// AdamW over the model's layer groups. Variables without gradients (BatchNorm's running
/// statistics) are buffers, not parameters.
/// With `loss_scaler`, every step scales its loss (see [`minimize`]).
pub fn optimizer(
    groups: &LayerGroups,
    vs: &nn::VarStore,
    config: AdamWConfig,
    loss_scaler: Option<LossScaler>,
) -> Result<AdamW> {
    let trainable = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let named = groups.assign(trainable).map_err(Error::Internal)?;
    let mut opt = AdamW::new(named, groups.len(), config);
    opt.loss_scaler = loss_scaler;
    Ok(opt)
}

/// Seeds the dropout masks of step `step` from (seed, step) alone, so that a resumed run draws the
/// same masks as an uninterrupted one.
pub fn seed_step(seed: u64, step: u64) {
    tch::manual_seed(
        (seed as i64)
            .wrapping_mul(1_000_003)
            .wrapping_add(step as i64),
    );
}

/// Gradients of `loss`, clipped to a global norm of `clip`, then one AdamW update. With a loss
/// scaler the loss is scaled for the backward pass and the gradients unscaled before clipping; a
/// step whose gradients overflowed updates nothing (and lowers the scale). In a data-parallel job
/// the gradients are first averaged over the ranks, so every rank takes the same step.
pub fn minimize(opt: &mut AdamW, loss: &Tensor, clip: f64, lr: f64, mom: f64) -> Result<()> {
    let scale = opt.loss_scaler.map_or(1.0, |s| s.scale);
    let dist = crate::dist::current();
    // Data-parallel: the gradients' allreduces start during the backward pass.
    if let Some(d) = dist {
        let params: Vec<&Tensor> = opt.params.iter().map(|p| &p.param).collect();
        let live: Vec<bool> = opt
            .params
            .iter()
            .map(|p| !opt.group_frozen[p.group])
            .collect();
        d.before_backward(&params, &live)?;
    }
    let mut grads = if scale == 1.0 {
        opt.backward(loss)
    } else {
        opt.backward(&(loss * scale))
    };
    if let Some(d) = dist {
        d.after_backward(&mut grads)?;
    }
    if scale != 1.0 {
        let _guard = tch::no_grad_guard();
        for g in grads.iter_mut().flatten() {
            let _ = g.g_mul_scalar_(1.0 / scale);
        }
    }
    // The norm that clipping computes anyway tells whether any gradient overflowed.
    let norm = AdamW::clip_grad_norm(&mut grads, clip);
    if let Some(scaler) = opt.loss_scaler.as_mut() {
        if !scaler.update(norm.is_finite()) {
            return Ok(());
        }
    }
    opt.step(&grads, lr, mom);
    Ok(())
}

/// Training throughput (tokens or sequences per second of forward, backward and update), over the
/// steps after the first few: those warm up allocators and oneDNN kernels.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepTiming {
    seconds: f64,
    items: u64,
}

impl StepTiming {
    const WARMUP_STEPS: u64 = 3;

    /// Step number `step` (0-based) of `items` items, started at `started`.
    pub fn record(&mut self, step: u64, started: Instant, items: u64) {
        if step >= Self::WARMUP_STEPS {
            self.seconds += started.elapsed().as_secs_f64();
            self.items += items;
        }
    }

    pub fn per_second(&self) -> f64 {
        self.items as f64 / self.seconds.max(1e-9)
    }
}

/// A fresh run never overwrites a model or a checkpoint in `out`.
pub fn refuse_existing(out: &Path, what: &'static str) -> Result<()> {
    if out.join(TRAIN_STATE_DIR).exists() || out.join(MODEL_FILE).exists() {
        return Err(Error::Exists {
            path: out.to_path_buf(),
            what,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_step_timing_skips_warmup_steps() {
        let mut t = StepTiming::default();
        let long_ago = Instant::now() - std::time::Duration::from_secs(100);
        for step in 0..3 {
            t.record(step, long_ago, 10);
        }
        assert_eq!(t.items, 0);
        t.record(3, Instant::now(), 10);
        t.record(4, Instant::now(), 10);
        assert_eq!(t.items, 20);
        // The warm-up steps' 100 s are not in the rate.
        assert!(t.per_second() > 1000.0, "{}", t.per_second());
    }

    /// AdamW over one scalar parameter x = 1, with or without a loss scaler.
    fn one_param(scaler: Option<LossScaler>) -> (Tensor, AdamW) {
        let (x, mut opt) = crate::train::optim::one_param(1.0, 1e-5);
        opt.loss_scaler = scaler;
        (x, opt)
    }

    #[test]
    fn test_scaled_steps_equal_plain_ones_and_overflow_is_skipped() {
        let quadratic = |x: &Tensor| (x - 3.0).pow_tensor_scalar(2).sum(Kind::Float);
        let (plain, mut p_opt) = one_param(None);
        let (scaled, mut s_opt) = one_param(Some(LossScaler::default()));
        for _ in 0..3 {
            minimize(&mut p_opt, &quadratic(&plain), 0.0, 0.1, 0.9).unwrap();
            minimize(&mut s_opt, &quadratic(&scaled), 0.0, 0.1, 0.9).unwrap();
        }
        assert!(plain.equal(&scaled), "power-of-two scaling is exact");
        assert_eq!(s_opt.loss_scaler.unwrap().good_steps, 3);
        // 1e35 x 65536 overflows fp32: the step must leave x, the moments and the step count alone.
        let before = scaled.copy();
        minimize(
            &mut s_opt,
            &(&scaled * 1e35).sum(Kind::Float),
            0.0,
            0.1,
            0.9,
        )
        .unwrap();
        assert!(scaled.equal(&before), "an overflowed step updates nothing");
        assert_eq!(s_opt.step, 3);
        assert_eq!(s_opt.loss_scaler.unwrap().scale, 32768.0);
    }

    #[test]
    fn test_seed_step_replays_the_same_dropout_mask() {
        let mask = || crate::model::dropout::keep_mask(&[64], 0.5, Kind::Float, Device::Cpu);
        seed_step(42, 7);
        let a = mask();
        seed_step(42, 8);
        let b = mask();
        seed_step(42, 7);
        assert!(a.equal(&mask()));
        assert!(!a.equal(&b));
    }

    #[test]
    fn test_refuse_existing_names_the_directory() {
        let dir = std::env::temp_dir().join(format!("genolm-refuse-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(TRAIN_STATE_DIR)).unwrap();
        let err = refuse_existing(&dir, "classifier").unwrap_err().to_string();
        assert!(
            err.contains("already holds a classifier") && err.contains("--resume"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(refuse_existing(&dir, "classifier").is_ok());
    }
}
