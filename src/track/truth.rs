//! Known sites (`--truth`) and how well a scan finds them.
//!
//! Sites come from BED (0-based intervals; strand in column 6 when present) or from a TSV with a
//! header naming its columns: the position (1-based) in `pos`, `position`, `tss` or a column whose
//! name starts with `tss`; the chromosome in `chrom`, `chromosome`, `seqname` or `seqid` (without
//! one, every site is on the scan's only chromosome); the strand in `strand` (optional).
//!
//! A called region matches a site within `distance` bases of it (0: overlapping) on a compatible
//! strand (either strand when the site has none). A window is positive when a compatible site lies
//! inside it. Sites count towards recall when they lie in a scanned span and on a scanned strand.
//! Per-window scores go into fixed histograms (10,000 bins), so AUPRC needs no per-window memory.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::calls::Call;
use super::layout::Target;
use super::{io_err, Error, Result};
use crate::genome::Strand;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub start: u64,
    pub end: u64,
    pub strand: Option<Strand>,
}

impl Site {
    /// The site's position for distances: its first base, or its middle for intervals.
    fn centre(&self) -> u64 {
        self.start + (self.end - self.start - 1) / 2
    }

    fn compatible(&self, strand: Strand) -> bool {
        self.strand.is_none_or(|s| s == strand)
    }
}

pub struct TruthSet {
    pub path: PathBuf,
    sites: HashMap<String, Vec<Site>>,
    max_len: u64,
}

fn parse_err(path: &Path, line: u64, message: String) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    }
}

fn parse_strand(path: &Path, line: u64, s: &str) -> Result<Option<Strand>> {
    match s.trim() {
        "+" | "forward" => Ok(Some(Strand::Forward)),
        "-" | "reverse" => Ok(Some(Strand::Reverse)),
        "." | "" => Ok(None),
        other => Err(parse_err(
            path,
            line,
            format!("strand {other:?} is not '+', '-', 'forward', 'reverse' or '.'"),
        )),
    }
}

impl TruthSet {
    /// Reads `path` (BED when its name ends in .bed or .bed.gz, else a headed TSV); `only_chrom`
    /// names the chromosome of a TSV without a chromosome column.
    pub fn load(path: &Path, only_chrom: Option<&str>) -> Result<Self> {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let reader = crate::genome::open::open_decompressed(path)?;
        let mut sites: HashMap<String, Vec<Site>> = HashMap::new();
        if name.ends_with(".bed") || name.ends_with(".bed.gz") {
            read_bed(path, reader, &mut sites)?;
        } else {
            read_tsv(path, reader, only_chrom, &mut sites)?;
        }
        if sites.is_empty() {
            return Err(Error::Invalid(format!("{}: no sites", path.display())));
        }
        let mut max_len = 1;
        for v in sites.values_mut() {
            v.sort_by_key(|s| (s.start, s.end));
            max_len = v.iter().map(|s| s.end - s.start).fold(max_len, u64::max);
        }
        Ok(Self {
            path: path.to_path_buf(),
            sites,
            max_len,
        })
    }

    pub fn chromosomes(&self) -> impl Iterator<Item = &str> {
        self.sites.keys().map(String::as_str)
    }

    /// Sites of `chrom` overlapping `[a, b)`.
    pub fn sites_in(&self, chrom: &str, a: u64, b: u64) -> impl Iterator<Item = &Site> {
        self.near(chrom, a, b, 0)
    }

    /// Sites of `chrom` that come within `pad` bases of `[a, b)`.
    fn near(&self, chrom: &str, a: u64, b: u64, pad: u64) -> impl Iterator<Item = &Site> {
        let v = self.sites.get(chrom).map_or(&[][..], Vec::as_slice);
        let lo = a.saturating_sub(pad + self.max_len);
        let from = v.partition_point(|s| s.start < lo);
        v[from..]
            .iter()
            .take_while(move |s| s.start < b + pad)
            .filter(move |s| s.end + pad > a)
    }
}

