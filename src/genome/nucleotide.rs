//! The base policy shared by every reader and by the tokenizer.
//!
//! - A, C, G, T (any case) are bases; U is read as T; lowercase (soft-masked) is upper-cased.
//! - The IUPAC ambiguity codes R Y K M S W B D H V N are kept (as uppercase): k-mers that contain
//!   them become `unk`, and runs of them split documents (see the corpus builder).
//! - Whitespace and '\r' inside sequence lines are skipped; anything else is an error.

/// What a byte in a sequence line is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ByteClass {
    /// A base, with its normalised uppercase letter.
    Base(u8),
    /// Whitespace or carriage return: skipped.
    Skip,
    /// Not allowed in a sequence.
    Invalid,
}

const fn build_class_table() -> [u8; 256] {
    // 0 = invalid, 1 = skip, otherwise the uppercase base letter.
    let mut t = [0u8; 256];
    let iupac = b"ACGTRYKMSWBDHVN";
    let mut i = 0;
    while i < iupac.len() {
        let c = iupac[i];
        t[c as usize] = c;
        t[(c + 32) as usize] = c;
        i += 1;
    }
    t[b'U' as usize] = b'T';
    t[b'u' as usize] = b'T';
    t[b' ' as usize] = 1;
    t[b'\t' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[b'\n' as usize] = 1;
    t
}

static CLASS: [u8; 256] = build_class_table();

/// 2-bit code of an uppercase base, or 4 for anything that is not A/C/G/T.
pub static BASE_CODE: [u8; 256] = {
    let mut t = [4u8; 256];
    t[b'A' as usize] = 0;
    t[b'C' as usize] = 1;
    t[b'G' as usize] = 2;
    t[b'T' as usize] = 3;
    t[b'a' as usize] = 0;
    t[b'c' as usize] = 1;
    t[b'g' as usize] = 2;
    t[b't' as usize] = 3;
    t
};

#[inline]
pub fn classify(b: u8) -> ByteClass {
    match CLASS[b as usize] {
        0 => ByteClass::Invalid,
        1 => ByteClass::Skip,
        c => ByteClass::Base(c),
    }
}

/// Appends the bases of a sequence line to `out` (uppercased, whitespace skipped); returns the index
/// of the first invalid byte, if any.
///
/// Branch-free over the line: every byte is written and the write position advances only for bases,
/// so the hot loop has no unpredictable branches (this is most of a corpus build's parsing time).
#[inline]
pub fn push_sequence_line(line: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    let start = out.len();
    out.resize(start + line.len(), 0);
    let dst = &mut out[start..];
    let mut j = 0;
    let mut invalid = false;
    for &b in line {
        let c = CLASS[b as usize];
        dst[j] = c;
        j += (c > 1) as usize;
        invalid |= c == 0;
    }
    out.truncate(start + j);
    if invalid {
        return Err(line
            .iter()
            .position(|&b| CLASS[b as usize] == 0)
            .unwrap_or(0));
    }
    Ok(())
}

/// Where each byte is counted: 0..=3 A/C/G/T (U as T), 4 other IUPAC letters, 5 not a base.
static COUNT_SLOT: [u8; 256] = {
    let mut t = [5u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = CLASS[i];
        if c > 1 {
            t[i] = match c {
                b'A' => 0,
                b'C' => 1,
                b'G' => 2,
                b'T' => 3,
                _ => 4,
            };
        }
        i += 1;
    }
    t
};

/// The fast path of a FASTA reader: copies the leading stretch of `text` that is plain A/C/G/T
/// (either case) in lines of at least 32 bases, newlines dropped, upper-cased, onto `out`, and adds
/// the bases to `counts`. Returns (bytes of `text` consumed, newlines among them); it stops, leaving
/// the rest to the line-by-line path, at anything else (a header, N, '\r', a short line) and
/// within 64 bytes of the end. Without AVX2 it consumes nothing.
pub fn push_plain_lines(text: &[u8], out: &mut Vec<u8>, counts: &mut BaseCounts) -> (usize, u64) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // Written into spare capacity, not a zeroed extension: the fast path often stops early
        // (an N, a header), and zeroing the whole of `text` each time cost more than the copy.
        out.reserve(text.len());
        let start = out.len();
        let mut n = [0u64; 6];
        let dst = &mut out.spare_capacity_mut()[..text.len()];
        // SAFETY: AVX2 is present; the function reads `text` and writes only within `dst` (its
        // stores stay below the bytes it reads).
        let (consumed, written, newlines) =
            unsafe { simd::copy_plain_lines_avx2(text, dst, &mut n) };
        // SAFETY: the function initialised the first `written` bytes of `dst`.
        unsafe { out.set_len(start + written) };
        counts.a += n[0];
        counts.c += n[1];
        counts.g += n[2];
        counts.t += n[3];
        return (consumed, newlines);
    }
    let _ = (text, out, counts);
    (0, 0)
}

