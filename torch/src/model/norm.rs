//! BatchNorm that, in a data-parallel job, normalises with the statistics of the whole batch
//! across ranks (PyTorch's SyncBatchNorm): each rank holds B/ranks rows, and per-rank statistics
//! of fewer rows make 2 ranks at B/2 train another model than 1 rank at B (in
//! `test_two_ranks_follow_one_rank_through_batch_norm`, a first logged loss of 0.739 against 0.766).

use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// `bn` on `x` ([N, C] or [N, C, L]); in training mode of a data-parallel job, with the whole
/// batch's statistics (one allreduce of 2C + 1 numbers per layer, and one of 2C in the backward),
/// unless GENOLM_DIST_LOCAL_BN=1 asked for each rank's own.
pub fn batch_norm(bn: &nn::BatchNorm, x: &Tensor, train: bool) -> Tensor {
    match crate::dist::current() {
        Some(dist) if train && dist.sync_batch_norm => synced(bn, x, dist),
        _ => bn.forward_t(x, train),
    }
}

fn synced(bn: &nn::BatchNorm, x: &Tensor, dist: &crate::dist::Dist) -> Tensor {
    let config = nn::BatchNormConfig::default(); // the models' BatchNorms all use it
    let channels = x.size()[1];
    let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
    let per_channel: Vec<i64> = (0..x.dim())
        .map(|d| if d == 1 { channels } else { 1 })
        .collect();
    // Sums of x - shift: the running mean (the same on every rank) keeps the variance's
    // E[x²] - E[x]² from cancelling in fp32.
    let shift = bn.running_mean.detach().copy();
    let xf = x.to_kind(Kind::Float);
    let centred = &xf - shift.view(per_channel.as_slice());
    let local = Tensor::stack(
        &[
            centred.sum_dim_intlist(dims.as_slice(), false, Kind::Float),
            centred
                .square()
                .sum_dim_intlist(dims.as_slice(), false, Kind::Float),
        ],
        0,
    );
    let (sums, n) = dist.sum_over_ranks(&local, (x.numel() as i64 / channels) as f64);
    let mean_shifted = sums.get(0) / n;
    let var = (sums.get(1) / n - mean_shifted.square()).clamp_min(0.0);
    let mean = mean_shifted + &shift;
    tch::no_grad(|| {
        let m = config.momentum;
        let unbiased = var.detach() * (n / (n - 1.0).max(1.0));
        let (mut rm, mut rv) = (
            bn.running_mean.shallow_clone(),
            bn.running_var.shallow_clone(),
        );
        rm.copy_(&(&rm * (1.0 - m) + mean.detach() * m));
        rv.copy_(&(&rv * (1.0 - m) + unbiased * m));
    });
    let invstd = (var + config.eps).rsqrt();
    let scale = match &bn.ws {
        Some(w) => invstd * w,
        None => invstd,
    };
    let y = (xf - mean.view(per_channel.as_slice())) * scale.view(per_channel.as_slice());
    match &bn.bs {
        Some(b) => y + b.view(per_channel.as_slice()),
        None => y,
    }
    .to_kind(x.kind())
}
