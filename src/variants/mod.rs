//! Variants from VCF or BED, and the genome windows centred on them (TLVar's snptoseq step, done
//! without its silent substitutions).
//!
//! Positions: VCF POS is 1-based. BED rows are 0-based half-open (`start`, `end`), except rows
//! with `start == end`, which are read as one 1-based position (TLVar's HGMD.bed writes SNPs so);
//! a longer BED interval is centred on its middle base. Windows: the reference window holds `flank`
//! bases, the variant's first base, and `flank` bases (2 x flank + 1). The alternative window starts
//! at the same base: the left flank, the ALT allele, then the reference after the REF allele, cut
//! to the same length, so an SNV changes the centre base and an indel shifts only the right side.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::genome;
use crate::genome::indexed::Genome;
use crate::genome::region::{Interval, Strand};

/// An allele as a table shows it: its bases, or "." when there is none.
pub fn allele_text(a: &Option<Vec<u8>>) -> String {
    a.as_deref()
        .map_or(".".into(), |b| String::from_utf8_lossy(b).into_owned())
}

/// One allele change at one place (a multi-allelic VCF record gives one per ALT).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub chrom: String,
    /// 1-based position of the first REF base (or of the BED position).
    pub pos: u64,
    pub id: String,
    pub reference: Option<Vec<u8>>,
    pub alt: Option<Vec<u8>>,
    pub label: Option<String>,
    /// Line of the input it came from (1-based).
    pub line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Genome(#[from] genome::Error),
    #[error("{path}: line {line}: {message}", path = path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Reading stopped part-way (a gzip cut short, a bad block): what was read before is fine.
    #[error("{path}: line {line}: cannot be read ({source}): the file is truncated or damaged",
        path = path.display())]
    Unreadable {
        path: PathBuf,
        line: usize,
        #[source]
        source: std::io::Error,
    },
}

/// What reading the variants skipped.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReadCounts {
    pub records: u64,
    /// Symbolic, missing or spanning-deletion ALT alleles (`<DEL>`, `.`, `*`), not windowed.
    pub symbolic_alts: u64,
}

fn is_symbolic(alt: &str) -> bool {
    alt.starts_with('<') || alt == "." || alt == "*" || alt.contains('[') || alt.contains(']')
}

fn allele(text: &str, path: &Path, line: usize, what: &str) -> Result<Vec<u8>, Error> {
    let bytes = text.as_bytes().to_ascii_uppercase();
    if bytes.is_empty() || !bytes.iter().all(|b| b"ACGTN".contains(b)) {
        return Err(Error::Line {
            path: path.to_path_buf(),
            line,
            message: format!("{what} {text:?} is not a DNA allele (A, C, G, T, N)"),
        });
    }
    Ok(bytes)
}

/// Calls `each(line number, tab-separated fields)` for every data line of a text file (plain or
/// gzip/bgzf): blank lines and those `skip` names (comments, headers) left out.
fn data_lines(
    path: &Path,
    skip: fn(&str) -> bool,
    mut each: impl FnMut(usize, &[&str]) -> Result<(), Error>,
) -> Result<(), Error> {
    let reader = crate::genome::open::open_decompressed(path)?;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| Error::Unreadable {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        let t = line.trim_end();
        if t.is_empty() || skip(t) {
            continue;
        }
        each(i + 1, &t.split('\t').collect::<Vec<_>>())?;
    }
    Ok(())
}

fn line_error(path: &Path, line: usize, message: String) -> Error {
    Error::Line {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// The variants of a VCF (plain or gzip/bgzf), one per ALT allele, read as they are needed: memory
/// does not grow with the file. A record before the `#CHROM` header line is an error (not a VCF, or
/// its header was lost); so is a malformed one (file and line named).
pub struct VcfReader {
    path: PathBuf,
    lines: std::io::Lines<Box<dyn BufRead + Send>>,
    line_no: usize,
    header_seen: bool,
    queue: std::collections::VecDeque<Variant>,
    pub counts: ReadCounts,
}

impl VcfReader {
    pub fn open(path: &Path) -> Result<Self, Error> {
        Ok(Self {
            path: path.to_path_buf(),
            lines: crate::genome::open::open_decompressed(path)?.lines(),
            line_no: 0,
            header_seen: false,
            queue: Default::default(),
            counts: ReadCounts::default(),
        })
    }

    /// One record's variants into the queue (symbolic ALTs counted, not queued).
    fn parse(&mut self, f: &[&str]) -> Result<(), Error> {
        let (path, line_no) = (self.path.as_path(), self.line_no);
        let bad = |message: String| line_error(path, line_no, message);
        if !self.header_seen {
            return Err(bad(
                "a record before the #CHROM header line: not a VCF, or its header was lost".into(),
            ));
        }
        if f.len() < 5 {
            return Err(bad(format!(
                "{} tab-separated fields; a VCF record has at least 5 (CHROM POS ID REF ALT)",
                f.len()
            )));
        }
        let pos: u64 = f[1]
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad(format!("POS {:?} is not a 1-based position", f[1])))?;
        let reference = allele(f[3], path, line_no, "REF")?;
        self.counts.records += 1;
        for alt in f[4].split(',') {
            if is_symbolic(alt) {
                self.counts.symbolic_alts += 1;
                continue;
            }
            let id = if f[2] == "." {
                format!("{}:{}:{}>{}", f[0], pos, f[3], alt)
            } else {
                format!("{}:{}>{}", f[2], f[3], alt)
            };
            self.queue.push_back(Variant {
                chrom: f[0].to_string(),
                pos,
                id,
                reference: Some(reference.clone()),
                alt: Some(allele(alt, path, line_no, "ALT")?),
                label: None,
                line: line_no,
            });
        }
        Ok(())
    }
}

impl Iterator for VcfReader {
    type Item = Result<Variant, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(v) = self.queue.pop_front() {
                return Some(Ok(v));
            }
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(source) => {
                    return Some(Err(Error::Unreadable {
                        path: self.path.clone(),
                        line: self.line_no + 1,
                        source,
                    }))
                }
            };
            self.line_no += 1;
            let t = line.trim_end();
            if t.starts_with("#CHROM") {
                self.header_seen = true;
            }
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = t.split('\t').collect();
            if let Err(e) = self.parse(&fields) {
                return Some(Err(e));
            }
        }
    }
}

