//! AdamW as fastai runs it (decoupled weight decay, debiased moments), over parameter groups with
//! their own learning rates (discriminative fine-tuning) and a frozen flag (gradual unfreezing).

use tch::Tensor;

pub struct ParamState {
    pub name: String,
    pub param: Tensor,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
    /// Index of the group this parameter belongs to.
    pub group: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

pub struct AdamW {
    pub params: Vec<ParamState>,
    /// Learning-rate multiplier per group (1.0 = the schedule's lr).
    pub group_lr_mult: Vec<f64>,
    pub group_frozen: Vec<bool>,
    pub config: AdamWConfig,
    pub step: u64,
    /// Dynamic loss scaling (fp16), saved and resumed with the moments.
    pub loss_scaler: Option<LossScaler>,
}

/// Dynamic loss scaling, as PyTorch's `GradScaler`: the loss is multiplied by `scale` before the
/// backward pass so that small fp16 gradients do not flush to zero, and the gradients divided by it
/// after. A step whose gradients overflowed is skipped and the scale halved; after
/// [`GROWTH_INTERVAL`](Self::GROWTH_INTERVAL) good steps in a row it doubles. Scales are powers of
/// two, so scaling and unscaling are exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScaler {
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub good_steps: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self {
            scale: 65536.0,
            good_steps: 0,
        }
    }
}

impl LossScaler {
    pub const GROWTH_INTERVAL: u64 = 2000;

    /// Records whether a step's gradients were finite; returns whether its update may be applied.
    pub fn update(&mut self, finite: bool) -> bool {
        if !finite {
            self.scale = (self.scale / 2.0).max(1.0);
            self.good_steps = 0;
            return false;
        }
        self.good_steps += 1;
        if self.good_steps == Self::GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        true
    }
}

impl AdamW {
    /// `named` in a fixed order (sorted by name), each with its group index.
    pub fn new(named: Vec<(String, Tensor, usize)>, n_groups: usize, config: AdamWConfig) -> Self {
        let params = named
            .into_iter()
            .map(|(name, param, group)| ParamState {
                exp_avg: param.zeros_like(),
                exp_avg_sq: param.zeros_like(),
                name,
                param,
                group,
            })
            .collect();
        Self {
            params,
            group_lr_mult: vec![1.0; n_groups],
            group_frozen: vec![false; n_groups],
            config,
            step: 0,
            loss_scaler: None,
        }
    }

    /// Gradients of `loss` for the trainable parameters (None for frozen groups), computed fresh
    /// rather than accumulated into `.grad`: no zeroing pass and no read-modify-write of old
    /// gradients, as PyTorch's `zero_grad(set_to_none=True)`.
    pub fn backward(&self, loss: &Tensor) -> Vec<Option<Tensor>> {
        let live: Vec<&Tensor> = self
            .params
            .iter()
            .filter(|p| !self.group_frozen[p.group])
            .map(|p| &p.param)
            .collect();
        let mut grads = Tensor::run_backward(&[loss], &live, false, false).into_iter();
        self.params
            .iter()
            .map(|p| {
                if self.group_frozen[p.group] {
                    None
                } else {
                    grads.next()
                }
            })
            .collect()
    }

    /// Scales `grads` so their global norm is at most `max_norm` (0 = no clipping); returns the norm.
    pub fn clip_grad_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> f64 {
        let _guard = tch::no_grad_guard();
        let sq: Vec<Tensor> = grads
            .iter()
            .flatten()
            .map(|g| g.pow_tensor_scalar(2).sum(tch::Kind::Float))
            .collect();
        if sq.is_empty() {
            return 0.0;
        }
        let norm = Tensor::stack(&sq, 0)
            .sum(tch::Kind::Float)
            .sqrt()
            .double_value(&[]);
        if max_norm > 0.0 && norm > max_norm {
            let scale = max_norm / (norm + 1e-6);
            for g in grads.iter_mut().flatten() {
                let _ = g.g_mul_scalar_(scale);
            }
        }
        norm
    }

