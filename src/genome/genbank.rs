//! GenBank flat files (via gb-io): sequence for corpora, features (with strand) for derived tasks.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use gb_io::reader::SeqReader;
use gb_io::seq::Location;

use super::nucleotide::{describe_byte, push_sequence_line, BaseCounts};
use super::region::Strand;
use super::{Error, RecordStream, RecordTally, Result};

/// A GenBank file as a [`RecordStream`]. gb-io parses a record at a time, so one record (a bacterial
/// chromosome, a few MB) is in memory at once.
pub struct GenBankStream<R: std::io::Read> {
    records: SeqReader<R>,
    path: PathBuf,
    index: usize,
    current: Option<(String, Vec<u8>)>,
    counts: BaseCounts,
    offset: usize,
}

impl<R: BufRead + Send> GenBankStream<R> {
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Self {
        Self {
            records: SeqReader::new(reader),
            path: path.into(),
            index: 0,
            current: None,
            counts: BaseCounts::default(),
            offset: 0,
        }
    }
}

fn record_name(seq: &gb_io::seq::Seq, index: usize) -> String {
    seq.name
        .clone()
        .or_else(|| seq.accession.clone())
        .unwrap_or_else(|| format!("record{index}"))
}

fn next_genbank_record<R: std::io::Read>(
    records: &mut SeqReader<R>,
    path: &Path,
    index: usize,
) -> Result<Option<gb_io::seq::Seq>> {
    match records.next() {
        None => Ok(None),
        Some(Ok(seq)) => Ok(Some(seq)),
        Some(Err(e)) => {
            let message = e.to_string();
            if let gb_io::reader::GbParserError::Io(io) = e {
                return Err(super::fasta::read_error(path, io));
            }
            Err(Error::GenBank {
                path: path.to_path_buf(),
                record: index,
                message,
            })
        }
    }
}

/// Normalises a record's sequence under the shared base policy.
fn normalise(path: &Path, index: usize, name: &str, raw: &[u8]) -> Result<(Vec<u8>, BaseCounts)> {
    let mut out = Vec::with_capacity(raw.len());
    push_sequence_line(raw, &mut out).map_err(|i| Error::GenBank {
        path: path.to_path_buf(),
        record: index,
        message: format!(
            "'{name}': {} at sequence position {} is not a nucleotide",
            describe_byte(raw[i]),
            i + 1
        ),
    })?;
    let mut tally = RecordTally::default();
    tally.add(&out);
    tally.check(path, name, 0)?;
    Ok((out, tally.counts))
}

impl<R: BufRead + Send> RecordStream for GenBankStream<R> {
    fn next_record(&mut self) -> Result<Option<String>> {
        let Some(seq) = next_genbank_record(&mut self.records, &self.path, self.index + 1)? else {
            if self.index == 0 {
                return Err(Error::Empty {
                    path: self.path.clone(),
                });
            }
            self.current = None;
            return Ok(None);
        };
        self.index += 1;
        let name = record_name(&seq, self.index);
        let (bases, _) = normalise(&self.path, self.index, &name, &seq.seq)?;
        self.current = Some((name.clone(), bases));
        self.counts = BaseCounts::default();
        self.offset = 0;
        Ok(Some(name))
    }

    fn read_bases(&mut self, out: &mut Vec<u8>, max: usize) -> Result<usize> {
        let Some((_, bases)) = &self.current else {
            return Ok(0);
        };
        let end = (self.offset + max).min(bases.len());
        out.extend_from_slice(&bases[self.offset..end]);
        self.counts.add(&bases[self.offset..end]);
        let n = end - self.offset;
        self.offset = end;
        Ok(n)
    }

    fn composition(&self) -> BaseCounts {
        self.counts
    }
}

/// A feature of an annotated record, in 0-based half-open coordinates of its outer bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenomicFeature {
    pub kind: String,
    pub start: u64,
    pub end: u64,
    pub strand: Strand,
    /// `gene` qualifier, else `locus_tag`, else empty.
    pub name: String,
    pub locus_tag: String,
    /// Number of joined parts (1 for a simple range).
    pub parts: usize,
    pub pseudo: bool,
}

#[derive(Debug, Clone)]
pub struct AnnotatedRecord {
    pub name: String,
    pub sequence: Vec<u8>,
    pub features: Vec<GenomicFeature>,
}

fn strand_of(location: &Location) -> Strand {
    match location {
        Location::Complement(_) => Strand::Reverse,
        Location::Join(parts) | Location::Order(parts) => match parts.first() {
            Some(first) if parts.iter().all(|p| matches!(p, Location::Complement(_))) => {
                strand_of(first)
            }
            _ => Strand::Forward,
        },
        _ => Strand::Forward,
    }
}

/// Outer bounds over every part (gb-io's `find_bounds` takes the first and last part, which is wrong for
/// minus-strand joins listed in transcript order).
fn outer_bounds(location: &Location) -> Option<(i64, i64)> {
    match location {
        Location::Range((a, _), (b, _)) => Some((*a, *b)),
        Location::Between(a, b) => Some((*a, *b + 1)),
        Location::Complement(inner) => outer_bounds(inner),
        Location::Join(parts)
        | Location::Order(parts)
        | Location::Bond(parts)
        | Location::OneOf(parts) => {
            let bounds: Vec<(i64, i64)> = parts.iter().filter_map(outer_bounds).collect();
            let start = bounds.iter().map(|b| b.0).min()?;
            let end = bounds.iter().map(|b| b.1).max()?;
            Some((start, end))
        }
        _ => None,
    }
}

fn part_count(location: &Location) -> usize {
    match location {
        Location::Complement(inner) => part_count(inner),
        Location::Join(parts) | Location::Order(parts) => parts.iter().map(part_count).sum(),
        _ => 1,
    }
}

/// Reads every record of a GenBank file with its features (kinds given, or all when empty).
pub fn read_annotated(path: &Path, kinds: &[&str]) -> Result<Vec<AnnotatedRecord>> {
    let reader = super::open::open_decompressed(path)?;
    let mut records = SeqReader::new(reader);
    let mut out = Vec::new();
    let mut index = 0;
    while let Some(seq) = next_genbank_record(&mut records, path, index + 1)? {
        index += 1;
        let name = record_name(&seq, index);
        let (sequence, _) = normalise(path, index, &name, &seq.seq)?;
        let mut features = Vec::new();
        for f in &seq.features {
            if !kinds.is_empty() && !kinds.contains(&f.kind.as_ref()) {
                continue;
            }
            let Some((start, end)) = outer_bounds(&f.location) else {
                continue; // ambiguous or external locations carry no usable span
            };
            let gene = f.qualifier_values("gene").next().unwrap_or("");
            let locus_tag = f.qualifier_values("locus_tag").next().unwrap_or("");
            features.push(GenomicFeature {
                kind: f.kind.to_string(),
                start: start.max(0) as u64,
                end: end.max(0) as u64,
                strand: strand_of(&f.location),
                name: if gene.is_empty() { locus_tag } else { gene }.to_string(),
                locus_tag: locus_tag.to_string(),
                parts: part_count(&f.location),
                pseudo: f.qualifiers.iter().any(|(k, _)| k.as_ref() == "pseudo"),
            });
        }
        out.push(AnnotatedRecord {
            name,
            sequence,
            features,
        });
    }
    if out.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}