/// All the variants of a VCF (see [`VcfReader`]).
pub fn read_vcf(path: &Path) -> Result<(Vec<Variant>, ReadCounts), Error> {
    let mut reader = VcfReader::open(path)?;
    let out = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((out, reader.counts))
}

/// The variants of a BED file (see the module note on positions); column `label_column`
/// (1-based, when present) is carried as the label. A first line whose start is not a number is a
/// header.
pub fn read_bed(path: &Path, label_column: usize) -> Result<(Vec<Variant>, ReadCounts), Error> {
    let mut out = Vec::new();
    let mut counts = ReadCounts::default();
    let skip = |l: &str| l.starts_with('#') || l.starts_with("track") || l.starts_with("browser");
    data_lines(path, skip, |line_no, f| {
        let bad = |message: String| line_error(path, line_no, message);
        if f.len() < 3 {
            return Err(bad(format!(
                "{} fields; BED needs chrom, start, end",
                f.len()
            )));
        }
        let (Ok(start), Ok(end)) = (f[1].parse::<u64>(), f[2].parse::<u64>()) else {
            if counts.records == 0 {
                return Ok(()); // a header line
            }
            return Err(bad(format!(
                "start {:?} / end {:?} are not numbers",
                f[1], f[2]
            )));
        };
        if end < start {
            return Err(bad(format!("end {end} is before start {start}")));
        }
        let pos = match end - start {
            0 if start == 0 => return Err(bad("start = end = 0 is not a position".into())),
            0 => start,
            n => start + n.div_ceil(2),
        };
        counts.records += 1;
        out.push(Variant {
            chrom: f[0].to_string(),
            pos,
            id: format!("{}:{}", f[0], pos),
            reference: None,
            alt: None,
            label: f.get(label_column.wrapping_sub(1)).map(|s| s.to_string()),
            line: line_no,
        });
        Ok(())
    })?;
    Ok((out, counts))
}

/// The windows of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    pub reference: Vec<u8>,
    pub alt: Option<Vec<u8>>,
    /// None without a REF allele to check; else whether the genome has it.
    pub ref_matches: Option<bool>,
}

/// Why a variant got no window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NotInGenome,
    /// The position lies past the end of its sequence.
    BeyondEnd,
    /// Too close to an end for a whole window.
    NearEnd,
}

/// The error for a variant whose position lies past the end of its sequence (most likely a file
/// made for another genome build): fatal for every command, as a skipped row would hide it.
pub fn beyond_end(genome: &Genome, v: &Variant, path: &Path) -> Error {
    let len = match genome.resolve_name(&v.chrom).map(|n| genome.length(&n)) {
        Some(Ok(len)) => len.to_string(),
        Some(Err(e)) => return e.into(),
        None => "?".into(),
    };
    Error::Line {
        path: path.to_path_buf(),
        line: v.line,
        message: format!(
            "{} {}: position beyond the sequence's end ({len} bases)",
            v.chrom, v.pos
        ),
    }
}

/// The windows of `v` with `flank` bases each side.
pub fn windows(
    genome: &mut Genome,
    v: &Variant,
    flank: u64,
) -> Result<Result<Windows, Skip>, Error> {
    windows_sized(genome, v, flank, 2 * flank + 1)
}