fn read_bed(
    path: &Path,
    reader: Box<dyn BufRead + Send>,
    out: &mut HashMap<String, Vec<Site>>,
) -> Result<()> {
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(io_err(path))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty()
            || line.starts_with('#')
            || line.starts_with("track")
            || line.starts_with("browser")
        {
            continue;
        }
        let cols = crate::genome::bed::BedColumns {
            label: None,
            strand: None,
        };
        let iv = crate::genome::bed::parse_bed_line(path, line_no, line, cols)?;
        let strand = match line.split('\t').nth(5) {
            Some(s) => parse_strand(path, line_no, s)?,
            None => None,
        };
        out.entry(iv.name).or_default().push(Site {
            start: iv.start,
            end: iv.end,
            strand,
        });
    }
    Ok(())
}

fn read_tsv(
    path: &Path,
    reader: Box<dyn BufRead + Send>,
    only_chrom: Option<&str>,
    out: &mut HashMap<String, Vec<Site>>,
) -> Result<()> {
    let mut lines = reader.lines().enumerate().filter(|(_, l)| {
        // Leading `#` lines are comments (RegulonDB's licence block), as are blank ones.
        l.as_ref()
            .map_or(true, |l| !l.starts_with('#') && !l.trim().is_empty())
    });
    let (header_line, header) = lines
        .next()
        .ok_or_else(|| Error::Invalid(format!("{}: no header line", path.display())))?;
    let header = header.map_err(io_err(path))?;
    let header_no = header_line as u64 + 1;
    // Names as written, case aside, and without RegulonDB's "4)" numbering.
    let names: Vec<String> = header
        .trim_end_matches('\r')
        .split('\t')
        .map(|s| {
            let s = s.trim().to_ascii_lowercase();
            match s.split_once(')') {
                Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
                _ => s,
            }
        })
        .collect();
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    let pos = find(&["pos", "position", "tss", "postss"])
        .or_else(|| names.iter().position(|n| n.starts_with("tss")))
        .ok_or_else(|| {
            parse_err(
                path,
                header_no,
                format!(
                    "no position column (pos, position, tss, postss or tss*) in the header {:?}",
                    names
                ),
            )
        })?;
    let chrom = find(&["chrom", "chromosome", "seqname", "seqid", "chr"]);
    let strand = find(&["strand"]);
    if chrom.is_none() && only_chrom.is_none() {
        return Err(parse_err(
            path,
            header_no,
            "no chromosome column (chrom, chromosome, seqname, seqid), and the genome has more \
             than one sequence"
                .into(),
        ));
    }
    for (i, line) in lines {
        let line_no = i as u64 + 1;
        let line = line.map_err(io_err(path))?;
        let line = line.trim_end_matches('\r');
        let fields: Vec<&str> = line.split('\t').collect();
        let field = |c: usize| {
            fields.get(c).copied().ok_or_else(|| {
                parse_err(
                    path,
                    line_no,
                    format!("{} columns, the header has {}", fields.len(), names.len()),
                )
            })
        };
        let p = field(pos)?;
        if p.trim().is_empty() {
            continue; // a site without a position (RegulonDB has a few)
        }
        let p: u64 = p
            .trim()
            .replace(',', "")
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| {
                parse_err(
                    path,
                    line_no,
                    format!("position {p:?} is not a 1-based position"),
                )
            })?;
        let name = match chrom {
            Some(c) => field(c)?.trim().to_string(),
            None => only_chrom.unwrap_or_default().to_string(),
        };
        let strand = match strand {
            Some(c) => parse_strand(path, line_no, field(c)?)?,
            None => None,
        };
        out.entry(name).or_default().push(Site {
            start: p - 1,
            end: p,
            strand,
        });
    }
    Ok(())
}

const BINS: usize = 10_000;