/// [`push_sequence_line`] that also adds the bases to `counts`. Long runs of A/C/G/T (either case) go
/// through AVX2 32 bytes at a time where the CPU has it; everything else through the scalar loop.
pub fn push_sequence_line_counted(
    line: &[u8],
    out: &mut Vec<u8>,
    counts: &mut BaseCounts,
) -> Result<(), usize> {
    let start = out.len();
    out.resize(start + line.len(), 0);
    let mut n = [0u64; 6];
    let (mut i, mut j) = (0usize, 0usize);
    let mut invalid = false;
    while i < line.len() {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; the function reads line[i..] and writes as many bytes to
            // out[start + j..] as it consumes, which fits because j <= i.
            let done =
                unsafe { simd::copy_acgt_run_avx2(&line[i..], &mut out[start + j..], &mut n) };
            i += done;
            j += done;
        }
        // The scalar loop takes the next stretch that is not plain A/C/G/T (or the tail).
        let end = (i + 32).min(line.len());
        for &b in &line[i..end] {
            let c = CLASS[b as usize];
            out[start + j] = c;
            j += (c > 1) as usize;
            invalid |= c == 0;
            n[COUNT_SLOT[b as usize] as usize] += 1;
        }
        i = end;
    }
    out.truncate(start + j);
    if invalid {
        return Err(line
            .iter()
            .position(|&b| CLASS[b as usize] == 0)
            .unwrap_or(0));
    }
    counts.a += n[0];
    counts.c += n[1];
    counts.g += n[2];
    counts.t += n[3];
    counts.other += n[4];
    Ok(())
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Copies 32-byte chunks of `src` holding only A/C/G/T/a/c/g/t and at most one '\n' into
    /// `dst`, upper-cased, the newline dropped: the chunk is stored, then the 32 bytes after the
    /// newline are stored over it from the newline's position (bytes past the chunk are rewritten
    /// by the next store, or lie past what is reported written). Stops at the first chunk that does
    /// not qualify, or with fewer than 64 bytes left (the second load reaches up to 64 bytes
    /// ahead). Returns (bytes consumed, bytes written, newlines).
    #[target_feature(enable = "avx2")]
    pub unsafe fn copy_plain_lines_avx2(
        src: &[u8],
        dst: &mut [std::mem::MaybeUninit<u8>],
        n: &mut [u64; 6],
    ) -> (usize, usize, u64) {
        assert!(dst.len() >= src.len());
        let upper = _mm256_set1_epi8(0xDFu8 as i8);
        let newline = _mm256_set1_epi8(b'\n' as i8);
        let bases = [b'A', b'C', b'G', b'T'].map(|b| _mm256_set1_epi8(b as i8));
        let (mut i, mut j, mut lines) = (0usize, 0usize, 0u64);
        while i + 64 <= src.len() {
            let raw = _mm256_loadu_si256(src.as_ptr().add(i).cast());
            let v = _mm256_and_si256(raw, upper);
            let m = bases.map(|b| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, b)) as u32);
            let acgt = m[0] | m[1] | m[2] | m[3];
            _mm256_storeu_si256(dst.as_mut_ptr().add(j).cast(), v);
            if acgt == u32::MAX {
                i += 32;
                j += 32;
            } else {
                let nl = _mm256_movemask_epi8(_mm256_cmpeq_epi8(raw, newline)) as u32;
                if acgt | nl != u32::MAX || nl.count_ones() != 1 {
                    break;
                }
                let p = nl.trailing_zeros() as usize;
                let after = _mm256_loadu_si256(src.as_ptr().add(i + p + 1).cast());
                let after = _mm256_and_si256(after, upper);
                _mm256_storeu_si256(dst.as_mut_ptr().add(j + p).cast(), after);
                i += 32;
                j += 31;
                lines += 1;
            }
            for (slot, mask) in n.iter_mut().zip(m) {
                *slot += mask.count_ones() as u64;
            }
        }
        (i, j, lines)
    }

    /// Copies the leading 32-byte chunks of `src` that hold only A/C/G/T/a/c/g/t into `dst`,
    /// upper-cased, counting each base into `n[0..4]`. A last partial chunk is taken too, through
    /// the 32 bytes that end where `src` ends (the overlap is rewritten with the same bytes and not
    /// counted again), so an 80-base line has no scalar tail. Returns the bytes consumed.
    #[target_feature(enable = "avx2")]
    pub unsafe fn copy_acgt_run_avx2(src: &[u8], dst: &mut [u8], n: &mut [u64; 6]) -> usize {
        let upper = _mm256_set1_epi8(0xDFu8 as i8);
        let (a, c, g, t) = (
            _mm256_set1_epi8(b'A' as i8),
            _mm256_set1_epi8(b'C' as i8),
            _mm256_set1_epi8(b'G' as i8),
            _mm256_set1_epi8(b'T' as i8),
        );
        // Upper-cased bytes at `at` and the masks of where each base is.
        let classify = |at: usize| {
            // Clearing bit 5 maps exactly a/c/g/t onto A/C/G/T; no other byte lands there.
            let v = _mm256_and_si256(_mm256_loadu_si256(src.as_ptr().add(at).cast()), upper);
            let m = [a, c, g, t].map(|b| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, b)) as u32);
            (v, m)
        };
        let mut count = |m: [u32; 4], keep: u32| {
            for (slot, mask) in n.iter_mut().zip(m) {
                *slot += (mask & keep).count_ones() as u64;
            }
        };
        let mut i = 0;
        while i + 32 <= src.len() {
            let (v, m) = classify(i);
            if m[0] | m[1] | m[2] | m[3] != u32::MAX {
                return i;
            }
            _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), v);
            count(m, u32::MAX);
            i += 32;
        }
        let rest = src.len() - i;
        if rest > 0 && src.len() >= 32 {
            let at = src.len() - 32;
            let (v, m) = classify(at);
            if m[0] | m[1] | m[2] | m[3] == u32::MAX {
                _mm256_storeu_si256(dst.as_mut_ptr().add(at).cast(), v);
                count(m, u32::MAX << (32 - rest));
                return src.len();
            }
        }
        i
    }
}

