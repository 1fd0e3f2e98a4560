//! Token corpora: whole genomes cut into documents, tokenized into k-mer ids, written as a
//! memory-mapped token file with a document index that maps every token back to the genome.

pub mod build;
pub mod config;
pub mod format;
pub mod labelled;
pub mod lm;
pub mod onehot_h5;
pub mod segment;
pub mod stats;

pub use build::{build_corpus, BuildReport};
pub use config::CorpusConfig;
pub use format::{Corpus, DocEntry, Split};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Genome(#[from] crate::genome::Error),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenize::Error),
    #[error(transparent)]
    Output(#[from] crate::fsutil::StagingError),
    #[error(transparent)]
    Read(#[from] format::ReadError),
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid corpus config: {0}")]
    Config(String),
    #[error(
        "vocabulary of {vocab_size} ids does not fit token_width = \"u16\" (at most 65,536); \
         use token_width = \"u32\" or \"auto\", or lower tokenizer.max_vocab / k"
    )]
    VocabTooLargeForU16 { vocab_size: usize },
    #[error("the inputs hold no k-mer: every document is shorter than k = {k}")]
    NoTokens { k: usize },
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted: nothing was written")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;
