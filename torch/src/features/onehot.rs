//! One-hot input for CNNs: [batch, 4, length] with channels A, C, G, T. Any other base (N, IUPAC
//! codes) is all zeros or 0.25 in each channel, as the model's config says; lower case is read as
//! upper case.

use tch::Tensor;

use crate::model::cnn::NEncoding;

/// Channel of a base, None for anything but A, C, G, T.
fn channel(b: u8) -> Option<usize> {
    match b.to_ascii_uppercase() {
        b'A' => Some(0),
        b'C' => Some(1),
        b'G' => Some(2),
        b'T' => Some(3),
        _ => None,
    }
}

/// One-hot codes of `seqs`, each exactly `len` bases (callers check), as a CPU float tensor.
pub fn one_hot(seqs: &[&[u8]], len: usize, n: NEncoding) -> Tensor {
    let fill = match n {
        NEncoding::Zeros => 0.0f32,
        NEncoding::Quarter => 0.25,
    };
    let mut data = vec![0.0f32; seqs.len() * 4 * len];
    for (i, s) in seqs.iter().enumerate() {
        let row = &mut data[i * 4 * len..(i + 1) * 4 * len];
        for (p, &b) in s.iter().take(len).enumerate() {
            match channel(b) {
                Some(c) => row[c * len + p] = 1.0,
                None => {
                    for c in 0..4 {
                        row[c * len + p] = fill;
                    }
                }
            }
        }
    }
    Tensor::from_slice(&data).view([seqs.len() as i64, 4, len as i64])
}

#[cfg(test)]
mod tests {
    use super::*;

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
