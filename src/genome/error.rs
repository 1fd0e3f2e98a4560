use std::path::PathBuf;

/// Errors of genome input. Each names the file and, where there is one, the record and line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: truncated or corrupt gzip data ({source})", path = path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: file is empty (no FASTA or GenBank records)", path = path.display())]
    Empty { path: PathBuf },
    #[error(
        "{path}: not FASTA or GenBank: expected a '>' header or a LOCUS line, found {first_line:?}",
        path = path.display()
    )]
    UnknownFormat { path: PathBuf, first_line: String },
    #[error("{path}: this is {detected}, but it was given as {given}", path = path.display())]
    FormatMismatch {
        path: PathBuf,
        detected: String,
        given: String,
    },
    #[error("{path}: line {line}: {message}", path = path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: record '{record}' (line {line}) has no sequence", path = path.display())]
    NoSequence {
        path: PathBuf,
        record: String,
        line: u64,
    },
    #[error(
        "{path}: record '{record}' has {bases} bases but none of them is A, C, G or T (all N/ambiguous)",
        path = path.display()
    )]
    AllN {
        path: PathBuf,
        record: String,
        bases: u64,
    },
    #[error("{path}: GenBank record {record}: {message}", path = path.display())]
    GenBank {
        path: PathBuf,
        record: usize,
        message: String,
    },
    #[error("region {text:?}: {message}")]
    Region { text: String, message: String },
    #[error("{path}: {message}", path = path.display())]
    Index { path: PathBuf, message: String },
    #[error("{path}: sequence '{name}' not found{hint} (known: {known})", path = path.display())]
    UnknownSequence {
        path: PathBuf,
        name: String,
        /// " (did you mean 'chr1'?)" when a known name is close, else empty.
        hint: String,
        known: String,
    },
    #[error(
        "{path}: {name}:{start}-{end} is outside the sequence (length {length})",
        path = path.display()
    )]
    OutOfBounds {
        path: PathBuf,
        name: String,
        start: u64,
        end: u64,
        length: u64,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
