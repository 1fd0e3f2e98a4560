//! The corpus directory, as written by the builder and read by everything downstream:
//!
//! - `tokens.bin`: token ids, little-endian u16 (or u32 when the vocabulary needs it), documents
//!   back to back in input order. Memory-mapped by readers.
//! - `documents.bin`: one 32-byte little-endian entry per document ([`DocEntry`]).
//! - `records.tsv`: the input records (source file, name, length, base composition).
//! - `tokenizer.json` + `tokenizer_config.json`: the vocabulary (Hugging Face format).
//! - `corpus.toml`: the resolved config, sources with sha256, split, counts ([`CorpusManifest`]).
//!
//! Token `j` of a document covers bases `[start + j*stride, start + j*stride + k)` of its record
//! (0-based, forward strand; a '-' document reads the reverse complement of its span).

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::config::CorpusConfig;
use crate::genome::nucleotide::BaseCounts;

pub const TOKENS_FILE: &str = "tokens.bin";
pub const DOCUMENTS_FILE: &str = "documents.bin";
pub const RECORDS_FILE: &str = "records.tsv";
pub const MANIFEST_FILE: &str = "corpus.toml";
pub const DOC_ENTRY_BYTES: usize = 32;
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Valid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocEntry {
    /// Index of the document's first token in tokens.bin.
    pub offset: u64,
    pub n_tokens: u32,
    /// Row of records.tsv.
    pub record: u32,
    /// 0-based position of the document's first base on the record.
    pub start: u64,
    pub n_bases: u32,
    pub reverse: bool,
    pub split: Split,
}

impl DocEntry {
    pub fn to_bytes(&self) -> [u8; DOC_ENTRY_BYTES] {
        let mut b = [0u8; DOC_ENTRY_BYTES];
        b[0..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..12].copy_from_slice(&self.n_tokens.to_le_bytes());
        b[12..16].copy_from_slice(&self.record.to_le_bytes());
        b[16..24].copy_from_slice(&self.start.to_le_bytes());
        b[24..28].copy_from_slice(&self.n_bases.to_le_bytes());
        b[28] = self.reverse as u8;
        b[29] = (self.split == Split::Valid) as u8;
        b
    }

