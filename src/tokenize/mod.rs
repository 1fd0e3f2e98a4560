//! K-mer tokenization: 2-bit packed codes and a dense code -> id table on the hot path; a Hugging Face
//! `tokenizer.json` (WordLevel over k-mer strings) as the saved form.

pub mod hf;
pub mod kmer;
pub mod vocab;

pub use kmer::{CodeWord, KmerSpec, UNK_CODE};
pub use vocab::{KmerTokenizer, VocabLimits, PAD_ID, PAD_TOKEN, UNK_ID, UNK_TOKEN};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("k = {0} is out of range: k must be 1..=12")]
    BadK(usize),
    #[error("stride = {stride} is out of range for k = {k}: stride must be 1..=k")]
    BadStride { k: usize, stride: usize },
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a genolm k-mer tokenizer: {message}", path = path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "min_freq {min_freq} leaves no k-mer in the vocabulary ({distinct} distinct k-mers seen)"
    )]
    EmptyVocab { min_freq: u64, distinct: usize },
}

pub type Result<T> = std::result::Result<T, Error>;
