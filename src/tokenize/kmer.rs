//! K-mers as 2-bit packed codes: A=0, C=1, G=2, T=3, first base in the highest bits.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{Error, Result};
use crate::genome::nucleotide::BASE_CODE;

/// Code of a k-mer that contains a base other than A/C/G/T; it maps to `unk`.
pub const UNK_CODE: u32 = u32::MAX;

/// How k-mer codes are stored while a corpus is built: `u16` holds every code of k <= 7 (4^7 =
/// 16,384) with `unk` as `u16::MAX`, half the memory of `u32`, which any k needs.
pub trait CodeWord: sealed::Sealed + Copy + PartialEq + Default + Send + Sync + 'static {
    const BYTES: usize;
    /// The largest k whose codes fit.
    const MAX_K: usize;
    /// A code below 4^k, or [`UNK_CODE`].
    fn from_code(code: u32) -> Self;
    fn code(self) -> u32;
    /// The stored value itself, as an index (u16 codes index a table of every value).
    fn raw(self) -> usize;
}

mod sealed {
    /// Only plain little-endian integers: the AVX2 kernel writes codes as raw bytes.
    pub trait Sealed {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
}

impl CodeWord for u16 {
    const BYTES: usize = 2;
    const MAX_K: usize = 7;
    #[inline(always)]
    fn from_code(code: u32) -> Self {
        code as u16 // UNK_CODE (u32::MAX) truncates to u16::MAX
    }
    #[inline(always)]
    fn code(self) -> u32 {
        if self == u16::MAX {
            UNK_CODE
        } else {
            self as u32
        }
    }
    #[inline(always)]
    fn raw(self) -> usize {
        self as usize
    }
}

impl CodeWord for u32 {
    const BYTES: usize = 4;
    const MAX_K: usize = 12;
    #[inline(always)]
    fn from_code(code: u32) -> Self {
        code
    }
    #[inline(always)]
    fn code(self) -> u32 {
        self
    }
    #[inline(always)]
    fn raw(self) -> usize {
        self as usize
    }
}

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
    fn fill_codes<C: CodeWord>(&self, seq: &[u8], first: usize, dst: &mut [MaybeUninit<C>]) {
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
                dst[out].write(C::from_code(if valid >= k { code } else { UNK_CODE }));
                out += 1;
                next_end += self.stride;
            }
            pos += 1;
        }
    }

    /// Appends the k-mer codes of `seq` (tokens at 0, stride, 2*stride, ... that fit) to `out`.
    pub fn codes_into<C: CodeWord>(&self, seq: &[u8], out: &mut Vec<C>) {
        let n = self.n_tokens(seq.len());
        append_filled(out, n, |dst| self.fill_codes(seq, 0, dst));
    }

    /// [`fill_codes`](Self::fill_codes) for a sequence known to hold only uppercase A/C/G/T: the
    /// bases are packed 4 to a byte first, then every k-mer is one 32-bit load and two shifts,
    /// independent of its neighbours (no chain of shifts through the sequence), so the loop runs
    /// at the CPU's full width.
    fn fill_codes_clean<C: CodeWord>(&self, seq: &[u8], dst: &mut [MaybeUninit<C>]) {
        if dst.is_empty() {
            return;
        }
        let (k, s) = (self.k, self.stride);
        let span = &seq[..(dst.len() - 1) * s + k];
        let packed = pack_bases(span);
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            let groups = dst.len() / 8;
            // SAFETY: AVX2 is present; `packed` holds the bases of every token plus PACK_PAD zero
            // bytes, which covers the 16-byte loads of each group; `dst` has room for 8 * groups
            // codes of C (u16 or u32: CodeWord is sealed), written as their little-endian bytes.
            unsafe { simd::codes_avx2(&packed, k, s, groups, dst.as_mut_ptr().cast(), C::BYTES) };
            done = groups * 8;
        }
        let shift = 32 - 2 * k as u32;
        for (i, d) in dst.iter_mut().enumerate().skip(done) {
            let p = i * s;
            let word: [u8; 4] = packed[p / 4..p / 4 + 4].try_into().expect("4 bytes");
            let bits = u32::from_be_bytes(word) << (2 * (p % 4));
            d.write(C::from_code(bits >> shift));
        }
    }

    /// Appends the codes of several independent sequences to `out`; returns the token count of
    /// each. `clean[i]` says sequence i is only uppercase A/C/G/T (the faster path). Sequential on
    /// purpose: the corpus builder runs it beside its reader and hashing threads, and handing each
    /// block to a thread pool cost more than the k-mer kernel itself.
    pub fn codes_of_many<C: CodeWord>(
        &self,
        seqs: &[&[u8]],
        clean: &[bool],
        out: &mut Vec<C>,
    ) -> Vec<usize> {
        let counts: Vec<usize> = seqs.iter().map(|s| self.n_tokens(s.len())).collect();
        append_filled(out, counts.iter().sum(), |mut rest| {
            for ((seq, &n), &is_clean) in seqs.iter().zip(&counts).zip(clean) {
                let (dst, tail) = rest.split_at_mut(n);
                rest = tail;
                if is_clean {
                    self.fill_codes_clean(seq, dst)
                } else {
                    self.fill_codes(seq, 0, dst)
                }
            }
        });
        counts
    }

    /// Like [`codes_into`](Self::codes_into), in parallel over chunks of tokens (for long sequences).
    pub fn codes_into_par<C: CodeWord>(&self, seq: &[u8], out: &mut Vec<C>) {
        let n = self.n_tokens(seq.len());
        if n < 2 * PAR_CHUNK_TOKENS {
            return self.codes_into(seq, out);
        }
        append_filled(out, n, |dst| {
            dst.par_chunks_mut(PAR_CHUNK_TOKENS)
                .enumerate()
                .for_each(|(j, d)| self.fill_codes(seq, j * PAR_CHUNK_TOKENS * self.stride, d))
        });
    }
}