    /// One update with learning rate `lr` (times each group's multiplier) and beta1 = `mom`.
    /// In place, with two temporaries per parameter (g*g and the denominator).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64, mom: f64) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let t = self.step as i32;
        let (b2, eps, wd) = (self.config.beta2, self.config.eps, self.config.weight_decay);
        let debias1 = 1.0 - mom.powi(t);
        let debias2 = 1.0 - b2.powi(t);
        for (p, g) in self.params.iter_mut().zip(grads) {
            let Some(g) = g else { continue };
            let lr = lr * self.group_lr_mult[p.group];
            if wd != 0.0 {
                let _ = p.param.g_mul_scalar_(1.0 - lr * wd);
            }
            let _ = p.exp_avg.lerp_(g, 1.0 - mom);
            let _ = p.exp_avg_sq.lerp_(&(g * g), 1.0 - b2);
            // p -= step * m / (sqrt(v / debias2) + eps), as p += m / d with
            // d = -(sqrt(v) / sqrt(debias2) + eps) / step.
            let step = lr / debias1;
            let mut d = p.exp_avg_sq.sqrt();
            let _ = d.g_mul_scalar_(-1.0 / (step * debias2.sqrt()));
            let _ = d.g_add_scalar_(-eps / step);
            let _ = p.param.addcdiv_(&p.exp_avg, &d);
        }
    }
}

/// For tests: a one-element parameter starting at `x0` and AdamW over it (beta2 0.99, no decay).
#[cfg(test)]
pub(crate) fn one_param(x0: f32, eps: f64) -> (Tensor, AdamW) {
    let x = Tensor::from_slice(&[x0]).set_requires_grad(true);
    let cfg = AdamWConfig {
        beta2: 0.99,
        eps,
        weight_decay: 0.0,
    };
    let opt = AdamW::new(vec![("x".into(), x.shallow_clone(), 0)], 1, cfg);
    (x, opt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_loss_scaler_backs_off_on_overflow_and_grows_after_good_steps() {
        let mut s = LossScaler::default();
        assert!(!s.update(false), "an overflowed step is skipped");
        assert_eq!(s.scale, 32768.0);
        for _ in 0..LossScaler::GROWTH_INTERVAL - 1 {
            assert!(s.update(true));
        }
        assert_eq!(s.scale, 32768.0, "not yet");
        assert!(s.update(true));
        assert_eq!(
            (s.scale, s.good_steps),
            (65536.0, 0),
            "doubled after the interval"
        );
        s.update(true);
        s.update(false);
        assert_eq!(
            (s.scale, s.good_steps),
            (32768.0, 0),
            "an overflow restarts the count"
        );
        let mut floor = LossScaler {
            scale: 1.0,
            good_steps: 0,
        };
        floor.update(false);
        assert_eq!(floor.scale, 1.0, "never below 1");
    }

    /// AdamW on f(x) = (x - 3)^2 converges, and matches a hand-computed first step.
    #[test]
    fn test_adamw_first_step_and_convergence() {
        let (x, mut opt) = one_param(0.0, 1e-8);
        for i in 0..500 {
            let loss = (&x - 3.0).pow_tensor_scalar(2).sum(tch::Kind::Float);
            let grads = opt.backward(&loss);
            opt.step(&grads, 0.1, 0.9);
            if i == 0 {
                // Debiased first step moves by lr * sign(grad).
                assert!((x.double_value(&[0]) - 0.1).abs() < 1e-5);
            }
        }
        assert!(
            (x.double_value(&[0]) - 3.0).abs() < 1e-2,
            "{}",
            x.double_value(&[0])
        );
    }

    #[test]
    fn test_frozen_group_does_not_move() {
        let a = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let b = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let cfg = AdamWConfig {
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut opt = AdamW::new(
            vec![
                ("a".into(), a.shallow_clone(), 0),
                ("b".into(), b.shallow_clone(), 1),
            ],
            2,
            cfg,
        );
        opt.group_frozen[0] = true;
        let grads = opt.backward(&(&a * &b).sum(tch::Kind::Float));
        assert!(grads[0].is_none() && grads[1].is_some());
        opt.step(&grads, 0.1, 0.9);
        assert_eq!(a.double_value(&[0]), 1.0);
        assert!(b.double_value(&[0]) < 1.0);
    }
}
