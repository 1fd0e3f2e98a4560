//! `genolm dataset promoters`: Genomic-ULMFiT's E. coli promoter task from a GenBank annotation.
//!
//! Positives: the window from `upstream` bases before to `downstream` bases after each CDS start, on
//! the CDS's strand (reverse-complemented for '-'). Negatives: windows of the same length at random
//! places inside CDS bodies longer than `min_cds_len`, on their strand. Windows that would run off a
//! record's ends are skipped. Output: a labelled TSV (sequence, label, id, record, start, end, strand;
//! 0-based half-open forward-strand coordinates).

use std::fmt::Write as _;
use std::path::Path;

use crate::genome::genbank::{read_annotated, AnnotatedRecord};
use crate::genome::nucleotide::reverse_complement;
use crate::genome::Strand;
use crate::rng::SplitMix64;

pub const POSITIVE: &str = "promoter";
pub const NEGATIVE: &str = "non_promoter";

#[derive(Debug, Clone)]
pub struct PromoterParams {
    pub upstream: u64,
    pub downstream: u64,
    /// Negatives per positive (1.0 = balanced).
    pub negative_ratio: f64,
    /// Only CDS bodies longer than this give negatives.
    pub min_cds_len: u64,
    pub seed: u64,
}

impl Default for PromoterParams {
    fn default() -> Self {
        Self {
            upstream: 100,
            downstream: 50,
            negative_ratio: 1.0,
            min_cds_len: 250,
            seed: 42,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub sequence: Vec<u8>,
    pub label: &'static str,
    pub id: String,
    pub record: String,
    pub start: u64,
    pub end: u64,
    pub strand: Strand,
}

pub use super::Error;

/// Cuts [start, end) of the record on `strand`.
fn cut(rec: &AnnotatedRecord, start: u64, end: u64, strand: Strand) -> Vec<u8> {
    let fwd = &rec.sequence[start as usize..end as usize];
    match strand {
        Strand::Forward => fwd.to_vec(),
        Strand::Reverse => reverse_complement(fwd),
    }
}

/// The forward-strand span of the window around a CDS start, if it fits in the record.
fn promoter_span(
    start: u64,
    end: u64,
    strand: Strand,
    len: u64,
    p: &PromoterParams,
) -> Option<(u64, u64)> {
    match strand {
        // CDS start = its first base; upstream lies to the left.
        Strand::Forward => {
            let s = start.checked_sub(p.upstream)?;
            let e = start + p.downstream;
            (e <= len).then_some((s, e))
        }
        // On '-', the CDS starts at its last forward-strand base; upstream lies to the right.
        Strand::Reverse => {
            let s = end.checked_sub(p.downstream)?;
            let e = end + p.upstream;
            (e <= len).then_some((s, e))
        }
    }
}

/// Builds the positive and negative windows of every record.
pub fn derive(
    records: &[AnnotatedRecord],
    path: &Path,
    p: &PromoterParams,
) -> Result<Vec<Window>, Error> {
    let width = p.upstream + p.downstream;
    let mut out = Vec::new();
    let mut bodies = Vec::new();
    for (ri, rec) in records.iter().enumerate() {
        let len = rec.sequence.len() as u64;
        for f in rec.features.iter().filter(|f| f.kind == "CDS") {
            if let Some((s, e)) = promoter_span(f.start, f.end, f.strand, len, p) {
                let name = if f.name.is_empty() {
                    format!("cds{}", f.start + 1)
                } else {
                    f.name.clone()
                };
                out.push(Window {
                    sequence: cut(rec, s, e, f.strand),
                    label: POSITIVE,
                    id: format!("{name}_promoter"),
                    record: rec.name.clone(),
                    start: s,
                    end: e,
                    strand: f.strand,
                });
            }
            if f.end - f.start > p.min_cds_len.max(width) && f.parts == 1 {
                bodies.push((ri, f.start, f.end, f.strand, f.name.clone()));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::NoPositives {
            path: path.to_path_buf(),
            upstream: p.upstream,
            downstream: p.downstream,
        });
    }
    let n_neg = (out.len() as f64 * p.negative_ratio).round() as usize;
    let mut rng = SplitMix64::new(p.seed);
    let n_neg = if bodies.is_empty() { 0 } else { n_neg };
    for i in 0..n_neg {
        let (ri, start, end, strand, name) = &bodies[rng.below(bodies.len() as u64) as usize];
        let offset = rng.below(end - start - width + 1);
        let s = start + offset;
        out.push(Window {
            sequence: cut(&records[*ri], s, s + width, *strand),
            label: NEGATIVE,
            id: format!("{name}_body{i}"),
            record: records[*ri].name.clone(),
            start: s,
            end: s + width,
            strand: *strand,
        });
    }
    Ok(out)
}

pub fn to_tsv(windows: &[Window]) -> String {
    let mut s = String::from("sequence\tlabel\tid\trecord\tstart\tend\tstrand\n");
    for w in windows {
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            String::from_utf8_lossy(&w.sequence),
            w.label,
            w.id,
            w.record,
            w.start,
            w.end,
            w.strand
        );
    }
    s
}

/// Reads a GenBank file, derives the windows and writes the TSV atomically.
pub fn write_promoter_tsv(
    genbank: &Path,
    out: &Path,
    p: &PromoterParams,
) -> Result<(usize, usize), Error> {
    let records = read_annotated(genbank, &["CDS"])?;
    let windows = derive(&records, genbank, p)?;
    let pos = windows.iter().filter(|w| w.label == POSITIVE).count();
    crate::fsutil::write_atomic(out, to_tsv(&windows).as_bytes()).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok((pos, windows.len() - pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::genbank::GenomicFeature;

    fn feature(start: u64, end: u64, strand: Strand, name: &str) -> GenomicFeature {
        GenomicFeature {
            kind: "CDS".into(),
            start,
            end,
            strand,
            name: name.into(),
            locus_tag: String::new(),
            parts: 1,
            pseudo: false,
        }
    }

    #[test]
    fn test_windows_follow_the_cds_strand() {
        let seq: Vec<u8> = (0..2000).map(|i| b"ACGT"[(i * 7 + i / 13) % 4]).collect();
        let rec = AnnotatedRecord {
            name: "chr".into(),
            sequence: seq.clone(),
            features: vec![
                feature(300, 900, Strand::Forward, "fwd"),
                feature(1000, 1600, Strand::Reverse, "rev"),
                feature(20, 400, Strand::Forward, "edge"), // 100 upstream of 20 is off the record
            ],
        };
        let p = PromoterParams {
            negative_ratio: 2.0,
            ..Default::default()
        };
        let w = derive(std::slice::from_ref(&rec), Path::new("t.gbk"), &p).unwrap();
        let pos: Vec<&Window> = w.iter().filter(|w| w.label == POSITIVE).collect();
        assert_eq!(pos.len(), 2);
        assert_eq!((pos[0].start, pos[0].end), (200, 350));
        assert_eq!(pos[0].sequence, &seq[200..350]);
        // '-' CDS [1000, 1600): its start is base 1599; the window is [1550, 1700), reverse-complemented,
        // so its 101st base is the complement of base 1599.
        assert_eq!((pos[1].start, pos[1].end), (1550, 1700));
        assert_eq!(pos[1].sequence, reverse_complement(&seq[1550..1700]));
        let neg: Vec<&Window> = w.iter().filter(|w| w.label == NEGATIVE).collect();
        assert_eq!(neg.len(), 4);
        for n in neg {
            assert_eq!(n.end - n.start, 150);
            let inside = [(300, 900), (1000, 1600), (20, 400)]
                .iter()
                .any(|&(s, e)| n.start >= s && n.end <= e);
            assert!(inside, "negative {}..{} inside a CDS body", n.start, n.end);
        }
        assert_eq!(
            w,
            derive(&[rec], Path::new("t.gbk"), &p).unwrap(),
            "reproducible from the seed"
        );
    }
}