/// Length of the prefix of `bases` made of A/C/G/T only.
#[inline]
pub fn acgt_prefix_len(bases: &[u8]) -> usize {
    bases
        .iter()
        .position(|&b| BASE_CODE[b as usize] > 3)
        .unwrap_or(bases.len())
}

/// Length of the prefix of `bases` made of anything but A/C/G/T.
#[inline]
pub fn non_acgt_prefix_len(bases: &[u8]) -> usize {
    bases
        .iter()
        .position(|&b| BASE_CODE[b as usize] < 4)
        .unwrap_or(bases.len())
}

/// A printable description of an offending byte for error messages.
pub fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

pub fn is_acgt(b: u8) -> bool {
    BASE_CODE[b as usize] < 4
}

pub fn count_acgt(bases: &[u8]) -> u64 {
    bases.iter().filter(|&&b| is_acgt(b)).count() as u64
}

/// Counts of A, C, G, T and other (N/ambiguous) bases.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaseCounts {
    pub a: u64,
    pub c: u64,
    pub g: u64,
    pub t: u64,
    pub other: u64,
}

impl BaseCounts {
    pub fn add(&mut self, bases: &[u8]) {
        let mut n = [0u64; 5];
        for &b in bases {
            n[BASE_CODE[b as usize] as usize] += 1;
        }
        self.a += n[0];
        self.c += n[1];
        self.g += n[2];
        self.t += n[3];
        self.other += n[4];
    }

