//! `configs/corpus-*.toml`: what `genolm corpus build` reads. Every key has a default, so flags alone
//! are a complete config too (each flag is an override of one key).

use std::path::PathBuf;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusConfig {
    #[serde(default)]
    pub inputs: InputsSection,
    #[serde(default)]
    pub tokenizer: TokenizerSection,
    #[serde(default)]
    pub documents: DocumentsSection,
    #[serde(default)]
    pub split: SplitSection,
    #[serde(default)]
    pub output: OutputSection,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsSection {
    /// FASTA files: plain, gzip or bgzf.
    #[serde(default)]
    pub fasta: Vec<PathBuf>,
    /// GenBank flat files, plain or gzip.
    #[serde(default)]
    pub genbank: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenWidth {
    /// u16 when the vocabulary fits (65,536 ids), else u32.
    #[default]
    Auto,
    U16,
    U32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerSection {
    /// k-mer length, 1..=12 (default 5).
    #[serde(default)]
    pub k: Option<usize>,
    /// Step between k-mers, 1..=k (default 2).
    #[serde(default)]
    pub stride: Option<usize>,
    /// K-mers seen fewer times are `unk`.
    #[serde(default = "default_min_freq")]
    pub min_freq: u64,
    /// Most k-mers kept (by frequency); 0 = all.
    #[serde(default)]
    pub max_vocab: usize,
    /// Reuse an existing tokenizer (a tokenizer.json or a corpus/model dir) instead of building one,
    /// so a fine-tuning corpus shares its pretrained model's ids. k and stride then come from it.
    #[serde(default)]
    pub from: Option<PathBuf>,
    #[serde(default)]
    pub token_width: TokenWidth,
}

pub const DEFAULT_K: usize = 5;
pub const DEFAULT_STRIDE: usize = 2;
fn default_min_freq() -> u64 {
    1
}

impl Default for TokenizerSection {
    fn default() -> Self {
        Self {
            k: None,
            stride: None,
            min_freq: default_min_freq(),
            max_vocab: 0,
            from: None,
            token_width: TokenWidth::Auto,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentsSection {
    /// Bases per document; 0 = one document per record (split only at long N runs).
    #[serde(default)]
    pub doc_len: u64,
    /// Runs of at least this many non-ACGT bases (N, IUPAC codes) end a document and are dropped,
    /// as Genomic-ULMFiT drops N chunks; shorter runs stay and their k-mers are `unk`. 0 = never split.
    #[serde(default = "default_n_run_split")]
    pub n_run_split: u64,
}

fn default_n_run_split() -> u64 {
    10
}

impl Default for DocumentsSection {
    fn default() -> Self {
        Self {
            doc_len: 0,
            n_run_split: default_n_run_split(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSection {
    /// Fraction of documents held out for validation (chosen by document, reproducibly from `seed`).
    #[serde(default = "default_valid_frac")]
    pub valid_frac: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_valid_frac() -> f64 {
    0.1
}
fn default_seed() -> u64 {
    42
}

impl Default for SplitSection {
    fn default() -> Self {
        Self {
            valid_frac: default_valid_frac(),
            seed: default_seed(),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    #[serde(default)]
    pub dir: Option<PathBuf>,
}
