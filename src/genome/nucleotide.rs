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

/// Appends the bases of a sequence line to `out`; returns the index of the first invalid byte, if any.
#[inline]
pub fn push_sequence_line(line: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    out.reserve(line.len());
    for (i, &b) in line.iter().enumerate() {
        match CLASS[b as usize] {
            0 => return Err(i),
            1 => {}
            c => out.push(c),
        }
    }
    Ok(())
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