/// Appends `n` values to `out`, written by `fill` straight into the spare capacity: no zeroing
/// pass first (which would touch every new page twice). `fill` must write all `n`.
fn append_filled<C>(out: &mut Vec<C>, n: usize, fill: impl FnOnce(&mut [MaybeUninit<C>])) {
    out.reserve(n);
    let start = out.len();
    fill(&mut out.spare_capacity_mut()[..n]);
    // SAFETY: the fill functions write every element of the slice they are given (one per token),
    // so `start..start + n` is initialised.
    unsafe { out.set_len(start + n) };
}

/// Uppercase A/C/G/T packed 2 bits each, 4 per byte, first base in the highest bits, followed by
/// [`PACK_PAD`] zero bytes so that loads past the last base stay in bounds.
fn pack_bases(seq: &[u8]) -> Vec<u8> {
    let mut packed = Vec::with_capacity(seq.len() / 4 + 1 + PACK_PAD);
    let mut seq = seq;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let whole = seq.len() / 32 * 32;
        packed.resize(whole / 4, 0);
        // SAFETY: AVX2 is present; `seq[..whole]` is read 32 bytes at a time and `packed` holds
        // the whole / 4 bytes written.
        unsafe { simd::pack_avx2(&seq[..whole], &mut packed) };
        seq = &seq[whole..];
    }
    let quads = seq.chunks_exact(4);
    let tail = quads.remainder();
    packed.extend(quads.map(|q| pack4(u32::from_be_bytes(q.try_into().expect("4 bases")))));
    if !tail.is_empty() {
        let mut last = [b'A'; 4];
        last[..tail.len()].copy_from_slice(tail);
        packed.push(pack4(u32::from_be_bytes(last)));
    }
    packed.extend_from_slice(&[0; PACK_PAD]);
    packed
}

/// Zero bytes after the packed bases: a scalar 32-bit load needs 4, a group of 8 AVX2 tokens reads
/// 16 bytes from up to `stride` bytes past its start.
const PACK_PAD: usize = 16;

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// [`super::pack4`] over 32 bases at a time: the 2-bit values of each byte, then each 4 bytes
    /// weighted 64/16/4/1 and summed (two multiply-adds), then the 8 resulting bytes gathered.
    #[target_feature(enable = "avx2")]
    pub unsafe fn pack_avx2(seq: &[u8], packed: &mut [u8]) {
        let three = _mm256_set1_epi8(3);
        let weights = _mm256_set1_epi32(0x0104_1040); // bytes 64, 16, 4, 1 in memory order
        let ones = _mm256_set1_epi16(1);
        // Byte 0 of each 32-bit lane to the lane's first 4 bytes.
        let gather = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        for (i, out) in packed.chunks_exact_mut(8).enumerate() {
            let v = _mm256_loadu_si256(seq.as_ptr().add(32 * i).cast());
            // ((b >> 1) ^ (b >> 2)) & 3 per byte; 16-bit shifts leak bits across bytes only
            // above bit 1, which the mask clears.
            let t = _mm256_xor_si256(_mm256_srli_epi16(v, 1), _mm256_srli_epi16(v, 2));
            let t = _mm256_and_si256(t, three);
            let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(t, weights), ones);
            let bytes = _mm256_shuffle_epi8(sums, gather);
            let lo = _mm256_extract_epi32(bytes, 0) as u32;
            let hi = _mm256_extract_epi32(bytes, 4) as u32;
            out[..4].copy_from_slice(&lo.to_le_bytes());
            out[4..].copy_from_slice(&hi.to_le_bytes());
        }
    }

    /// Codes of `groups` groups of 8 tokens from packed bases (token j at base j * stride), 8 at a
    /// time: 8 tokens span exactly 2 * stride bytes, so every group has the same byte layout, and
    /// one shuffle per group gathers each token's 4 bytes (the lower 4 tokens from the group's first
    /// byte, the upper 4 from `stride` bytes on; the last byte needed is at most 3s/4 + 3 <= 12),
    /// then a per-lane shift aligns the first base and a right shift leaves its 2k bits.
    /// `width` is 2 (u16 codes) or 4 (u32).
    #[target_feature(enable = "avx2")]
    pub unsafe fn codes_avx2(
        packed: &[u8],
        k: usize,
        stride: usize,
        groups: usize,
        out: *mut u8,
        width: usize,
    ) {
        let mut order = [0u8; 32];
        let mut align = [0u32; 8];
        for j in 0..8 {
            let p = (j % 4) * stride;
            for t in 0..4 {
                order[j * 4 + t] = (p / 4 + 3 - t) as u8; // big-endian: first byte highest
            }
            align[j] = 2 * (p % 4) as u32;
        }
        let order = _mm256_loadu_si256(order.as_ptr().cast());
        let align = _mm256_loadu_si256(align.as_ptr().cast());
        let keep = _mm_cvtsi32_si128(32 - 2 * k as i32);
        let src = packed.as_ptr();
        debug_assert!(groups == 0 || 2 * stride * (groups - 1) + stride + 16 <= packed.len());
        for g in 0..groups {
            let at = src.add(2 * stride * g);
            let v = _mm256_loadu2_m128i(at.add(stride).cast(), at.cast());
            let v = _mm256_shuffle_epi8(v, order);
            let v = _mm256_srl_epi32(_mm256_sllv_epi32(v, align), keep);
            if width == 4 {
                _mm256_storeu_si256(out.add(32 * g).cast(), v);
            } else {
                let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                _mm_storeu_si128(out.add(16 * g).cast(), _mm_packus_epi32(lo, hi));
            }
        }
    }
}

