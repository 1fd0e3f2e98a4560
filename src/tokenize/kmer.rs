//! K-mers as 2-bit packed codes: A=0, C=1, G=2, T=3, first base in the highest bits.

use rayon::prelude::*;

use super::{Error, Result};
use crate::genome::nucleotide::BASE_CODE;

/// Code of a k-mer that contains a base other than A/C/G/T; it maps to `unk`.
pub const UNK_CODE: u32 = u32::MAX;

/// Tokens per parallel work item: large enough to amortise scheduling, small enough to balance.
const PAR_CHUNK_TOKENS: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KmerSpec {
    pub k: usize,
    pub stride: usize,
}

impl KmerSpec {
    pub fn new(k: usize, stride: usize) -> Result<Self> {
        if !(1..=12).contains(&k) {
            return Err(Error::BadK(k));
        }
        if !(1..=k).contains(&stride) {
            return Err(Error::BadStride { k, stride });
        }
        Ok(Self { k, stride })
    }

    /// Number of distinct k-mers, 4^k.
    pub fn n_kmers(&self) -> usize {
        1usize << (2 * self.k)
    }

    /// Tokens of a sequence of `len` bases: floor((len - k) / stride) + 1, or 0 when len < k.
    pub fn n_tokens(&self, len: usize) -> usize {
        if len < self.k {
            0
        } else {
            (len - self.k) / self.stride + 1
        }
    }

    /// The k-mer string of a code.
    pub fn decode(&self, code: u32) -> String {
        (0..self.k)
            .rev()
            .map(|i| b"ACGT"[((code >> (2 * i)) & 3) as usize] as char)
            .collect()
    }

    /// The code of a k-mer string (any case), or `None` if it is not k bases of A/C/G/T.
    pub fn encode_kmer(&self, kmer: &str) -> Option<u32> {
        if kmer.len() != self.k {
            return None;
        }
        kmer.bytes().try_fold(0u32, |code, b| {
            let c = BASE_CODE[b as usize];
            (c < 4).then_some((code << 2) | c as u32)
        })
    }

    /// Writes the codes of the tokens starting at `first`, `first + stride`, ... into `dst`.
    /// The caller guarantees that every one of those k-mers lies inside `seq`.
    fn fill_codes(&self, seq: &[u8], first: usize, dst: &mut [u32]) {
        let k = self.k;
        let mask: u32 = (1u32 << (2 * k)) - 1; // k <= 12, so 24 bits at most
        let mut code: u32 = 0;
        let mut valid = 0usize; // consecutive A/C/G/T bases ending at the current one
        let mut pos = first;
        let mut next_end = first + k - 1;
        let mut out = 0;
        while out < dst.len() {
            let c = BASE_CODE[seq[pos] as usize];
            code = ((code << 2) | (c & 3) as u32) & mask;
            valid = if c < 4 { valid + 1 } else { 0 };
            if pos == next_end {
                dst[out] = if valid >= k { code } else { UNK_CODE };
                out += 1;
                next_end += self.stride;
            }
            pos += 1;
        }
    }

    /// Appends the k-mer codes of `seq` (tokens at 0, stride, 2*stride, ... that fit) to `out`.
    pub fn codes_into(&self, seq: &[u8], out: &mut Vec<u32>) {
        let n = self.n_tokens(seq.len());
        let start = out.len();
        out.resize(start + n, 0);
        self.fill_codes(seq, 0, &mut out[start..]);
    }

    /// [`fill_codes`](Self::fill_codes) for a sequence known to hold only uppercase A/C/G/T: no
    /// validity tracking, and each step shifts in `stride` bases (A=0x41, C=0x43, G=0x47, T=0x54 map
    /// to 0..3 by `((b >> 1) ^ (b >> 2)) & 3`, no table).
    fn fill_codes_clean(&self, seq: &[u8], first: usize, dst: &mut [u32]) {
        if dst.is_empty() {
            return;
        }
        let (k, s) = (self.k, self.stride);
        let mask: u32 = (1u32 << (2 * k)) - 1;
        let two_bit = |b: u8| (((b >> 1) ^ (b >> 2)) & 3) as u32;
        let mut code = seq[first..first + k]
            .iter()
            .fold(0u32, |c, &b| (c << 2) | two_bit(b));
        dst[0] = code;
        let mut next = first + k;
        for d in dst[1..].iter_mut() {
            for &b in &seq[next..next + s] {
                code = (code << 2) | two_bit(b);
            }
            code &= mask;
            next += s;
            *d = code;
        }
    }

