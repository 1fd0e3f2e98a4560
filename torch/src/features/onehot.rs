//! One-hot input for CNNs: [batch, 4, length] with channels A, C, G, T. Any other base (N, IUPAC
//! codes) is all zeros or 0.25 in each channel, as the model's config says; lower case is read as
//! upper case.

use tch::Tensor;

use crate::model::cnn::NEncoding;

/// Channel of each byte: 0-3 for A, C, G, T in either case, [`OTHER`] for anything else. A table,
/// not a match: the one-hot build runs between forward passes while the other core waits, and the
/// table made CNN prediction 10-15 % faster (BENCHMARKS.md, issue #20).
const CHANNEL: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut c = 0;
    while c < 4 {
        let base = b"ACGT"[c];
        t[base as usize] = c as u8;
        t[base.to_ascii_lowercase() as usize] = c as u8;
        c += 1;
    }
    t
};
const OTHER: u8 = 4;

/// One-hot codes of `seqs`, each exactly `len` bases (callers check), as a CPU float tensor.
pub fn one_hot(seqs: &[&[u8]], len: usize, n: NEncoding) -> Tensor {
    let fill = match n {
        NEncoding::Zeros => 0.0f32,
        NEncoding::Quarter => 0.25,
    };
    let mut data = vec![0.0f32; seqs.len() * 4 * len];
    for (row, s) in data.chunks_exact_mut(4 * len).zip(seqs) {
        for (p, &b) in s.iter().take(len).enumerate() {
            match CHANNEL[b as usize] {
                OTHER if fill != 0.0 => {
                    for c in 0..4 {
                        row[c * len + p] = fill;
                    }
                }
                OTHER => {}
                c => row[c as usize * len + p] = 1.0,
            }
        }
    }
    Tensor::from_slice(&data).view([seqs.len() as i64, 4, len as i64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_byte_is_a_base_or_n() {
        let all: Vec<u8> = (0..=255).collect();
        let v: Vec<f32> =
            Vec::try_from(one_hot(&[&all], 256, NEncoding::Quarter).flatten(0, -1)).unwrap();
        for b in 0..256usize {
            let col: Vec<f32> = (0..4).map(|c| v[c * 256 + b]).collect();
            let want = match (b as u8).to_ascii_uppercase() {
                b'A' => [1., 0., 0., 0.],
                b'C' => [0., 1., 0., 0.],
                b'G' => [0., 0., 1., 0.],
                b'T' => [0., 0., 0., 1.],
                _ => [0.25; 4],
            };
            assert_eq!(col, want, "byte {b}");
        }
    }

    #[test]
    fn test_channels_and_n() {
        let x = one_hot(&[b"ACgTN"], 5, NEncoding::Zeros);
        let v: Vec<f32> = Vec::try_from(x.flatten(0, -1)).unwrap();
        #[rustfmt::skip]
        assert_eq!(v, [
            1., 0., 0., 0., 0.,
            0., 1., 0., 0., 0.,
            0., 0., 1., 0., 0.,
            0., 0., 0., 1., 0.,
        ]);
        let q = one_hot(&[b"N"], 1, NEncoding::Quarter);
        assert_eq!(Vec::<f32>::try_from(q.flatten(0, -1)).unwrap(), [0.25; 4]);
    }
}