/// Scores of windows with and without a site, binned; and how called regions meet the sites.
pub struct TruthEval {
    truth: TruthSet,
    distance: u64,
    strands: Vec<Strand>,
    positives: Vec<u64>,
    negatives: Vec<u64>,
    sites: u64,
    sites_found: u64,
    calls: u64,
    calls_matched: u64,
    /// Signed summit-to-nearest-site distances (site downstream of the summit on the call's strand
    /// is positive), for calls with a site within `distance`.
    pub summit_distances: Vec<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TruthReport {
    pub file: String,
    pub distance: u64,
    pub sites: u64,
    pub sites_found: u64,
    pub recall: f64,
    pub calls: u64,
    pub calls_matched: u64,
    pub precision: f64,
    pub f1: f64,
    pub windows_with_site: u64,
    pub windows_without_site: u64,
    /// Average precision of ranking windows by score (windows holding a site are positive).
    pub window_auprc: f64,
    /// What AUPRC a random ranking gets: the share of windows holding a site.
    pub window_auprc_baseline: f64,
    pub summit_distance_median: Option<i64>,
}

impl TruthEval {
    pub fn new(truth: TruthSet, distance: u64, strands: &[Strand]) -> Self {
        Self {
            truth,
            distance,
            strands: strands.to_vec(),
            positives: vec![0; BINS + 1],
            negatives: vec![0; BINS + 1],
            sites: 0,
            sites_found: 0,
            calls: 0,
            calls_matched: 0,
            summit_distances: Vec::new(),
        }
    }

    /// A scored window: `[start, start + len)` of `t` (wrapping past its end when circular).
    pub fn window(&mut self, t: &Target, start: u64, len: u64, strand: Strand, score: f64) {
        let end = start + len;
        let mut parts = vec![(start, end.min(t.length))];
        if end > t.length {
            parts.push((0, end - t.length));
        }
        let positive = parts.iter().any(|&(a, b)| {
            self.truth
                .near(&t.name, a, b, 0)
                .any(|s| s.compatible(strand))
        });
        let bin = (score.clamp(0.0, 1.0) * BINS as f64).round() as usize;
        if positive {
            self.positives[bin] += 1;
        } else {
            self.negatives[bin] += 1;
        }
    }

    /// A target is done: match its calls and sites.
    pub fn target_done(&mut self, t: &Target, calls: &[Call]) {
        let d = self.distance;
        for c in calls {
            self.calls += 1;
            let nearest = self
                .truth
                .near(&t.name, c.start, c.end, d)
                .filter(|s| s.compatible(c.strand))
                .min_by_key(|s| s.centre().abs_diff(c.summit));
            if let Some(s) = nearest {
                self.calls_matched += 1;
                let signed = s.centre() as i64 - c.summit as i64;
                self.summit_distances.push(match c.strand {
                    Strand::Forward => signed,
                    Strand::Reverse => -signed,
                });
            }
        }
        let sites: Vec<Site> = self
            .truth
            .near(&t.name, t.start, t.end, 0)
            .filter(|s| s.start >= t.start && s.end <= t.end)
            .filter(|s| self.strands.iter().any(|&st| s.compatible(st)))
            .copied()
            .collect();
        for s in sites {
            self.sites += 1;
            let found = calls
                .iter()
                .any(|c| s.compatible(c.strand) && c.start < s.end + d && s.start < c.end + d);
            self.sites_found += u64::from(found);
        }
    }

    pub fn report(&self) -> TruthReport {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let recall = ratio(self.sites_found, self.sites);
        let precision = ratio(self.calls_matched, self.calls);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        let pos: u64 = self.positives.iter().sum();
        let neg: u64 = self.negatives.iter().sum();
        let mut sorted = self.summit_distances.clone();
        sorted.sort_unstable();
        TruthReport {
            file: self.truth.path.display().to_string(),
            distance: self.distance,
            sites: self.sites,
            sites_found: self.sites_found,
            recall,
            calls: self.calls,
            calls_matched: self.calls_matched,
            precision,
            f1,
            windows_with_site: pos,
            windows_without_site: neg,
            window_auprc: binned_average_precision(&self.positives, &self.negatives),
            window_auprc_baseline: ratio(pos, pos + neg),
            summit_distance_median: sorted.get(sorted.len() / 2).copied(),
        }
    }

