//! `genolm variants score`: what each variant of a VCF does to a model's prediction, for every
//! model family and ensemble, through the one prediction interface.
//!
//! Windows (`genolm::variants::windows_sized`): the model's length, the variant's first base at
//! `(width - 1) / 2`; the alternative window keeps the left flank, then the ALT allele, then the
//! reference after the REF allele, cut to the same length, so SNVs and indels both fill it.
//! Scores per class c, with p clamped to [1e-6, 1 - 1e-6] where a log needs it:
//! diff = p_alt - p_ref; abs_diff = |diff|; logit_diff = logit(p_alt) - logit(p_ref) (Selene's and
//! Kipoi's); log2fc = log2(p_alt / p_ref) (gReLU's).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::predict::predict_sequences;
use super::Predictor;
use crate::train::{io_err, Error, Result};
use genolm::fsutil::AtomicFile;
use genolm::genome::indexed::Genome;
use genolm::variants::{self, Skip, Variant, VcfReader};

pub struct ScoreOptions {
    /// Window length (bases).
    pub window: u64,
    /// Mean of the forward and reverse-complement predictions.
    pub both_strands: bool,
    /// Indices of the classes scored.
    pub classes: Vec<usize>,
    pub batch_size: usize,
    /// Variants windowed and predicted at a time (memory stays flat in the VCF's size).
    pub chunk: usize,
    pub progress: bool,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ScoreSummary {
    pub records: u64,
    pub variants_scored: u64,
    pub symbolic_alts: u64,
    pub ref_mismatches: u64,
    pub near_chromosome_end: u64,
    pub seconds: f64,
    pub variants_per_s: f64,
}

const EPS: f64 = 1e-6;

fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

/// diff, abs_diff, logit_diff, log2fc of one class.
pub fn effect_scores(p_ref: f64, p_alt: f64) -> [f64; 4] {
    let diff = p_alt - p_ref;
    let log2fc = (p_alt.max(EPS) / p_ref.max(EPS)).log2();
    [diff, diff.abs(), logit(p_alt) - logit(p_ref), log2fc]
}

const HEADER: &str = "chrom\tpos\tid\tref\talt\tref_match\tclass\tp_ref\tp_alt\tdiff\tabs_diff\tlogit_diff\tlog2fc\n";

/// A variant with its two windows.
struct Windowed {
    v: Variant,
    reference: Vec<u8>,
    alt: Vec<u8>,
    ref_match: bool,
}

fn record_error(vcf: &Path, v: &Variant, message: String) -> Error {
    Error::Variants(variants::Error::Line {
        path: vcf.to_path_buf(),
        line: v.line,
        message: format!("{} {}: {message}", v.chrom, v.pos),
    })
}

/// Scores every ALT allele of `vcf` into the TSV `out` (written whole or not at all); `stop`
/// (Ctrl-C) is checked between chunks.
pub fn score_vcf(
    p: &dyn Predictor,
    genome_path: &Path,
    vcf: &Path,
    out: &Path,
    o: &ScoreOptions,
    stop: &AtomicBool,
) -> Result<ScoreSummary> {
    let started = Instant::now();
    let mut genome = Genome::open(genome_path)?;
    let mut reader = VcfReader::open(vcf)?;
    let mut file = AtomicFile::create(out).map_err(io_err(out))?;
    file.write_all(HEADER.as_bytes()).map_err(io_err(out))?;
    let bar = genolm::progress::Progress::bytes_with_bp(None, "variants", o.progress);
    let mut s = ScoreSummary::default();
    let left = (o.window - 1) / 2;
    let mut chunk: Vec<Windowed> = Vec::with_capacity(o.chunk);
    loop {
        let next = reader.next();
        let done = next.is_none();
        if let Some(v) = next {
            let v = v?;
            match variants::windows_sized(&mut genome, &v, left, o.window)? {
                Ok(w) => chunk.push(Windowed {
                    ref_match: w.ref_matches.unwrap_or(true),
                    reference: w.reference,
                    alt: w.alt.expect("a VCF variant has an ALT allele"),
                    v,
                }),
                Err(Skip::NearEnd) => s.near_chromosome_end += 1,
                Err(Skip::BeyondEnd) => return Err(variants::beyond_end(&genome, &v, vcf).into()),
                Err(Skip::NotInGenome) => {
                    let names: Vec<&str> = genome
                        .sequences()
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .take(5)
                        .collect();
                    let msg = format!(
                        "contig {:?} is not in {} (with or without 'chr'; it has {})",
                        v.chrom,
                        genome_path.display(),
                        names.join(", ")
                    );
                    return Err(record_error(vcf, &v, msg));
                }
            }
            if chunk.len() < o.chunk.max(1) {
                continue;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled {
                path: out.to_path_buf(),
            });
        }
        if !chunk.is_empty() {
            let rows = score_chunk(p, &chunk, o)?;
            file.write_all(rows.as_bytes()).map_err(io_err(out))?;
            s.variants_scored += chunk.len() as u64;
            s.ref_mismatches += chunk.iter().filter(|w| !w.ref_match).count() as u64;
            chunk.clear();
            let rate = s.variants_scored as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(&format!("{} variants, {rate:.0}/s", s.variants_scored));
        }
        if done {
            break;
        }
    }
    bar.finish();
    file.commit().map_err(io_err(out))?;
    s.records = reader.counts.records;
    s.symbolic_alts = reader.counts.symbolic_alts;
    s.seconds = started.elapsed().as_secs_f64();
    s.variants_per_s = s.variants_scored as f64 / s.seconds.max(1e-9);
    Ok(s)
}

/// The rows of one chunk: reference and alternative windows predicted in one pass.
fn score_chunk(p: &dyn Predictor, chunk: &[Windowed], o: &ScoreOptions) -> Result<String> {
    let seqs: Vec<Vec<u8>> = chunk
        .iter()
        .flat_map(|w| [w.reference.clone(), w.alt.clone()])
        .collect();
    let probs = predict_sequences(p, &seqs, o.both_strands, o.batch_size)?;
    let classes = p.classes();
    let mut text = String::new();
    for (w, pair) in chunk.iter().zip(probs.chunks(2)) {
        let v = &w.v;
        let allele = variants::allele_text;
        for &c in &o.classes {
            let (p_ref, p_alt) = (pair[0][c], pair[1][c]);
            let [diff, abs_diff, logit_diff, log2fc] = effect_scores(p_ref, p_alt);
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{p_ref:.6}\t{p_alt:.6}\t{diff:.6}\t{abs_diff:.6}\t{logit_diff:.6}\t{log2fc:.6}\n",
                v.chrom,
                v.pos,
                v.id,
                allele(&v.reference),
                allele(&v.alt),
                if w.ref_match { "yes" } else { "no" },
                classes[c],
            ));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_effect_scores_by_hand() {
        let [diff, abs, logit_diff, log2fc] = effect_scores(0.2, 0.8);
        assert!((diff - 0.6).abs() < 1e-12 && (abs - 0.6).abs() < 1e-12);
        // logit(0.8) - logit(0.2) = ln 4 - ln 0.25 = 2 ln 4.
        assert!((logit_diff - 2.0 * 4f64.ln()).abs() < 1e-9);
        assert!((log2fc - 2.0).abs() < 1e-12);
        let [d, a, _, l] = effect_scores(0.5, 0.25);
        assert!((d + 0.25).abs() < 1e-12 && (a - 0.25).abs() < 1e-12 && (l + 1.0).abs() < 1e-12);
        // Clamped: no infinities at 0 or 1.
        assert!(effect_scores(0.0, 1.0).iter().all(|x| x.is_finite()));
    }
}
