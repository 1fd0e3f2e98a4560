//! Gradient attributions and fast in-silico mutagenesis for one-hot CNNs.

use tch::{Device, Kind, Tensor};

use super::attribution::{
    input_attributions, log_odds, reference_sets, AttributionOptions, Method,
};
use crate::features::onehot::one_hot;
use crate::infer::cnn::LoadedCnn;
use crate::train::Result;
use genolm::genome::nucleotide::reverse_complement;

fn rc_all(seqs: &[&[u8]]) -> Vec<Vec<u8>> {
    seqs.iter().map(|s| reverse_complement(s)).collect()
}

/// Per-base attributions of each sequence (all of the model's input length): on the given strand,
/// and for a model that averages strands (`rc_average`), the mean with its reverse complement's
/// read back onto this strand.
pub fn attributions(
    m: &LoadedCnn,
    seqs: &[&[u8]],
    o: &AttributionOptions,
) -> Result<Vec<Vec<f32>>> {
    let mut out = strand_attributions(m, seqs, o)?;
    if m.spec.config.train.rc_average {
        let rc = rc_all(seqs);
        let refs: Vec<&[u8]> = rc.iter().map(Vec::as_slice).collect();
        crate::infer::average_reversed(&mut out, strand_attributions(m, &refs, o)?);
    }
    Ok(out)
}

fn strand_attributions(
    m: &LoadedCnn,
    seqs: &[&[u8]],
    o: &AttributionOptions,
) -> Result<Vec<Vec<f32>>> {
    let (len, n_enc, device) = (
        m.spec.model.input_len as usize,
        m.spec.model.n_encoding,
        m.vs.device(),
    );
    let x = channels_last(one_hot(seqs, len, n_enc)).to_device(device);
    let refs = (o.method == Method::Integrated).then(|| {
        let per_ref: Vec<Tensor> = reference_sets(seqs, o.references, o.seed)
            .iter()
            .map(|set| {
                let refs: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
                channels_last(one_hot(&refs, len, n_enc))
            })
            .collect();
        Tensor::stack(&per_ref, 0).to_device(device)
    });
    let score = |t: &Tensor| {
        log_odds(
            &m.model.forward(t, false, m.kind),
            o.class,
            m.spec.multi_label,
        )
    };
    let a = input_attributions(&x, refs.as_ref(), o, &score)?;
    // The observed base's value; the plain gradient relative to the mean of the four bases (a
    // base's gradient alone carries an offset shared by all four, which one-hot input never varies).
    let weight = match o.method {
        Method::Grad => &x - 0.25,
        _ => Tensor::ones_like(&x),
    };
    let per_base = (a * weight).sum_dim_intlist([1].as_slice(), false, Kind::Float);
    rows_of(&per_base)
}

/// The same one-hot values laid out position-major ([batch, length, 4] in memory, viewed as
/// [batch, 4, length]): oneDNN then picks its channels-last convolutions, whose bf16 backward pass
/// avoids the slow col2im path of the channel-major layout (BENCHMARKS.md, issue #23).
fn channels_last(x: Tensor) -> Tensor {
    x.permute([0, 2, 1]).contiguous().permute([0, 2, 1])
}

/// A [rows, len] tensor as rows of values.
pub(crate) fn rows_of(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    let len = t.size()[1] as usize;
    let flat: Vec<f32> =
        Vec::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))?;
    Ok(flat.chunks(len.max(1)).map(<[f32]>::to_vec).collect())
}

/// Class probabilities of single-base substitutions (position, new base) of `seq`, through
/// [`crate::model::cnn::Cnn::substitution_logits`]: only each substitution's receptive field is
/// recomputed. A model that averages strands gets the mean of both, as its predictions do.
pub fn substitution_probs(
    m: &LoadedCnn,
    seq: &[u8],
    subs: &[(usize, u8)],
    batch_size: usize,
) -> Vec<Vec<f64>> {
    let mut probs = strand_substitution_probs(m, seq, subs, batch_size);
    if m.spec.config.train.rc_average {
        let (rc, mapped) = crate::infer::substitutions_on_reverse(seq, subs);
        let back = strand_substitution_probs(m, &rc, &mapped, batch_size);
        crate::infer::average_rows(&mut probs, back);
    }
    probs
}

fn strand_substitution_probs(
    m: &LoadedCnn,
    seq: &[u8],
    subs: &[(usize, u8)],
    batch_size: usize,
) -> Vec<Vec<f64>> {
    let _guard = tch::no_grad_guard();
    let (len, n_enc, device) = (
        m.spec.model.input_len as usize,
        m.spec.model.n_encoding,
        m.vs.device(),
    );
    let reference = one_hot(&[seq], len, n_enc).to_device(device);
    let mut out = Vec::with_capacity(subs.len());
    for part in subs.chunks(batch_size.max(1)) {
        let alts: Vec<[u8; 1]> = part.iter().map(|&(_, a)| [a]).collect();
        let alts: Vec<&[u8]> = alts.iter().map(|a| a.as_slice()).collect();
        let x = one_hot(&alts, 1, n_enc).to_device(device);
        let positions: Vec<i64> = part.iter().map(|&(i, _)| i as i64).collect();
        let logits = m
            .model
            .substitution_logits(&reference, &x, &positions, m.kind);
        let p = crate::train::head_probs(&logits, m.spec.multi_label);
        out.extend(crate::infer::prob_rows(&p));
    }
    out
}
