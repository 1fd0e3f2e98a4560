//! TF-binding data sets from site annotations (Novakovsky et al.'s multi-task -> single-task
//! transfer): windows centred on binding sites, each labelled with every TF that has a whole site
//! inside it or a site covering its centre (sites longer than the window: CpG islands, exons);
//! GC-matched background windows that overlap no site as negatives.
//!
//! Sites come from RegulonDB's TF-RISet (1-based inclusive `tfrsLeft`..`tfrsRight`, regulator in
//! `regulatorName`) or BED (0-based half-open, TF name in column 4). Windows are read on the forward
//! strand (training augments with reverse complements). A window that holds an N is dropped, so is
//! one that does not fit on its sequence; both are counted.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

use crate::genome::{self, bed, indexed::Genome, region::Interval, Strand};
use crate::rng::SplitMix64;

pub use super::Error;

/// One binding site: 0-based half-open on `chrom`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub chrom: String,
    pub start: u64,
    pub end: u64,
    pub tf: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TfSitesParams {
    /// Window length (bases), centred on each site.
    pub length: u64,
    /// Background windows per positive window, within each GC bin.
    pub negative_ratio: f64,
    /// TFs with at least this many positive windows are the multi-label table's labels; the rest
    /// are held out of it (their windows are dropped from it).
    pub multi_min_windows: usize,
    /// TFs with at least this many positive windows get a single-task table.
    pub single_min_windows: usize,
    pub seed: u64,
}

/// A labelled window: `labels` index the data set's TFs.
#[derive(Debug, Clone)]
pub struct TfWindow {
    pub chrom: String,
    pub start: u64,
    pub end: u64,
    pub gc: f64,
    pub sequence: Vec<u8>,
    pub labels: Vec<usize>,
}

/// What a build made and what it left out.
#[derive(Debug, Default, serde::Serialize)]
pub struct TfSitesCounts {
    pub sites: usize,
    /// Sites on sequences the genome does not have (e.g. whole-genome annotation, one chromosome).
    pub sites_off_genome: usize,
    pub tfs: usize,
    pub positive_windows: usize,
    pub dropped_with_n: usize,
    pub dropped_off_sequence: usize,
    pub negatives: usize,
    /// Background windows a GC bin still lacked when sampling gave up.
    pub negatives_short: usize,
}

pub struct TfDataset {
    /// TF names, most windows first.
    pub tfs: Vec<String>,
    pub positives: Vec<TfWindow>,
    pub negatives: Vec<TfWindow>,
    pub counts: TfSitesCounts,
}

/// Sites read from a file, and the rows left out because their coordinates are unusable (RegulonDB
/// 13 has a few that end one base before they start).
#[derive(Debug, Default)]
pub struct SitesRead {
    pub sites: Vec<Site>,
    pub skipped: usize,
    pub first_skipped: Option<String>,
}

/// Sites of a RegulonDB TF-RISet (recognised by its `1)riId` header) or a BED file. RegulonDB gives
/// no sequence name: `chrom` (the genome's one sequence) is used. Rows without coordinates are
/// passed over, rows that end before they start skipped and counted; the same site of the same
/// TF listed for several targets counts once.
pub fn read_sites(path: &Path, chrom: &str) -> Result<SitesRead, Error> {
    let reader = genome::open::open_decompressed(path)?;
    let mut lines = reader.lines().enumerate().peekable();
    let mut regulondb_header = None;
    while let Some((i, Ok(line))) = lines.peek() {
        if line.starts_with("1)riId") {
            regulondb_header = Some((*i, line.clone()));
            lines.next();
            break;
        }
        if !line.starts_with('#') {
            break;
        }
        lines.next();
    }
    let mut read = SitesRead::default();
    read.sites = match regulondb_header {
        Some((_, header)) => read_regulondb(path, &header, lines, chrom, &mut read)?,
        None => bed::read_bed(
            path,
            bed::BedColumns {
                label: Some(3),
                strand: None,
            },
        )?
        .into_iter()
        .enumerate()
        .map(|(i, iv)| {
            let tf = iv.label.ok_or_else(|| Error::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message: "no TF name (column 4)".into(),
            })?;
            Ok(Site {
                chrom: iv.name,
                start: iv.start,
                end: iv.end,
                tf,
            })
        })
        .collect::<Result<_, Error>>()?,
    };
    read.sites.sort();
    read.sites.dedup();
    if read.sites.is_empty() {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: "no binding site with coordinates".into(),
        });
    }
    Ok(read)
}

