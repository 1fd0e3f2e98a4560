//! Gradient attributions and fast in-silico mutagenesis for k-mer AWD-LSTM classifiers.
//!
//! Attributions are taken with respect to the token embeddings (ids have no gradient) and read
//! back onto bases: token j of frame f covers bases `f + j * stride .. + k`, and each of those
//! bases gets 1/k of the token's value ([`super::attribution::tokens_to_bases`]); frames are
//! averaged, as the classifier's predictions are.
//!
//! Mutagenesis reuses the LSTM's state: a substitution changes no token before the first k-mer
//! that covers it, so the state there is the reference's, cached once per sequence, and only the
//! rest of the sequence is read again, from that state (the pools take the reference's prefix
//! maximum and sum). Exact: the same arithmetic as reading the mutant whole.

use tch::{Device, Kind, Tensor};

use super::attribution::{
    input_attributions, log_odds, reference_sets, tokens_to_bases, AttributionOptions, Method,
};
use super::cnn::rows_of;
use crate::features::kmer::Encoded;
use crate::infer::predict::LoadedClassifier;
use crate::model::awd_lstm::{AwdLstm, Hidden};
use crate::model::classifier::EncoderInput;
use crate::train::Result;
use genolm::eval::metrics::Truth;
use genolm::tokenize::PAD_ID;

fn n_frames(m: &LoadedClassifier) -> usize {
    m.saved.config.train.n_frames(&m.tokenizer).max(1)
}

/// Token ids of `seqs` in every frame, in the encoder's reading direction.
fn encode(m: &LoadedClassifier, seqs: &[&[u8]]) -> Encoded {
    Encoded::new(
        &m.tokenizer,
        seqs.iter().copied(),
        Truth::Classes(vec![0; seqs.len()]),
        n_frames(m),
        m.saved.encoder.backwards,
    )
}

fn ids_tensor(rows: &[Vec<i64>], device: Device) -> Tensor {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat)
        .view([rows.len() as i64, rows[0].len() as i64])
        .to_device(device)
}

/// Per-base attributions of each sequence; sequences of one length are taken together.
pub fn attributions(
    m: &LoadedClassifier,
    seqs: &[&[u8]],
    o: &AttributionOptions,
) -> Result<Vec<Vec<f32>>> {
    let mut out: Vec<Vec<f32>> = seqs.iter().map(|s| vec![0.0; s.len()]).collect();
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| seqs[i].len());
    for group in order.chunk_by(|&a, &b| seqs[a].len() == seqs[b].len()) {
        let part: Vec<&[u8]> = group.iter().map(|&i| seqs[i]).collect();
        for (row, values) in group.iter().zip(same_length_attributions(m, &part, o)?) {
            out[*row] = values;
        }
    }
    Ok(out)
}