    /// Histogram of signed summit-to-site distances in `bin`-bp bins: (bin start, count).
    pub fn distance_histogram(&self, bin: i64) -> Vec<(i64, u64)> {
        let mut counts: std::collections::BTreeMap<i64, u64> = Default::default();
        for &d in &self.summit_distances {
            *counts.entry(d.div_euclid(bin) * bin).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// Average precision over thresholds at the bin edges, highest first (ties within a bin share
/// a threshold, as tied scores do).
fn binned_average_precision(pos: &[u64], neg: &[u64]) -> f64 {
    let total: u64 = pos.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let (mut tp, mut fp, mut ap) = (0u64, 0u64, 0.0);
    for b in (0..pos.len()).rev() {
        if pos[b] == 0 && neg[b] == 0 {
            continue;
        }
        tp += pos[b];
        fp += neg[b];
        ap += (pos[b] as f64 / total as f64) * (tp as f64 / (tp + fp) as f64);
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binned_ap_matches_exact_ap_without_ties() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let labels = [true, false, true, false, false, true];
        let (mut pos, mut neg) = (vec![0; BINS + 1], vec![0; BINS + 1]);
        for (&s, &l) in scores.iter().zip(&labels) {
            let b = (s * BINS as f64).round() as usize;
            if l {
                pos[b] += 1
            } else {
                neg[b] += 1
            }
        }
        let exact = (1.0 + 2.0 / 3.0 + 3.0 / 6.0) / 3.0;
        assert!((binned_average_precision(&pos, &neg) - exact).abs() < 1e-12);
    }

    #[test]
    fn test_tsv_truth_with_named_columns_and_strands() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.tsv");
        std::fs::write(&p, "id\tstrand\ttss_NC\n a\t+\t100\nb\t-\t2,000\n").unwrap();
        let t = TruthSet::load(&p, Some("chrX")).unwrap();
        let v = &t.sites["chrX"];
        assert_eq!(
            v[0],
            Site {
                start: 99,
                end: 100,
                strand: Some(Strand::Forward)
            }
        );
        assert_eq!(v[1].start, 1999);
        std::fs::write(&p, "strand\ttss\n+\tzero\n").unwrap();
        let e = TruthSet::load(&p, Some("c")).err().unwrap().to_string();
        assert!(e.contains("line 2") && e.contains("zero"), "{e}");
    }

    #[test]
    fn test_tsv_truth_after_comment_lines_with_numbered_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("PromoterSet.tsv");
        std::fs::write(
            &p,
            "# licence\n# more\n1)pmId\t2)pmName\t3)strand\t4)posTSS\nA\tp1\tforward\t208411\nB\tp2\treverse\t\nC\tp3\treverse\t5\n",
        )
        .unwrap();
        let t = TruthSet::load(&p, Some("NC")).unwrap();
        let v = &t.sites["NC"];
        assert_eq!(v.len(), 2, "the row without a position is left out");
        assert_eq!((v[0].start, v[0].strand), (4, Some(Strand::Reverse)));
        assert_eq!(v[1].start, 208410);
    }

    #[test]
    fn test_calls_and_sites_match_within_distance_on_their_strand() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.bed");
        std::fs::write(
            &p,
            "c\t100\t101\tx\t0\t+\nc\t500\t501\ty\t0\t-\nc\t900\t901\tz\t0\t+\n",
        )
        .unwrap();
        let truth = TruthSet::load(&p, None).unwrap();
        let mut e = TruthEval::new(truth, 20, &[Strand::Forward, Strand::Reverse]);
        let t = Target {
            name: "c".into(),
            length: 1000,
            start: 0,
            end: 1000,
            circular: false,
        };
        let call = |a, b, strand, summit| Call {
            start: a,
            end: b,
            strand,
            peak: 0.9,
            summit,
        };
        e.target_done(
            &t,
            &[
                call(110, 130, Strand::Forward, 115), // 100 is 10 before: matched, distance -15
                call(480, 490, Strand::Forward, 485), // site 500 is on '-': not matched
                call(700, 720, Strand::Reverse, 710), // nothing near
            ],
        );
        let r = e.report();
        assert_eq!(
            (r.sites, r.sites_found, r.calls, r.calls_matched),
            (3, 1, 3, 1)
        );
        assert_eq!(e.summit_distances, vec![-15]);
    }
}