/// Intervals of a BED file (no names needed): what background windows avoid.
pub fn read_intervals(path: &Path) -> Result<Vec<Site>, Error> {
    let cols = bed::BedColumns {
        label: None,
        strand: None,
    };
    Ok(bed::read_bed(path, cols)?
        .into_iter()
        .map(|iv| Site {
            chrom: iv.name,
            start: iv.start,
            end: iv.end,
            tf: String::new(),
        })
        .collect())
}

fn read_regulondb(
    path: &Path,
    header: &str,
    lines: impl Iterator<Item = (usize, std::io::Result<String>)>,
    chrom: &str,
    read: &mut SitesRead,
) -> Result<Vec<Site>, Error> {
    let cols: Vec<&str> = header.split('\t').collect();
    let find = |name: &str| {
        cols.iter()
            .position(|c| c.split_once(')').map_or(*c, |(_, n)| n) == name)
            .ok_or_else(|| Error::File {
                path: path.to_path_buf(),
                message: format!("RegulonDB header without column {name:?}"),
            })
    };
    let (ti, li, ri) = (
        find("regulatorName")?,
        find("tfrsLeft")?,
        find("tfrsRight")?,
    );
    let mut sites = Vec::new();
    for (i, line) in lines {
        let line = line.map_err(|e| genome::fasta::read_error(path, e))?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let line_err = |message: String| Error::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        if f.len() <= ti.max(li).max(ri) {
            return Err(line_err(format!(
                "{} fields, expected {}",
                f.len(),
                cols.len()
            )));
        }
        let (left, right) = (f[li].trim(), f[ri].trim());
        if left.is_empty() || right.is_empty() || left == "0" {
            continue; // an interaction without a mapped site
        }
        let pos = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| line_err(format!("site position {s:?} is not a whole number")))
        };
        let (left, right) = (pos(left)?, pos(right)?);
        if right < left {
            read.skipped += 1;
            read.first_skipped.get_or_insert_with(|| {
                format!(
                    "{}: line {}: site ends ({right}) before it starts ({left})",
                    path.display(),
                    i + 1
                )
            });
            continue;
        }
        sites.push(Site {
            chrom: chrom.to_string(),
            start: left - 1,
            end: right,
            tf: f[ti].trim().to_string(),
        });
    }
    Ok(sites)
}

/// Fraction of G and C among the bases.
fn gc_fraction(seq: &[u8]) -> f64 {
    let gc = seq.iter().filter(|&&b| b == b'G' || b == b'C').count();
    gc as f64 / seq.len().max(1) as f64
}

/// The 10 % GC bin a window falls in (0..=9).
fn gc_bin(gc: f64) -> usize {
    ((gc * 10.0) as usize).min(9)
}

/// Sites of one sequence, sorted by start: which TFs have a whole site in a span, and whether a
/// span touches any site.
struct SiteIndex<'a> {
    by_chrom: HashMap<&'a str, Vec<&'a Site>>,
    /// Longest site, bounding how far before a span a touching site can start.
    longest: u64,
}

impl<'a> SiteIndex<'a> {
    fn new(sites: &'a [Site]) -> Self {
        let mut by_chrom: HashMap<&str, Vec<&Site>> = HashMap::new();
        for s in sites {
            by_chrom.entry(s.chrom.as_str()).or_default().push(s);
        }
        for v in by_chrom.values_mut() {
            v.sort_by_key(|s| s.start);
        }
        let longest = sites.iter().map(|s| s.end - s.start).max().unwrap_or(0);
        Self { by_chrom, longest }
    }