    pub fn from_bytes(b: &[u8]) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Self {
            offset: u64_at(0),
            n_tokens: u32_at(8),
            record: u32_at(12),
            start: u64_at(16),
            n_bases: u32_at(24),
            reverse: b[28] != 0,
            split: if b[29] != 0 {
                Split::Valid
            } else {
                Split::Train
            },
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SourceInfo {
    pub path: PathBuf,
    pub format: crate::genome::SequenceFormat,
    pub sha256: String,
    pub file_bytes: u64,
    pub records: u64,
    pub bp: u64,
    pub gc: f64,
    pub n_bases: u64,
    pub documents: u64,
    pub tokens: u64,
    pub unk_tokens: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenizerInfo {
    pub k: usize,
    pub stride: usize,
    pub vocab_size: usize,
    pub token_dtype: String,
    pub sha256: String,
    /// Where an existing tokenizer was taken from, if one was.
    pub from: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub documents: u64,
    pub train_documents: u64,
    pub valid_documents: u64,
    pub tokens: u64,
    pub train_tokens: u64,
    pub valid_tokens: u64,
    pub unk_tokens: u64,
    pub bp: u64,
    /// Bases in documents (bp minus dropped N runs and pieces shorter than k).
    pub bp_in_documents: u64,
    pub dropped_n_bases: u64,
    pub records: u64,
    pub bases: BaseCounts,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CorpusManifest {
    pub format_version: u32,
    pub genolm_version: String,
    pub created_unix: u64,
    pub build_seconds: f64,
    pub tokenizer: TokenizerInfo,
    pub counts: Counts,
    pub sources: Vec<SourceInfo>,
    /// The resolved configuration this corpus was built from.
    pub config: CorpusConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a genolm corpus: {message}", path = path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The document index against the manifest: as many documents, each inside tokens.bin, their
/// tokens adding up. A damaged or swapped index is named here rather than read out of bounds.
fn check_documents(docs: &[DocEntry], counts: &Counts) -> Result<(), String> {
    if docs.len() as u64 != counts.documents {
        return Err(format!(
            "{} documents, the manifest (corpus.toml) says {}",
            docs.len(),
            counts.documents
        ));
    }
    let mut total = 0u64;
    for (i, d) in docs.iter().enumerate() {
        let end = d.offset.checked_add(u64::from(d.n_tokens));
        if end.is_none_or(|e| e > counts.tokens) {
            return Err(format!(
                "document {i} spans tokens {}..{} of a tokens.bin of {}",
                d.offset,
                u128::from(d.offset) + u128::from(d.n_tokens),
                counts.tokens
            ));
        }
        total += u64::from(d.n_tokens);
    }
    if total != counts.tokens {
        return Err(format!(
            "its documents hold {total} tokens, the manifest says {}",
            counts.tokens
        ));
    }
    Ok(())
}

/// A memory-mapped corpus.
pub struct Corpus {
    pub dir: PathBuf,
    pub manifest: CorpusManifest,
    pub documents: Vec<DocEntry>,
    tokens: Mmap,
    wide: bool,
}

impl Corpus {
    pub fn open(dir: &Path) -> Result<Self, ReadError> {
        let io = |path: PathBuf| move |source| ReadError::Io { path, source };
        let invalid = |path: &Path, message: String| ReadError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mpath = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&mpath).map_err(io(mpath.clone()))?;
        let manifest: CorpusManifest =
            toml::from_str(&text).map_err(|e| invalid(&mpath, e.to_string()))?;
        let dpath = dir.join(DOCUMENTS_FILE);
        let dbytes = std::fs::read(&dpath).map_err(io(dpath.clone()))?;
        if dbytes.len() % DOC_ENTRY_BYTES != 0 {
            return Err(invalid(
                &dpath,
                format!(
                    "size {} is not a multiple of {DOC_ENTRY_BYTES}",
                    dbytes.len()
                ),
            ));
        }
        let documents: Vec<DocEntry> = dbytes
            .chunks_exact(DOC_ENTRY_BYTES)
            .map(DocEntry::from_bytes)
            .collect();
        let tpath = dir.join(TOKENS_FILE);
        let file = File::open(&tpath).map_err(io(tpath.clone()))?;
        // SAFETY: the file is opened read-only; a corpus is immutable once its directory is committed.
        let tokens = unsafe { Mmap::map(&file) }.map_err(io(tpath.clone()))?;
        let wide = match manifest.tokenizer.token_dtype.as_str() {
            "u16" => false,
            "u32" => true,
            other => return Err(invalid(&mpath, format!("unknown token_dtype {other:?}"))),
        };
        let width = if wide { 4 } else { 2 };
        if tokens.len() as u64 != manifest.counts.tokens * width {
            return Err(invalid(
                &tpath,
                format!(
                    "{} bytes, expected {} tokens of {width} bytes",
                    tokens.len(),
                    manifest.counts.tokens
                ),
            ));
        }
        check_documents(&documents, &manifest.counts).map_err(|m| invalid(&dpath, m))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            documents,
            tokens,
            wide,
        })
    }

    pub fn n_tokens(&self) -> usize {
        self.manifest.counts.tokens as usize
    }

    /// The token id at index `i` of tokens.bin.
    #[inline]
    pub fn token(&self, i: usize) -> u32 {
        if self.wide {
            u32::from_le_bytes(self.tokens[4 * i..4 * i + 4].try_into().expect("4 bytes"))
        } else {
            u16::from_le_bytes(self.tokens[2 * i..2 * i + 2].try_into().expect("2 bytes")) as u32
        }
    }

    /// Copies tokens `[start, start + out.len())` into `out`.
    pub fn read_tokens(&self, start: usize, out: &mut [u32]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = self.token(start + j);
        }
    }

    /// Tokens of one document.
    pub fn document_tokens(&self, doc: &DocEntry) -> Vec<u32> {
        let mut out = vec![0; doc.n_tokens as usize];
        self.read_tokens(doc.offset as usize, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(offset: u64, n_tokens: u32) -> DocEntry {
        DocEntry {
            offset,
            n_tokens,
            record: 0,
            start: 0,
            n_bases: n_tokens,
            reverse: false,
            split: Split::Train,
        }
    }

    #[test]
    fn test_a_damaged_document_index_is_named() {
        let counts = Counts {
            documents: 2,
            tokens: 10,
            ..Default::default()
        };
        assert!(check_documents(&[doc(0, 4), doc(4, 6)], &counts).is_ok());
        let err = check_documents(&[doc(0, 4), doc(8, 6)], &counts).unwrap_err();
        assert!(
            err.contains("document 1 spans tokens 8..14 of a tokens.bin of 10"),
            "{err}"
        );
        let err = check_documents(&[doc(0, 4)], &counts).unwrap_err();
        assert!(err.contains("1 documents, the manifest"), "{err}");
        let err = check_documents(&[doc(0, 4), doc(4, 5)], &counts).unwrap_err();
        assert!(err.contains("hold 9 tokens"), "{err}");
        let err = check_documents(&[doc(u64::MAX, 4), doc(4, 6)], &counts).unwrap_err();
        assert!(err.contains("document 0 spans"), "{err}");
    }
}
