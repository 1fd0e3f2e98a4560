//! In-silico mutagenesis: every base of a sequence changed to each of the other three, scored
//! against the sequence's own prediction with `variants score`'s formulas (diff, abs diff, logit
//! diff, log2 fold change). A base that is not A/C/G/T is changed to all four.
//!
//! Fast by construction where the family allows ([`Predictor::substitution_probs`]): a CNN
//! recomputes only each substitution's receptive field, an LSTM reads each mutant from its cached
//! state before the first changed k-mer. Otherwise (or with `naive`) each mutant is predicted
//! whole through the one prediction interface. Both give the same numbers (tested within 1e-4).

use super::super::infer::predict::predict_sequences;
use super::super::infer::variants::effect_scores;
use super::super::infer::Predictor;
use crate::train::Result;

const BASES: [u8; 4] = *b"ACGT";

/// Mutants predicted per call: memory stays bounded for long sequences (3 x L mutants of L bases).
const MUTANTS_PER_CALL: usize = 2048;

pub struct IsmOptions {
    /// Index of the class whose probability is followed.
    pub class: usize,
    /// Mean of the forward and reverse-complement predictions.
    pub both_strands: bool,
    pub batch_size: usize,
    /// Predict every mutant whole, not through the family's fast path.
    pub naive: bool,
}

/// One single-base substitution and its effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Substitution {
    /// 0-based position in the sequence.
    pub position: usize,
    pub reference: u8,
    pub alt: u8,
    pub p_alt: f64,
}

/// A sequence's prediction and every substitution's.
#[derive(Debug, Clone)]
pub struct Ism {
    pub p_ref: f64,
    pub substitutions: Vec<Substitution>,
}

/// `seq` with the substitution (position, new base) made.
pub fn mutant(seq: &[u8], (i, a): (usize, u8)) -> Vec<u8> {
    let mut m = seq.to_vec();
    m[i] = a;
    m
}

/// The substitutions of `seq`, position by position, bases in A, C, G, T order.
pub fn substitutions_of(seq: &[u8]) -> Vec<(usize, u8)> {
    let mut out = Vec::with_capacity(seq.len() * 3);
    for (i, &b) in seq.iter().enumerate() {
        let b = b.to_ascii_uppercase();
        out.extend(BASES.iter().filter(|&&a| a != b).map(|&a| (i, a)));
    }
    out
}

/// Every single-base substitution of `seq`, predicted.
pub fn ism(p: &dyn Predictor, seq: &[u8], o: &IsmOptions) -> Result<Ism> {
    let p_ref = predict_sequences(p, &[seq.to_vec()], o.both_strands, o.batch_size)?[0][o.class];
    let subs = substitutions_of(seq);
    let probs = match fast_probs(p, seq, &subs, o)? {
        Some(probs) => probs,
        None => naive_probs(p, seq, &subs, o)?,
    };
    let substitutions = subs
        .iter()
        .zip(probs)
        .map(|(&(i, a), pr)| Substitution {
            position: i,
            reference: seq[i].to_ascii_uppercase(),
            alt: a,
            p_alt: pr[o.class],
        })
        .collect();
    Ok(Ism {
        p_ref,
        substitutions,
    })
}

/// The family's fast path, on both strands when asked (None: it has none).
fn fast_probs(
    p: &dyn Predictor,
    seq: &[u8],
    subs: &[(usize, u8)],
    o: &IsmOptions,
) -> Result<Option<Vec<Vec<f64>>>> {
    if o.naive {
        return Ok(None);
    }
    let Some(mut probs) = p.substitution_probs(seq, subs, o.batch_size)? else {
        return Ok(None);
    };
    if o.both_strands && !p.strand_symmetric() {
        let (rc, mapped) = crate::infer::substitutions_on_reverse(seq, subs);
        let Some(back) = p.substitution_probs(&rc, &mapped, o.batch_size)? else {
            return Ok(None);
        };
        crate::infer::average_rows(&mut probs, back);
    }
    Ok(Some(probs))
}