    /// Sites starting at or after `from` and before `to` on `chrom`.
    fn starting_in(&self, chrom: &str, from: u64, to: u64) -> &[&'a Site] {
        let Some(v) = self.by_chrom.get(chrom) else {
            return &[];
        };
        let a = v.partition_point(|s| s.start < from);
        let b = v.partition_point(|s| s.start < to);
        &v[a..b]
    }

    /// Sites that label the window [start, end): wholly inside it, or covering its centre base (a
    /// site longer than the window labels the window centred on it).
    fn labelling(&self, chrom: &str, start: u64, end: u64) -> impl Iterator<Item = &'a Site> + '_ {
        let centre = start + (end - start) / 2;
        self.starting_in(chrom, start.saturating_sub(self.longest), end)
            .iter()
            .copied()
            .filter(move |s| {
                (s.start >= start && s.end <= end) || (s.start <= centre && s.end > centre)
            })
    }

    fn touches_any(&self, chrom: &str, start: u64, end: u64) -> bool {
        self.starting_in(chrom, start.saturating_sub(self.longest), end)
            .iter()
            .any(|s| s.end > start)
    }
}

/// Builds the labelled windows: one per distinct site position, labelled with every TF that has a
/// whole site inside it or a site covering its centre, and GC-matched background windows.
pub fn build(
    all_sites: &[Site],
    exclude: &[Site],
    genome: &mut Genome,
    p: &TfSitesParams,
) -> Result<TfDataset, Error> {
    if p.length == 0 {
        return Err(Error::Invalid(
            "tf-sites: --length must be at least 1".into(),
        ));
    }
    let sites = on_genome(all_sites, genome);
    if sites.is_empty() {
        return Err(Error::Invalid(format!(
            "tf-sites: no site lies on a sequence of {} (sequences: {})",
            genome.path().display(),
            genome
                .sequences()
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let exclude = on_genome(exclude, genome);
    let index = SiteIndex::new(&sites);
    let excluded = SiteIndex::new(&exclude);
    let mut counts = TfSitesCounts {
        sites: sites.len(),
        sites_off_genome: all_sites.len() - sites.len(),
        ..Default::default()
    };
    let mut spans: Vec<(String, u64)> = sites
        .iter()
        .filter_map(|s| {
            let centre = (s.start + s.end) / 2;
            centre
                .checked_sub(p.length / 2)
                .map(|start| (s.chrom.clone(), start))
        })
        .collect();
    counts.dropped_off_sequence = sites.len() - spans.len();
    spans.sort();
    spans.dedup();
    let mut windows = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut name_index: HashMap<String, usize> = HashMap::new();
    for (chrom, start) in spans {
        let end = start + p.length;
        if end > genome.length(&chrom)? {
            counts.dropped_off_sequence += 1;
            continue;
        }
        let sequence = fetch(genome, &chrom, start, end)?;
        if sequence.contains(&b'N') {
            counts.dropped_with_n += 1;
            continue;
        }
        let mut labels: Vec<usize> = index
            .labelling(&chrom, start, end)
            .map(|s| {
                let next = name_index.len();
                *name_index.entry(s.tf.clone()).or_insert_with(|| {
                    names.push(s.tf.clone());
                    next
                })
            })
            .collect();
        labels.sort_unstable();
        labels.dedup();
        windows.push(TfWindow {
            chrom,
            start,
            end,
            gc: gc_fraction(&sequence),
            sequence,
            labels,
        });
    }
    // TFs most windows first (ties by name): the label order of every table.
    let mut per_tf = vec![0usize; names.len()];
    for w in &windows {
        for &l in &w.labels {
            per_tf[l] += 1;
        }
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| per_tf[b].cmp(&per_tf[a]).then(names[a].cmp(&names[b])));
    let mut rank = vec![0; names.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    for w in &mut windows {
        w.labels = w.labels.iter().map(|&l| rank[l]).collect();
        w.labels.sort_unstable();
    }
    let tfs: Vec<String> = order.iter().map(|&i| names[i].clone()).collect();
    counts.tfs = tfs.len();
    counts.positive_windows = windows.len();
    let negatives = background(genome, [&index, &excluded], &windows, p, &mut counts)?;
    counts.negatives = negatives.len();
    Ok(TfDataset {
        tfs,
        positives: windows,
        negatives,
        counts,
    })
}

/// The intervals on the genome's sequences, named as the genome names them (`chr` prefixes
/// resolved); the others left out.
fn on_genome(sites: &[Site], genome: &Genome) -> Vec<Site> {
    sites
        .iter()
        .filter_map(|s| {
            genome
                .resolve_name(&s.chrom)
                .map(|chrom| Site { chrom, ..s.clone() })
        })
        .collect()
}

fn fetch(genome: &mut Genome, chrom: &str, start: u64, end: u64) -> Result<Vec<u8>, Error> {
    Ok(genome.fetch(&Interval {
        name: chrom.to_string(),
        start,
        end,
        strand: Strand::Forward,
        label: None,
    })?)
}

/// Random windows that touch no site (nor an excluded interval) and hold no N, as many per GC bin as `negative_ratio` times
/// the positives there; a bin the genome cannot fill within a bounded number of draws stays short
/// (counted).
fn background(
    genome: &mut Genome,
    avoid: [&SiteIndex; 2],
    positives: &[TfWindow],
    p: &TfSitesParams,
    counts: &mut TfSitesCounts,
) -> Result<Vec<TfWindow>, Error> {
    let mut want = [0usize; 10];
    for w in positives {
        want[gc_bin(w.gc)] += 1;
    }
    for n in &mut want {
        *n = (*n as f64 * p.negative_ratio).round() as usize;
    }
    let total: usize = want.iter().sum();
    let seqs: Vec<(String, u64)> = genome
        .sequences()
        .iter()
        .filter(|(_, len)| *len >= p.length)
        .cloned()
        .collect();
    let genome_len: u64 = seqs.iter().map(|(_, l)| l - p.length + 1).sum();
    let mut out = Vec::with_capacity(total);
    if genome_len == 0 {
        counts.negatives_short = total;
        return Ok(out);
    }
    let mut rng = SplitMix64::new(p.seed);
    let mut taken = std::collections::HashSet::new();
    let max_draws = 200 * total as u64 + 1000;
    let mut draws = 0;
    while out.len() < total && draws < max_draws {
        draws += 1;
        let mut at = rng.below(genome_len);
        let (chrom, _) = seqs
            .iter()
            .find(|(_, len)| {
                let n = len - p.length + 1;
                if at < n {
                    true
                } else {
                    at -= n;
                    false
                }
            })
            .expect("position within the genome");
        let (start, end) = (at, at + p.length);
        if avoid.iter().any(|i| i.touches_any(chrom, start, end))
            || !taken.insert((chrom.clone(), start))
        {
            continue;
        }
        let sequence = fetch(genome, chrom, start, end)?;
        if sequence.contains(&b'N') {
            continue;
        }
        let gc = gc_fraction(&sequence);
        let bin = gc_bin(gc);
        if want[bin] == 0 {
            continue;
        }
        want[bin] -= 1;
        out.push(TfWindow {
            chrom: chrom.clone(),
            start,
            end,
            gc,
            sequence,
            labels: Vec::new(),
        });
    }
    counts.negatives_short = want.iter().sum();
    Ok(out)
}

/// TF name as a file name: characters other than letters, digits, '.', '-' and '_' become '_'.
pub fn file_stem(tf: &str) -> String {
    tf.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn row_prefix(w: &TfWindow) -> String {
    format!(
        "{}:{}-{}\t{}\t{}\t{}\t{:.3}\t{}",
        w.chrom,
        w.start + 1,
        w.end,
        w.chrom,
        w.start,
        w.end,
        w.gc,
        String::from_utf8_lossy(&w.sequence)
    )
}

const HEADER: &str = "id\tchrom\tstart\tend\tgc\tsequence";

/// The multi-label table: the TFs with at least `min_windows` windows as 0/1 columns; positive
/// windows with none of them left out (they bind only held-out TFs), every negative kept.
pub fn multi_label_tsv(d: &TfDataset, min_windows: usize) -> (String, Vec<String>) {
    let per_tf = windows_per_tf(d);
    let kept: Vec<usize> = (0..d.tfs.len())
        .filter(|&t| per_tf[t] >= min_windows)
        .collect();
    let mut text = String::from(HEADER);
    for &t in &kept {
        text.push('\t');
        text.push_str(&d.tfs[t]);
    }
    text.push('\n');
    for w in d.positives.iter().chain(&d.negatives) {
        let flags: Vec<bool> = kept.iter().map(|t| w.labels.contains(t)).collect();
        if !w.labels.is_empty() && !flags.contains(&true) {
            continue;
        }
        text.push_str(&row_prefix(w));
        for on in flags {
            text.push_str(if on { "\t1" } else { "\t0" });
        }
        text.push('\n');
    }
    (text, kept.iter().map(|&t| d.tfs[t].clone()).collect())
}

/// One TF's table: its windows (label 1) and as many background windows per GC bin (label 0),
/// drawn from the data set's negatives with a seed of the TF's own.
pub fn single_task_tsv(d: &TfDataset, tf: usize, seed: u64) -> String {
    let mine: Vec<&TfWindow> = d
        .positives
        .iter()
        .filter(|w| w.labels.contains(&tf))
        .collect();
    let mut pool: BTreeMap<usize, Vec<&TfWindow>> = BTreeMap::new();
    for w in &d.negatives {
        pool.entry(gc_bin(w.gc)).or_default().push(w);
    }
    let mut rng = SplitMix64::new(seed ^ (tf as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut want = [0usize; 10];
    for w in &mine {
        want[gc_bin(w.gc)] += 1;
    }
    let mut text = format!("{HEADER}\tlabel\n");
    for w in &mine {
        text.push_str(&row_prefix(w));
        text.push_str("\t1\n");
    }
    for (bin, rows) in pool.iter_mut() {
        rng.shuffle(rows);
        for w in rows.iter().take(want[*bin]) {
            text.push_str(&row_prefix(w));
            text.push_str("\t0\n");
        }
    }
    text
}

/// Positive windows per TF (index as in `d.tfs`).
pub fn windows_per_tf(d: &TfDataset) -> Vec<usize> {
    let mut n = vec![0; d.tfs.len()];
    for w in &d.positives {
        for &l in &w.labels {
            n[l] += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(start: u64, end: u64, tf: &str) -> Site {
        Site {
            chrom: "c".into(),
            start,
            end,
            tf: tf.into(),
        }
    }

    #[test]
    fn test_site_index_labels_and_touching() {
        let sites = vec![site(10, 20, "a"), site(15, 18, "b"), site(40, 60, "c")];
        let idx = SiteIndex::new(&sites);
        let inside: Vec<&str> = idx.labelling("c", 5, 30).map(|s| s.tf.as_str()).collect();
        assert_eq!(inside, vec!["a", "b"]);
        let one: Vec<&str> = idx.labelling("c", 12, 40).map(|s| s.tf.as_str()).collect();
        assert_eq!(
            one,
            vec!["b"],
            "a starts before the span and misses its centre"
        );
        assert!(idx.touches_any("c", 55, 70), "c ends inside");
        assert!(!idx.touches_any("c", 20, 40), "half-open ends");
        assert!(!idx.touches_any("other", 0, 100));
        let long = vec![site(0, 500, "cpg"), site(240, 260, "tss")];
        let idx = SiteIndex::new(&long);
        let names: Vec<&str> = idx
            .labelling("c", 200, 300)
            .map(|s| s.tf.as_str())
            .collect();
        assert_eq!(names, vec!["cpg", "tss"], "covering the centre, or inside");
        assert_eq!(
            idx.labelling("c", 450, 1450).count(),
            0,
            "a long site's edge is no label"
        );
    }

    #[test]
    fn test_gc_bins_and_file_stems() {
        assert_eq!(gc_bin(gc_fraction(b"GGCC")), 9);
        assert_eq!(gc_bin(gc_fraction(b"ATGC")), 5);
        assert_eq!(gc_bin(0.0), 0);
        assert_eq!(file_stem("H-NS/StpA"), "H-NS_StpA");
    }
}
