//! Labelled data sets derived from annotations (Genomic-ULMFiT's derived tasks).

use std::path::PathBuf;

pub mod promoters;
pub mod tf_sites;

/// What can go wrong deriving a data set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Genome(#[from] crate::genome::Error),
    #[error("{path}: no CDS feature gives a complete window (upstream {upstream}, downstream {downstream})", path = path.display())]
    NoPositives {
        path: PathBuf,
        upstream: u64,
        downstream: u64,
    },
    #[error("{path}: line {line}: {message}", path = path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}", path = path.display())]
    File { path: PathBuf, message: String },
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}
