//! Gradient attributions, the same for every model family: the family makes its continuous input
//! (one-hot bases, or k-mer embedding vectors) and a differentiable score; this module takes the
//! gradients (plain, times input, integrated along a path from shuffled references) and the family
//! maps them back to bases.
//!
//! The score attributed is the followed class's log-odds: `logit_c - logsumexp(other logits)` for a
//! softmax model (for two classes, `logit_c - logit_other`), the logit itself for a multi-label
//! (sigmoid) model. Log-odds, not probabilities: gradients of a saturated probability vanish.

use tch::{Kind, Tensor};

use crate::train::{Error, Result};

/// How attributions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The gradient (one-hot: at the observed base, minus the mean over the four bases; k-mers:
    /// the gradient's length per token).
    Grad,
    /// Gradient x input: one-hot, the gradient at the observed base; k-mers, the gradient's dot
    /// product with the token's embedding.
    GradXInput,
    /// Integrated gradients (Sundararajan et al. 2017): (input - reference) x the mean gradient on
    /// the straight path between them, averaged over dinucleotide-shuffled references. Sums to
    /// the score's change from the references (completeness).
    Integrated,
}

/// What an attribution run follows and how.
#[derive(Debug, Clone)]
pub struct AttributionOptions {
    /// Index of the class whose log-odds are attributed.
    pub class: usize,
    pub method: Method,
    /// Integrated gradients: points on each path (midpoint rule).
    pub steps: usize,
    /// Integrated gradients: shuffled references per sequence.
    pub references: usize,
    pub seed: u64,
    /// Rows per forward/backward pass.
    pub batch_size: usize,
}

/// The followed class's log-odds per row of logits [rows, classes] (see the module doc).
pub fn log_odds(logits: &Tensor, class: usize, multi_label: bool) -> Tensor {
    let c = class as i64;
    let own = logits.select(1, c);
    if multi_label || logits.size()[1] < 2 {
        return own;
    }
    let mask = Tensor::zeros_like(logits).index_fill(
        1,
        &Tensor::from_slice(&[c]).to_device(logits.device()),
        f64::NEG_INFINITY,
    );
    own - (logits + mask).logsumexp([1].as_slice(), false)
}

/// Gradients of `score` (one value per row) with respect to `x`, `rows` rows per pass.
fn gradients(x: &Tensor, rows: usize, score: &dyn Fn(&Tensor) -> Tensor) -> Result<Tensor> {
    let n = x.size()[0];
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = (rows as i64).min(n - start);
        let part = x.narrow(0, start, len).detach().set_requires_grad(true);
        let s = score(&part).sum(Kind::Float);
        let g = Tensor::f_run_backward(&[s], &[&part], false, false)?;
        parts.push(g[0].detach());
        start += len;
    }
    Ok(Tensor::cat(&parts, 0))
}

/// Attribution of every input element (the shape of `x`, [rows, ...]) by `method`; `references`
/// [n_refs, rows, ...] are the integrated gradients' starting points. The family reduces the
/// elements to one value per base.
pub fn input_attributions(
    x: &Tensor,
    references: Option<&Tensor>,
    o: &AttributionOptions,
    score: &dyn Fn(&Tensor) -> Tensor,
) -> Result<Tensor> {
    let x = x.to_kind(Kind::Float);
    match o.method {
        Method::Grad => gradients(&x, o.batch_size, score),
        Method::GradXInput => Ok(gradients(&x, o.batch_size, score)? * &x),
        Method::Integrated => {
            let refs = references
                .ok_or_else(|| Error::Internal("integrated gradients need references".into()))?
                .to_kind(Kind::Float);
            let (n_refs, steps) = (refs.size()[0], o.steps.max(1) as i64);
            let alphas: Vec<f32> = (0..steps)
                .map(|m| (m as f32 + 0.5) / steps as f32)
                .collect();
            let alphas = Tensor::from_slice(&alphas).to_device(x.device());
            let mut total = Tensor::zeros_like(&x);
            for r in 0..n_refs {
                let r0 = refs.get(r);
                let delta = &x - &r0;
                // [steps, rows, ...] flattened to [steps * rows, ...]: each point of each path.
                let mut shape = vec![steps];
                shape.extend(std::iter::repeat_n(1, x.dim()));
                let path = r0.unsqueeze(0) + alphas.view(shape.as_slice()) * delta.unsqueeze(0);
                let flat = path.flatten(0, 1);
                let g = gradients(&flat, o.batch_size, score)?;
                let mut grid = vec![steps];
                grid.extend(x.size());
                let mean = g
                    .view(grid.as_slice())
                    .mean_dim([0].as_slice(), false, Kind::Float);
                total += delta * mean;
            }
            Ok(total / n_refs as f64)
        }
    }
}