fn same_length_attributions(
    m: &LoadedClassifier,
    seqs: &[&[u8]],
    o: &AttributionOptions,
) -> Result<Vec<Vec<f32>>> {
    let device = m.vs.device();
    let encoder = m.model.encoder.cast_for_inference(Kind::Float);
    let (k, stride) = (m.tokenizer.k(), m.tokenizer.stride());
    let len = seqs[0].len();
    let frames = n_frames(m);
    let e = encode(m, seqs);
    let shuffled: Vec<Encoded> = if o.method == Method::Integrated {
        reference_sets(seqs, o.references, o.seed)
            .iter()
            .map(|set| {
                let refs: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
                encode(m, &refs)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut out = vec![vec![0.0f32; len]; seqs.len()];
    for f in 0..frames {
        let embed =
            |rows: &[Vec<i64>]| encoder.embed(&ids_tensor(rows, device), false, Kind::Float);
        let x = embed(&e.frames[f]);
        let refs = (!shuffled.is_empty()).then(|| {
            let per: Vec<Tensor> = shuffled.iter().map(|s| embed(&s.frames[f])).collect();
            Tensor::stack(&per, 0)
        });
        let tokens = x.size()[1];
        let score = |t: &Tensor| {
            let lens = vec![tokens; t.size()[0] as usize];
            let logits = m
                .model
                .forward_input(&encoder, EncoderInput::Embedded(t), &lens, false, m.kind)
                .to_kind(Kind::Float);
            log_odds(&logits, o.class, m.saved.multi_label)
        };
        let a = input_attributions(&x, refs.as_ref(), o, &score)?;
        let per_token = match o.method {
            Method::Grad => a.norm_scalaropt_dim(2, [2].as_slice(), false),
            _ => a.sum_dim_intlist([2].as_slice(), false, Kind::Float),
        };
        for (row, mut values) in out.iter_mut().zip(rows_of(&per_token)?) {
            if m.saved.encoder.backwards {
                values.reverse();
            }
            let bases = tokens_to_bases(&values, len, k, stride, f);
            for (v, b) in row.iter_mut().zip(bases) {
                *v += b / frames as f32;
            }
        }
    }
    Ok(out)
}

/// The reference's state before each token, and the prefix max and sum of its outputs.
struct Cache {
    /// Per layer, h and c before each token: [T + 1, size], row t after t tokens.
    states: Vec<(Tensor, Tensor)>,
    /// Row t: max and sum of outputs 0..t, [T + 1, emb] (max of none: -inf).
    prefix_max: Tensor,
    prefix_sum: Tensor,
}

fn cache(encoder: &AwdLstm, ids: &[i64], kind: Kind, device: Device) -> Cache {
    let (states, output) = encoder.states_along(&ids_tensor(&[ids.to_vec()], device), kind);
    let emb = output.size()[1];
    let first_max = Tensor::full([1, emb], f64::NEG_INFINITY, (Kind::Float, device));
    let first_sum = Tensor::zeros([1, emb], (Kind::Float, device));
    Cache {
        states,
        prefix_max: Tensor::cat(&[first_max, output.cummax(0).0], 0),
        prefix_sum: Tensor::cat(&[first_sum, output.cumsum(0, Kind::Float)], 0),
    }
}

/// Class probabilities of single-base substitutions (position, new base) of `seq`, reading each
/// mutant only from its first changed token (see the module doc). None when the sequence is
/// longer than the head pools over (`max_len` tokens): the prefix pools would not apply.
pub fn substitution_probs(
    m: &LoadedClassifier,
    seq: &[u8],
    subs: &[(usize, u8)],
    batch_size: usize,
) -> Result<Option<Vec<Vec<f64>>>> {
    let _guard = tch::no_grad_guard();
    let device = m.vs.device();
    let encoder = m.model.encoder.cast_for_inference(m.kind);
    let frames = n_frames(m);
    let reference = encode(m, &[seq]);
    if reference
        .frames
        .iter()
        .any(|f| f[0].len() as i64 > m.model.head.max_len)
    {
        return Ok(None);
    }
    let mutants: Vec<Vec<u8>> = subs.iter().map(|&s| super::ism::mutant(seq, s)).collect();
    let refs: Vec<&[u8]> = mutants.iter().map(Vec::as_slice).collect();
    let mutated = encode(m, &refs);
    let classes = m.saved.classes.len();
    let mut probs = vec![vec![0.0f64; classes]; subs.len()];
    for f in 0..frames {
        let ids = &reference.frames[f][0];
        let c = cache(&encoder, ids, m.kind, device);
        let whole = reference_probs(m, &encoder, ids, device);
        // Each mutant's first changed token; unchanged ones (a base no k-mer of this frame covers)
        // keep the reference's prediction.
        let mut work: Vec<(usize, usize)> = Vec::new();
        for (j, row) in mutated.frames[f].iter().enumerate() {
            match row.iter().zip(ids).position(|(a, b)| a != b) {
                Some(t0) => work.push((t0, j)),
                None => add(&mut probs[j], &whole, frames),
            }
        }
        // Longest suffixes first: each batch's rows then read as a prefix of it (see
        // `Classifier::read`).
        work.sort_by_key(|&(t0, j)| (t0, j));
        for batch in work.chunks(batch_size.max(1)) {
            let p = suffix_probs(
                m,
                &encoder,
                &c,
                ids.len(),
                batch,
                &mutated.frames[f],
                device,
            );
            for (&(_, j), row) in batch.iter().zip(p) {
                add(&mut probs[j], &row, frames);
            }
        }
    }
    Ok(Some(probs))
}

/// Tokens per LSTM call when reading suffixes: rows whose suffix has ended drop out between
/// calls, so the work follows the suffixes' total length rather than the longest's.
const SUFFIX_CHUNK: i64 = 8;

fn add(to: &mut [f64], p: &[f64], frames: usize) {
    for (a, b) in to.iter_mut().zip(p) {
        *a += b / frames as f64;
    }
}

fn probs_of(m: &LoadedClassifier, logits: &Tensor) -> Vec<Vec<f64>> {
    crate::infer::prob_rows(&crate::train::head_probs(logits, m.saved.multi_label))
}

fn reference_probs(
    m: &LoadedClassifier,
    encoder: &AwdLstm,
    ids: &[i64],
    device: Device,
) -> Vec<f64> {
    let x = ids_tensor(&[ids.to_vec()], device);
    let logits = m
        .model
        .forward_with(encoder, &x, i64::from(PAD_ID), false, m.kind)
        .to_kind(Kind::Float);
    probs_of(m, &logits).swap_remove(0)
}

/// Probabilities of mutants (first changed token, row in `rows`), each read from the cached state
/// before its first changed token.
fn suffix_probs(
    m: &LoadedClassifier,
    encoder: &AwdLstm,
    c: &Cache,
    total: usize,
    batch: &[(usize, usize)],
    rows: &[Vec<i64>],
    device: Device,
) -> Vec<Vec<f64>> {
    let width = total - batch[0].0;
    let lens: Vec<i64> = batch.iter().map(|&(t0, _)| (total - t0) as i64).collect();
    let padded: Vec<Vec<i64>> = batch
        .iter()
        .map(|&(t0, j)| {
            let mut r = rows[j][t0..].to_vec();
            r.resize(width, i64::from(PAD_ID));
            r
        })
        .collect();
    let at = Tensor::from_slice(&batch.iter().map(|&(t0, _)| t0 as i64).collect::<Vec<_>>())
        .to_device(device);
    let hidden: Hidden = c
        .states
        .iter()
        .map(|(h, cc)| {
            let pick = |s: &Tensor| s.index_select(0, &at).unsqueeze(0).to_kind(m.kind);
            (pick(h), pick(cc))
        })
        .collect();
    let x = ids_tensor(&padded, device);
    let (output, _) = m.model.read(
        encoder,
        EncoderInput::Ids(&x),
        &lens,
        hidden,
        Some(SUFFIX_CHUNK),
        false,
        m.kind,
    );
    let (n, emb) = (batch.len() as i64, output.size()[2]);
    let lens_t = Tensor::from_slice(&lens).to_device(device).unsqueeze(1);
    let pos = Tensor::arange(width as i64, (Kind::Int64, device)).unsqueeze(0);
    let pad = pos.ge_tensor(&lens_t).unsqueeze(-1);
    let last = output
        .gather(
            1,
            &(&lens_t - 1).unsqueeze(-1).expand([n, 1, emb], false),
            false,
        )
        .squeeze_dim(1);
    let max_pool = output
        .masked_fill(&pad, f64::NEG_INFINITY)
        .amax([1].as_slice(), false)
        .maximum(&c.prefix_max.index_select(0, &at));
    let mean_pool =
        (output
            .masked_fill(&pad, 0.0)
            .sum_dim_intlist([1].as_slice(), false, Kind::Float)
            + c.prefix_sum.index_select(0, &at))
            / total as f64;
    let logits = m
        .model
        .head_logits(&last, &max_pool, &mean_pool, false)
        .to_kind(Kind::Float);
    probs_of(m, &logits)
}