    pub fn merge(&mut self, o: &BaseCounts) {
        self.a += o.a;
        self.c += o.c;
        self.g += o.g;
        self.t += o.t;
        self.other += o.other;
    }

    pub fn total(&self) -> u64 {
        self.a + self.c + self.g + self.t + self.other
    }

    /// GC fraction among A/C/G/T (N excluded), 0 when there are none.
    pub fn gc(&self) -> f64 {
        let acgt = self.a + self.c + self.g + self.t;
        if acgt == 0 {
            0.0
        } else {
            (self.c + self.g) as f64 / acgt as f64
        }
    }
}

fn complement(b: u8) -> u8 {
    match b {
        b'A' => b'T',
        b'C' => b'G',
        b'G' => b'C',
        b'T' => b'A',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        other => other, // N, S, W are their own complements
    }
}

/// Reverse complement of an uppercase IUPAC sequence, in place.
pub fn reverse_complement_in_place(seq: &mut [u8]) {
    seq.reverse();
    for b in seq.iter_mut() {
        *b = complement(*b);
    }
}

pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    let mut v = seq.to_vec();
    reverse_complement_in_place(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_push_sequence_line_uppercases_and_skips_whitespace() {
        let mut out = Vec::new();
        push_sequence_line(b"acgtNn u\r", &mut out).unwrap();
        assert_eq!(out, b"ACGTNNT");
    }

    #[test]
    fn test_counted_line_matches_scalar_on_every_mix() {
        let alphabet = b"ACGTacgtNnRyU \r";
        let mut s = 12345u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as usize
        };
        // Every length up to 100 covers each partial last chunk the AVX2 path takes in one load.
        for len in (0usize..=100).chain([1000]) {
            for mode in 0..3 {
                let pool: &[u8] = if mode == 1 { alphabet } else { &alphabet[..8] };
                let mut line: Vec<u8> = (0..len).map(|_| pool[next() % pool.len()]).collect();
                if mode == 2 && len > 0 {
                    // One N or space in an otherwise clean line, often in the last chunk.
                    let at = len - 1 - next() % len.min(40);
                    line[at] = if next() % 2 == 0 { b'N' } else { b' ' };
                }
                let (mut a, mut b) = (vec![b'x'], vec![b'x']);
                push_sequence_line(&line, &mut a).unwrap();
                let mut counts = BaseCounts::default();
                push_sequence_line_counted(&line, &mut b, &mut counts).unwrap();
                assert_eq!(a, b, "len {len}");
                let mut expected = BaseCounts::default();
                expected.add(&a[1..]);
                assert_eq!(counts, expected, "len {len}");
            }
        }
        let mut out = Vec::new();
        let mut line = vec![b'A'; 70];
        line[65] = b'#';
        assert_eq!(
            push_sequence_line_counted(&line, &mut out, &mut BaseCounts::default()),
            Err(65)
        );
    }

    #[test]
    fn test_push_sequence_line_rejects_digits() {
        let mut out = Vec::new();
        assert_eq!(push_sequence_line(b"AC1G", &mut out), Err(2));
    }

    #[test]
    fn test_reverse_complement_iupac() {
        assert_eq!(reverse_complement(b"ACGTRYN"), b"NRYACGT");
        assert_eq!(
            reverse_complement(&reverse_complement(b"ACGGTKMBVDH")),
            b"ACGGTKMBVDH"
        );
    }

    #[test]
    fn test_base_counts_gc_excludes_n() {
        let mut c = BaseCounts::default();
        c.add(b"GGCCNNAT");
        assert_eq!(c.other, 2);
        assert!((c.gc() - 4.0 / 6.0).abs() < 1e-12);
    }
}