/// Every mutant predicted whole, in bounded parts.
fn naive_probs(
    p: &dyn Predictor,
    seq: &[u8],
    subs: &[(usize, u8)],
    o: &IsmOptions,
) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(subs.len());
    for part in subs.chunks(MUTANTS_PER_CALL) {
        let mutants: Vec<Vec<u8>> = part.iter().map(|&s| mutant(seq, s)).collect();
        out.extend(predict_sequences(
            p,
            &mutants,
            o.both_strands,
            o.batch_size,
        )?);
    }
    Ok(out)
}

/// Per position, the change of the followed probability for each base it becomes (A, C, G, T;
/// 0 for the reference base): the heatmap's cells.
pub fn changes(seq: &[u8], r: &Ism) -> Vec<[f64; 4]> {
    let mut out = vec![[0.0; 4]; seq.len()];
    for m in &r.substitutions {
        if let Some(k) = BASES.iter().position(|&b| b == m.alt) {
            out[m.position][k] = m.p_alt - r.p_ref;
        }
    }
    out
}

pub const TSV_HEADER: &str =
    "id\tposition\tref\talt\tclass\tp_ref\tp_alt\tdiff\tabs_diff\tlogit_diff\tlog2fc\n";

/// Rows of `TSV_HEADER` (positions 1-based).
pub fn tsv_rows(id: &str, class: &str, r: &Ism) -> Vec<u8> {
    use genolm::numfmt::{push_fixed6, push_int};
    let mut s = Vec::with_capacity(r.substitutions.len() * (id.len() + class.len() + 72));
    for m in &r.substitutions {
        s.extend_from_slice(id.as_bytes());
        s.push(b'\t');
        push_int(&mut s, m.position as u64 + 1);
        s.extend_from_slice(&[b'\t', m.reference, b'\t', m.alt, b'\t']);
        s.extend_from_slice(class.as_bytes());
        for v in [r.p_ref, m.p_alt]
            .into_iter()
            .chain(effect_scores(r.p_ref, m.p_alt))
        {
            s.push(b'\t');
            push_fixed6(&mut s, v);
        }
        s.push(b'\n');
    }
    s
}

/// The change of the followed probability per position and base: one series per base the
/// position is changed to, and a vertical line at `mark` (1-based, e.g. a TSS).
pub fn plot<'a>(
    r: &Ism,
    title: &'a str,
    y_label: &'a str,
    mark: Option<(usize, &str)>,
) -> genolm::plot::LinePlot<'a> {
    use genolm::plot::{LegendAt, LinePlot, Series, Stroke, PALETTE};
    let mut series: Vec<Series> = BASES
        .iter()
        .enumerate()
        .map(|(k, &b)| Series {
            name: format!("to {}", b as char),
            points: r
                .substitutions
                .iter()
                .filter(|m| m.alt == b)
                .map(|m| ((m.position + 1) as f64, m.p_alt - r.p_ref))
                .collect(),
            color: PALETTE[k],
            stroke: Stroke::None,
            markers: true,
        })
        .collect();
    let (lo, hi) = r
        .substitutions
        .iter()
        .map(|m| m.p_alt - r.p_ref)
        .fold((0.0f64, 0.0f64), |(a, b), d| (a.min(d), b.max(d)));
    if let Some((at, label)) = mark {
        series.push(Series {
            name: label.to_string(),
            points: vec![(at as f64, lo), (at as f64, hi)],
            color: genolm::plot::RGBColor(90, 90, 90),
            stroke: Stroke::Dashed,
            markers: false,
        });
    }
    LinePlot {
        title,
        x_label: "position (1-based)",
        y_label,
        series,
        zoom_y: None,
        log_x: false,
        legend: LegendAt::LowerLeft,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_substitutions_cover_every_other_base() {
        let s = substitutions_of(b"AcN");
        assert_eq!(s.len(), 3 + 3 + 4);
        assert_eq!(&s[..3], &[(0, b'C'), (0, b'G'), (0, b'T')]);
        assert_eq!(&s[3..6], &[(1, b'A'), (1, b'G'), (1, b'T')]);
        assert!(s[6..].iter().all(|&(i, _)| i == 2));
    }
}