    /// Appends the codes of several independent sequences to `out`, in parallel over chunks of
    /// tokens; returns the token count of each sequence. `clean[i]` says sequence i is only
    /// uppercase A/C/G/T (a faster path).
    pub fn codes_of_many_par(
        &self,
        seqs: &[&[u8]],
        clean: &[bool],
        out: &mut Vec<u32>,
    ) -> Vec<usize> {
        let counts: Vec<usize> = seqs.iter().map(|s| self.n_tokens(s.len())).collect();
        let start = out.len();
        out.resize(start + counts.iter().sum::<usize>(), 0);
        let mut rest = &mut out[start..];
        let mut work: Vec<(&[u8], bool, usize, &mut [u32])> = Vec::new();
        for ((seq, &n), &is_clean) in seqs.iter().zip(&counts).zip(clean) {
            let (mut dst, tail) = rest.split_at_mut(n);
            rest = tail;
            let mut first = 0;
            while !dst.is_empty() {
                let take = dst.len().min(PAR_CHUNK_TOKENS);
                let (head, more) = dst.split_at_mut(take);
                work.push((seq, is_clean, first * self.stride, head));
                first += take;
                dst = more;
            }
        }
        work.into_par_iter().for_each(|(seq, is_clean, pos, dst)| {
            if is_clean {
                self.fill_codes_clean(seq, pos, dst)
            } else {
                self.fill_codes(seq, pos, dst)
            }
        });
        counts
    }

    /// Like [`codes_into`](Self::codes_into), in parallel over chunks of tokens (for long sequences).
    pub fn codes_into_par(&self, seq: &[u8], out: &mut Vec<u32>) {
        let n = self.n_tokens(seq.len());
        if n < 2 * PAR_CHUNK_TOKENS {
            return self.codes_into(seq, out);
        }
        let start = out.len();
        out.resize(start + n, 0);
        out[start..]
            .par_chunks_mut(PAR_CHUNK_TOKENS)
            .enumerate()
            .for_each(|(j, dst)| self.fill_codes(seq, j * PAR_CHUNK_TOKENS * self.stride, dst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(seq: &[u8], spec: KmerSpec) -> Vec<u32> {
        let mut out = Vec::new();
        let mut p = 0;
        while p + spec.k <= seq.len() {
            let s = std::str::from_utf8(&seq[p..p + spec.k]).unwrap();
            out.push(spec.encode_kmer(s).unwrap_or(UNK_CODE));
            p += spec.stride;
        }
        out
    }

    #[test]
    fn test_codes_match_naive_for_every_k_and_stride() {
        let seq = b"ACGTNACGTTGCAacgtRYACGGGTTTAAACCCNNNNACGTACGTAGCTAGCTAGGATCGATCG";
        for k in 1..=12 {
            for stride in 1..=k {
                let spec = KmerSpec::new(k, stride).unwrap();
                for len in [0, k.saturating_sub(1), k, k + 1, seq.len()] {
                    let mut got = Vec::new();
                    spec.codes_into(&seq[..len], &mut got);
                    assert_eq!(
                        got,
                        naive(&seq[..len], spec),
                        "k={k} stride={stride} len={len}"
                    );
                    assert_eq!(got.len(), spec.n_tokens(len));
                }
            }
        }
    }

    #[test]
    fn test_parallel_equals_sequential() {
        let mut state = 7u64;
        let seq: Vec<u8> = (0..1_000_003)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"ACGTACGTACGTACGN"[(state >> 60) as usize]
            })
            .collect();
        for (k, s) in [(5, 2), (3, 1), (12, 7)] {
            let spec = KmerSpec::new(k, s).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            spec.codes_into(&seq, &mut a);
            spec.codes_into_par(&seq, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn test_clean_path_equals_general_path() {
        let mut state = 99u64;
        let seq: Vec<u8> = (0..5000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"ACGT"[(state >> 62) as usize]
            })
            .collect();
        for k in 1..=12 {
            for stride in 1..=k {
                let spec = KmerSpec::new(k, stride).unwrap();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                spec.codes_into(&seq, &mut a);
                spec.codes_of_many_par(&[&seq[..], &seq[7..]], &[true, true], &mut b);
                spec.codes_into(&seq[7..], &mut a);
                assert_eq!(a, b, "k={k} stride={stride}");
            }
        }
    }

    #[test]
    fn test_decode_encode_round_trip() {
        let spec = KmerSpec::new(6, 3).unwrap();
        for code in [0u32, 1, 4095, 1234] {
            assert_eq!(spec.encode_kmer(&spec.decode(code)), Some(code));
        }
        assert_eq!(spec.decode(0b00_01_10_11_00_00), "ACGTAA");
    }

    #[test]
    fn test_spec_bounds() {
        assert!(KmerSpec::new(0, 1).is_err());
        assert!(KmerSpec::new(13, 1).is_err());
        assert!(KmerSpec::new(5, 6).is_err());
        assert!(KmerSpec::new(5, 0).is_err());
    }
}