/// The windows of `v`, `width` bases with `left` of them before the variant's first base (a model
/// of even length puts the variant at width / 2).
pub fn windows_sized(
    genome: &mut Genome,
    v: &Variant,
    left: u64,
    width: u64,
) -> Result<Result<Windows, Skip>, Error> {
    let Some(name) = genome.resolve_name(&v.chrom) else {
        return Ok(Err(Skip::NotInGenome));
    };
    let length = genome.length(&name)?;
    let centre = v.pos - 1;
    if centre >= length {
        return Ok(Err(Skip::BeyondEnd));
    }
    let ref_len = v.reference.as_ref().map_or(1, |r| r.len() as u64);
    let right = width - left - 1;
    // The alternative window may need the reference up to `right` bases past the REF allele.
    let end = (centre + ref_len + right).max(centre + right + 1);
    if centre < left || end > length {
        return Ok(Err(Skip::NearEnd));
    }
    let span = genome.fetch(&Interval {
        name,
        start: centre - left,
        end,
        strand: Strand::Forward,
        label: None,
    })?;
    let reference = span[..width as usize].to_vec();
    let f = left as usize;
    let ref_matches = v
        .reference
        .as_ref()
        .map(|r| span[f..f + r.len()].eq_ignore_ascii_case(r));
    let alt = v.alt.as_ref().map(|a| {
        let mut s = span[..f].to_vec();
        s.extend_from_slice(a);
        s.extend_from_slice(&span[f + ref_len as usize..]);
        s.truncate(width as usize);
        s
    });
    Ok(Ok(Windows {
        reference,
        alt,
        ref_matches,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genome(dir: &Path) -> Genome {
        let fa = dir.join("g.fa");
        std::fs::write(&fa, ">chr1\nAAAACCCCGGGGTTTT\n").unwrap();
        Genome::open(&fa).unwrap()
    }

    fn variant(pos: u64, reference: &str, alt: &str) -> Variant {
        Variant {
            chrom: "1".into(),
            pos,
            id: "v".into(),
            reference: Some(reference.as_bytes().to_vec()),
            alt: Some(alt.as_bytes().to_vec()),
            label: None,
            line: 1,
        }
    }

    #[test]
    fn test_snv_insertion_deletion_and_edges() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = genome(dir.path());
        // Position 6 (1-based) is the second C of CCCC.
        let w = windows(&mut g, &variant(6, "C", "T"), 3).unwrap().unwrap();
        assert_eq!(w.reference, b"AACCCCG");
        assert_eq!(w.alt.unwrap(), b"AACTCCG");
        assert_eq!(w.ref_matches, Some(true));
        let w = windows(&mut g, &variant(6, "C", "CGG"), 3)
            .unwrap()
            .unwrap();
        assert_eq!(
            w.alt.unwrap(),
            b"AACCGGC",
            "insertion: the right side shifts"
        );
        let w = windows(&mut g, &variant(6, "CCC", "C"), 3)
            .unwrap()
            .unwrap();
        assert_eq!(
            w.alt.unwrap(),
            b"AACCGGG",
            "deletion: bases after REF fill in"
        );
        let w = windows(&mut g, &variant(6, "G", "T"), 3).unwrap().unwrap();
        assert_eq!(
            w.ref_matches,
            Some(false),
            "REF mismatch reported, not fatal"
        );
        assert_eq!(
            windows(&mut g, &variant(2, "A", "T"), 3).unwrap(),
            Err(Skip::NearEnd)
        );
        let mut other = variant(6, "C", "T");
        other.chrom = "chr2".into();
        assert_eq!(windows(&mut g, &other, 3).unwrap(), Err(Skip::NotInGenome));
    }

    #[test]
    fn test_bed_positions_header_and_symbolic_vcf_alts() {
        let dir = tempfile::tempdir().unwrap();
        let bed = dir.path().join("v.bed");
        std::fs::write(
            &bed,
            "chr\tstart\tend\tlabel\nchr1\t6\t6\t1\nchr1\t5\t6\t0\nchr1\t4\t8\t0\n",
        )
        .unwrap();
        let (v, c) = read_bed(&bed, 4).unwrap();
        assert_eq!(c.records, 3);
        assert_eq!(v.iter().map(|v| v.pos).collect::<Vec<_>>(), [6, 6, 6]);
        assert_eq!(v[0].label.as_deref(), Some("1"));
        std::fs::write(&bed, "chr1\t6\t6\nchr1\tx\t7\n").unwrap();
        let err = read_bed(&bed, 4).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        let vcf = dir.path().join("v.vcf");
        std::fs::write(
            &vcf,
            "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n1\t6\trs1\tC\tT,<DEL>,*\n1\t7\t.\tC\tCA\n",
        )
        .unwrap();
        let (v, c) = read_vcf(&vcf).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(c.symbolic_alts, 2);
        assert_eq!(v[1].id, "1:7:C>CA");
        std::fs::write(&vcf, "1\t6\trs1\tC\n").unwrap();
        assert!(read_vcf(&vcf).unwrap_err().to_string().contains("line 1"));
    }
}
