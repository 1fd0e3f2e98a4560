//! Random access to a reference by region: bgzf/plain FASTA with .fai (+ .gzi) through noodles, or a
//! small FASTA/GenBank held in memory when there is no index.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use noodles::fasta;

use super::nucleotide::{describe_byte, push_sequence_line, reverse_complement_in_place};
use super::region::{Interval, Strand};
use super::{Error, Result};

type IndexedFasta = fasta::io::IndexedReader<fasta::io::BufReader<File>>;

enum Backend {
    Indexed(Box<IndexedFasta>),
    InMemory(HashMap<String, Vec<u8>>),
}

/// A reference genome that sequences can be cut from by interval, strand-aware.
pub struct Genome {
    path: PathBuf,
    backend: Backend,
    lengths: Vec<(String, u64)>,
}

/// `path` with `suffix` appended to its name (`g.fa.gz` -> `g.fa.gz.fai`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether the file starts with gzip's magic bytes (gzip or bgzf).
pub fn is_gzip(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// The length of `name` among a genome's `sequences` (names and lengths, in file order). An unknown
/// name is an error naming the file, the first few names and any close to it (a `chr` prefix, case,
/// one edit), as users mix up `chr20` and `20`.
pub fn sequence_length(path: &Path, sequences: &[(String, u64)], name: &str) -> Result<u64> {
    if let Some((_, l)) = sequences.iter().find(|(n, _)| n == name) {
        return Ok(*l);
    }
    let mut known: Vec<&str> = sequences.iter().take(5).map(|(n, _)| n.as_str()).collect();
    if sequences.len() > 5 {
        known.push("...");
    }
    let close = close_names(name, sequences.iter().map(|(n, _)| n.as_str()));
    Err(Error::UnknownSequence {
        path: path.to_path_buf(),
        name: name.to_string(),
        hint: if close.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", close.join(" or "))
        },
        known: known.join(", "),
    })
}

/// Names a user may have meant: the same but for a `chr` prefix or case, or one edit away.
fn close_names<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Vec<String> {
    let bare = |s: &str| {
        let l = s.to_ascii_lowercase();
        l.strip_prefix("chr").map(str::to_string).unwrap_or(l)
    };
    let want = bare(name);
    known
        .filter(|k| bare(k) == want || edit_distance(k, name) <= 1)
        .take(3)
        .map(|k| format!("'{k}'"))
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Genome {
    /// Opens `path` with its `.fai` index when present (bgzf also needs `.gzi`); otherwise loads the
    /// whole file (fine for bacterial genomes; large genomes should be bgzipped and indexed).
    pub fn open(path: &Path) -> Result<Self> {
        let fai = with_suffix(path, ".fai");
        if fai.exists() {
            return Self::open_indexed(path, &fai);
        }
        let records = super::open::read_sequences(path)?;
        let lengths = records
            .iter()
            .map(|(n, s)| (n.clone(), s.len() as u64))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            backend: Backend::InMemory(records.into_iter().collect()),
            lengths,
        })
    }

    fn open_indexed(path: &Path, fai: &Path) -> Result<Self> {
        let gz = is_gzip(path)?;
        if gz && !with_suffix(path, ".gzi").exists() {
            return Err(Error::Index {
                path: path.to_path_buf(),
                message:
                    "gzip-compressed FASTA with a .fai needs bgzf compression and a .gzi index \
                          (make both with `bgzip -i` and `samtools faidx`)"
                        .into(),
            });
        }
        let index = fasta::fai::fs::read(fai).map_err(|e| Error::Index {
            path: fai.to_path_buf(),
            message: format!("cannot read FASTA index: {e}"),
        })?;
        let lengths = index
            .as_ref()
            .iter()
            .map(|r| (String::from_utf8_lossy(r.name()).into_owned(), r.length()))
            .collect();
        let reader = fasta::io::indexed_reader::Builder::default()
            .set_index(index)
            .build_from_path(path)
            .map_err(|e| Error::Index {
                path: path.to_path_buf(),
                message: format!("cannot open for random access (is it bgzf, with a .gzi?): {e}"),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            backend: Backend::Indexed(Box::new(reader)),
            lengths,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequence names and lengths, in file order.
    pub fn sequences(&self) -> &[(String, u64)] {
        &self.lengths
    }

    /// The genome's name for `chrom`: itself, or with the `chr` prefix added or removed (VCF, BED
    /// and annotation files disagree with FASTA headers on it).
    pub fn resolve_name(&self, chrom: &str) -> Option<String> {
        let has = |n: &str| self.lengths.iter().any(|(s, _)| s == n);
        let toggled = match chrom.strip_prefix("chr") {
            Some(rest) => rest.to_string(),
            None => format!("chr{chrom}"),
        };
        [chrom.to_string(), toggled].into_iter().find(|n| has(n))
    }

    pub fn length(&self, name: &str) -> Result<u64> {
        sequence_length(&self.path, &self.lengths, name)
    }

    /// The bases of `interval` (uppercase), reverse-complemented when it is on the '-' strand.
    pub fn fetch(&mut self, interval: &Interval) -> Result<Vec<u8>> {
        let length = self.length(&interval.name)?;
        if interval.end > length || interval.start >= interval.end {
            return Err(Error::OutOfBounds {
                path: self.path.clone(),
                name: interval.name.clone(),
                start: interval.start,
                end: interval.end,
                length,
            });
        }
        let mut seq = match &mut self.backend {
            Backend::InMemory(map) => {
                map[&interval.name][interval.start as usize..interval.end as usize].to_vec()
            }
            Backend::Indexed(reader) => {
                let region = format!("{}:{}-{}", interval.name, interval.start + 1, interval.end)
                    .parse::<noodles::core::Region>()
                    .map_err(|e| Error::Region {
                        text: interval.name.clone(),
                        message: e.to_string(),
                    })?;
                let record = reader
                    .query(&region)
                    .map_err(|e| super::fasta::read_error(&self.path, e))?;
                let raw = record.sequence().as_ref();
                let mut out = Vec::with_capacity(raw.len());
                push_sequence_line(raw, &mut out).map_err(|i| {
                    Error::parse(
                        &self.path,
                        0,
                        format!(
                            "{} in {}:{} is not a nucleotide",
                            describe_byte(raw[i]),
                            interval.name,
                            interval.start + 1 + i as u64
                        ),
                    )
                })?;
                out
            }
        };
        if interval.strand == Strand::Reverse {
            reverse_complement_in_place(&mut seq);
        }
        Ok(seq)
    }
}