/// `n` dinucleotide shuffles of `seq`, the integrated gradients' references: seeded by `seed` and
/// the sequence itself, so a sequence gets the same references in any batch or order.
pub fn references(seq: &[u8], n: usize, seed: u64) -> Vec<Vec<u8>> {
    // FNV-1a of the bases.
    let hash = seq.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b.to_ascii_uppercase())).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = genolm::rng::SplitMix64::new(seed ^ hash);
    let upper = seq.to_ascii_uppercase();
    (0..n)
        .map(|_| genolm::genome::shuffle::dinucleotide_shuffle(&upper, &mut rng))
        .collect()
}

/// The references of a batch, reference by reference: `out[r][i]` is sequence i's r-th shuffle.
pub fn reference_sets(seqs: &[&[u8]], n: usize, seed: u64) -> Vec<Vec<Vec<u8>>> {
    let per_seq: Vec<Vec<Vec<u8>>> = seqs.iter().map(|s| references(s, n, seed)).collect();
    (0..n)
        .map(|r| per_seq.iter().map(|refs| refs[r].clone()).collect())
        .collect()
}

/// Per-base values from per-token values of one k-mer reading: token `j` covers bases
/// `offset + j * stride .. + k`, and each of those bases gets 1/k of its value (so the bases'
/// sum is the tokens'). Bases no token covers get 0.
pub fn tokens_to_bases(
    values: &[f32],
    len: usize,
    k: usize,
    stride: usize,
    offset: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; len];
    let share = 1.0 / k as f32;
    for (j, &v) in values.iter().enumerate() {
        let from = offset + j * stride;
        for b in out.iter_mut().skip(from).take(k) {
            *b += v * share;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_tokens_spread_their_value_over_the_bases_they_cover() {
        // 3-mers, stride 1, over 6 bases: 4 tokens.
        let b = tokens_to_bases(&[3.0, 0.0, 0.0, 6.0], 6, 3, 1, 0);
        assert_eq!(b, [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        // Stride 3 from frame 1: tokens at bases 1..4 and 4..7; base 0 and 7 uncovered.
        let b = tokens_to_bases(&[3.0, 6.0], 8, 3, 3, 1);
        assert_eq!(b, [0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.0]);
        assert_eq!(b.iter().sum::<f32>(), 9.0);
    }

    #[test]
    fn test_log_odds_of_two_classes_is_the_logit_difference() {
        let logits = Tensor::from_slice(&[1.0f32, 3.0, -2.0, 0.5]).view([2, 2]);
        let lo: Vec<f32> = Vec::try_from(log_odds(&logits, 1, false)).unwrap();
        assert!(
            (lo[0] - 2.0).abs() < 1e-6 && (lo[1] - 2.5).abs() < 1e-6,
            "{lo:?}"
        );
        let own: Vec<f32> = Vec::try_from(log_odds(&logits, 0, true)).unwrap();
        assert_eq!(own, [1.0, -2.0]);
    }

    #[test]
    fn test_integrated_gradients_are_complete_for_a_smooth_score() {
        // score = sum(x^2) per row: IG from r sums to |x|^2 - |r|^2.
        let x = Tensor::from_slice(&[1.0f32, 2.0, -1.0, 0.5]).view([2, 2]);
        let r = Tensor::from_slice(&[0.0f32, 1.0, 1.0, 0.0]).view([1, 2, 2]);
        let o = AttributionOptions {
            class: 0,
            method: Method::Integrated,
            steps: 50,
            references: 1,
            seed: 0,
            batch_size: 7,
        };
        let score = |t: &Tensor| (t * t).sum_dim_intlist([1].as_slice(), false, Kind::Float);
        let a = input_attributions(&x, Some(&r), &o, &score).unwrap();
        let sums: Vec<f32> =
            Vec::try_from(a.sum_dim_intlist([1].as_slice(), false, Kind::Float)).unwrap();
        assert!((sums[0] - (5.0 - 1.0)).abs() < 1e-3, "{sums:?}");
        assert!((sums[1] - (1.25 - 1.0)).abs() < 1e-3, "{sums:?}");
    }
}
