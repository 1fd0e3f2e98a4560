//! Genome input: FASTA (plain, gzip, bgzf + fai/gzi), GenBank, regions and BED intervals.
//!
//! Every reader hands out uppercase bytes under one policy (see [`nucleotide`]): IUPAC letters are
//! kept (U becomes T), soft-masking is removed, anything else is an error that names the file and line.

pub mod bed;
pub mod error;
pub mod fasta;
pub mod genbank;
pub mod indexed;
pub mod nucleotide;
pub mod open;
pub mod region;
pub mod shuffle;

pub use error::Error;
pub use open::{open_records, SequenceFormat};
pub use region::{Interval, Region, Strand};

pub type Result<T> = std::result::Result<T, Error>;

/// A streamed, record-by-record source of sequence.
///
/// Records are read in pieces so that a chromosome never has to sit in memory whole.
pub trait RecordStream: Send {
    /// Moves to the next record and returns its name, or `None` at the end of the input.
    fn next_record(&mut self) -> Result<Option<String>>;

    /// Appends up to about `max` bases of the current record to `out` (uppercased, validated).
    /// Returns how many were appended; 0 means the record is finished.
    fn read_bases(&mut self, out: &mut Vec<u8>, max: usize) -> Result<usize>;

    /// Base composition of the current record, as far as it has been read.
    fn composition(&self) -> nucleotide::BaseCounts;
}

/// Per-record base counts, kept by every reader so that empty and all-N records are caught in one place.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordTally {
    pub counts: nucleotide::BaseCounts,
}

impl RecordTally {
    pub fn add(&mut self, bases: &[u8]) {
        self.counts.add(bases);
    }

    /// The record is finished: reject it if it had no sequence or nothing but N/ambiguity codes.
    pub fn check(&self, path: &std::path::Path, record: &str, line: u64) -> Result<()> {
        let bases = self.counts.total();
        if bases == 0 {
            return Err(Error::NoSequence {
                path: path.to_path_buf(),
                record: record.to_string(),
                line,
            });
        }
        if bases == self.counts.other {
            return Err(Error::AllN {
                path: path.to_path_buf(),
                record: record.to_string(),
                bases,
            });
        }
        Ok(())
    }
}