/// Four ASCII bases (first in the highest byte) to one byte of 2-bit codes: A=0x41, C=0x43,
/// G=0x47, T=0x54 map to 0..3 by `((b >> 1) ^ (b >> 2)) & 3`; then the four 2-bit fields, 8 bits
/// apart, are gathered by two shift-or steps.
#[inline(always)]
fn pack4(w: u32) -> u8 {
    let t = ((w >> 1) ^ (w >> 2)) & 0x0303_0303;
    let t = (t | (t >> 6)) & 0x000F_000F;
    ((t | (t >> 12)) & 0xFF) as u8
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
                    let mut got: Vec<u32> = Vec::new();
                    spec.codes_into(&seq[..len], &mut got);
                    assert_eq!(
                        got,
                        naive(&seq[..len], spec),
                        "k={k} stride={stride} len={len}"
                    );
                    assert_eq!(got.len(), spec.n_tokens(len));
                    if k <= u16::MAX_K {
                        let mut narrow: Vec<u16> = Vec::new();
                        spec.codes_into(&seq[..len], &mut narrow);
                        let widened: Vec<u32> = narrow.iter().map(|c| c.code()).collect();
                        assert_eq!(widened, got, "u16 codes, k={k} stride={stride} len={len}");
                    }
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
            let (mut a, mut b): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
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
                let (mut a, mut b): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
                spec.codes_into(&seq, &mut a);
                spec.codes_of_many(&[&seq[..], &seq[7..]], &[true, true], &mut b);
                spec.codes_into(&seq[7..], &mut a);
                assert_eq!(a, b, "k={k} stride={stride}");
                if k <= u16::MAX_K {
                    let mut narrow: Vec<u16> = Vec::new();
                    spec.codes_of_many(&[&seq[..], &seq[7..]], &[true, true], &mut narrow);
                    let widened: Vec<u32> = narrow.iter().map(|c| c.code()).collect();
                    assert_eq!(widened, a, "u16 codes, k={k} stride={stride}");
                }
                // Every length around k and every start offset modulo 4 (the packed path's tails).
                for start in 0..4 {
                    for len in k.saturating_sub(1)..k + 9 {
                        let piece = &seq[start..start + len];
                        let (mut a, mut b): (Vec<u32>, Vec<u32>) = (Vec::new(), vec![7]);
                        spec.codes_into(piece, &mut a);
                        spec.codes_of_many(&[piece], &[true], &mut b);
                        assert_eq!(a, b[1..], "k={k} stride={stride} start={start} len={len}");
                    }
                }
            }
        }
        // Long enough for many AVX2 groups and a tail.
        let long: Vec<u8> = seq
            .iter()
            .cycle()
            .take(3 * PAR_CHUNK_TOKENS + 11)
            .copied()
            .collect();
        for (k, stride) in [(1, 1), (5, 2), (12, 5)] {
            let spec = KmerSpec::new(k, stride).unwrap();
            let (mut a, mut b): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
            spec.codes_into(&long, &mut a);
            spec.codes_of_many(&[&long[..]], &[true], &mut b);
            assert_eq!(a, b, "k={k} stride={stride}");
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
