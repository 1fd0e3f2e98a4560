//! The k-mer vocabulary: special tokens first (`<pad>` = 0, `<unk>` = 1), then k-mers by corpus
//! frequency (ties broken by k-mer order, so the same counts always give the same ids).

use rayon::prelude::*;

use super::kmer::{KmerSpec, UNK_CODE};
use super::{Error, Result};

pub const PAD_TOKEN: &str = "<pad>";
pub const UNK_TOKEN: &str = "<unk>";
pub const PAD_ID: u32 = 0;
pub const UNK_ID: u32 = 1;
const N_SPECIAL: usize = 2;

/// Marks a code that is not in the vocabulary in the dense table.
const ABSENT: u32 = u32::MAX;

/// Which k-mers make it into the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocabLimits {
    /// K-mers seen fewer times than this are left out (they become `unk`).
    pub min_freq: u64,
    /// At most this many k-mers (special tokens not counted); 0 = no limit.
    pub max_vocab: usize,
}

impl Default for VocabLimits {
    fn default() -> Self {
        Self {
            min_freq: 1,
            max_vocab: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct KmerTokenizer {
    spec: KmerSpec,
    /// id -> token string.
    tokens: Vec<String>,
    /// 2-bit code -> id (dense, 4^k entries); `ABSENT` for k-mers outside the vocabulary.
    code_to_id: Vec<u32>,
}

impl KmerTokenizer {
    /// Builds the vocabulary from k-mer counts indexed by code (length 4^k).
    pub fn from_counts(spec: KmerSpec, counts: &[u64], limits: VocabLimits) -> Result<Self> {
        assert_eq!(counts.len(), spec.n_kmers(), "counts must have 4^k entries");
        let mut kept: Vec<u32> = (0..counts.len() as u32)
            .filter(|&c| counts[c as usize] >= limits.min_freq.max(1))
            .collect();
        if kept.is_empty() {
            return Err(Error::EmptyVocab {
                min_freq: limits.min_freq,
                distinct: counts.iter().filter(|&&n| n > 0).count(),
            });
        }
        kept.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        if limits.max_vocab > 0 {
            kept.truncate(limits.max_vocab);
        }
        Ok(Self::from_codes(spec, &kept))
    }

    /// A vocabulary of the given codes, in that order, after the special tokens.
    pub fn from_codes(spec: KmerSpec, codes: &[u32]) -> Self {
        let mut tokens = vec![PAD_TOKEN.to_string(), UNK_TOKEN.to_string()];
        let mut code_to_id = vec![ABSENT; spec.n_kmers()];
        for (i, &code) in codes.iter().enumerate() {
            code_to_id[code as usize] = (N_SPECIAL + i) as u32;
            tokens.push(spec.decode(code));
        }
        Self {
            spec,
            tokens,
            code_to_id,
        }
    }

    /// Every k-mer, in code order (a vocabulary that needs no corpus).
    pub fn complete(spec: KmerSpec) -> Self {
        let codes: Vec<u32> = (0..spec.n_kmers() as u32).collect();
        Self::from_codes(spec, &codes)
    }

    pub fn spec(&self) -> KmerSpec {
        self.spec
    }

    pub fn k(&self) -> usize {
        self.spec.k
    }

    pub fn stride(&self) -> usize {
        self.spec.stride
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// id -> token string, in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    #[inline]
    pub fn id_of_code(&self, code: u32) -> u32 {
        if code == UNK_CODE {
            return UNK_ID;
        }
        match self.code_to_id[code as usize] {
            ABSENT => UNK_ID,
            id => id,
        }
    }

    /// Maps codes to ids in place, in parallel.
    pub fn codes_to_ids(&self, codes: &mut [u32]) {
        codes
            .par_chunks_mut(1 << 16)
            .for_each(|chunk| chunk.iter_mut().for_each(|c| *c = self.id_of_code(*c)));
    }

    /// Token ids of a sequence (any case; k-mers with N or other codes are `unk`).
    pub fn encode(&self, seq: &[u8]) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.spec.n_tokens(seq.len()));
        self.spec.codes_into_par(seq, &mut out);
        self.codes_to_ids(&mut out);
        out
    }

    /// The k-mer strings a sequence is cut into (the slow, obvious path; for checks and display).
    pub fn kmer_strings(&self, seq: &[u8]) -> Vec<String> {
        let (k, s) = (self.spec.k, self.spec.stride);
        (0..self.spec.n_tokens(seq.len()))
            .map(|t| String::from_utf8_lossy(&seq[t * s..t * s + k]).to_ascii_uppercase())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vocab_is_ordered_by_frequency_then_code() {
        let spec = KmerSpec::new(1, 1).unwrap();
        let tok = KmerTokenizer::from_counts(spec, &[5, 9, 5, 0], VocabLimits::default()).unwrap();
        assert_eq!(tok.tokens(), ["<pad>", "<unk>", "C", "A", "G"]);
        assert_eq!(tok.encode(b"ACGTN"), vec![3, 2, 4, UNK_ID, UNK_ID]);
    }

    #[test]
    fn test_min_freq_and_max_vocab() {
        let spec = KmerSpec::new(1, 1).unwrap();
        let limits = VocabLimits {
            min_freq: 6,
            max_vocab: 0,
        };
        let tok = KmerTokenizer::from_counts(spec, &[5, 9, 7, 6], limits).unwrap();
        assert_eq!(tok.vocab_size(), 5);
        let limits = VocabLimits {
            min_freq: 1,
            max_vocab: 2,
        };
        let tok = KmerTokenizer::from_counts(spec, &[5, 9, 7, 6], limits).unwrap();
        assert_eq!(tok.tokens(), ["<pad>", "<unk>", "C", "G"]);
        let limits = VocabLimits {
            min_freq: 100,
            max_vocab: 0,
        };
        assert!(KmerTokenizer::from_counts(spec, &[5, 9, 7, 6], limits).is_err());
    }
}
