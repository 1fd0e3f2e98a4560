//! Labelled one-hot sets in HDF5 (Keras-era deep-learning genomics: TLVar's CAGI_train.h5, the
//! DeepSEA/Basset style): a dataset `x` of n x length x 4 (A, C, G, T; float or integer) and a
//! dataset `y` of n labels (integers, or floats that are whole numbers). Read with a pure-Rust
//! HDF5 decoder (gzip/deflate and shuffle filters, chunked or contiguous), a block of rows at a
//! time. A position whose four channels are all equal (all zeros, or 0.25 each) reads as N.

use std::path::Path;

use hdf5_reader::{Hdf5File, SliceInfo, SliceInfoElem};

use super::labelled::{Error, LabelledSet};

/// Rows decoded per read (bounds memory for large sets).
const BLOCK_ROWS: u64 = 256;

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The base of one position's four channel values.
fn base_of(channels: &[f64]) -> u8 {
    let (mut best, mut max, mut ties) = (0, f64::NEG_INFINITY, 0);
    for (c, &v) in channels.iter().enumerate() {
        if v > max {
            (best, max, ties) = (c, v, 1);
        } else if v == max {
            ties += 1;
        }
    }
    if ties > 1 || max <= 0.0 {
        b'N'
    } else {
        b"ACGT"[best]
    }
}

fn dataset_names(file: &Hdf5File) -> String {
    file.root_group()
        .and_then(|g| g.datasets())
        .map(|d| {
            d.iter()
                .map(|d| d.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "none readable".into())
}

/// Reads a block of rows of `x` as f64, whatever its stored numeric type.
fn read_rows(
    ds: &hdf5_reader::Dataset,
    from: u64,
    to: u64,
) -> Result<Vec<f64>, hdf5_reader::error::Error> {
    let sel = SliceInfo {
        selections: vec![
            SliceInfoElem::Slice {
                start: from,
                end: to,
                step: 1,
            },
            SliceInfoElem::Slice {
                start: 0,
                end: u64::MAX,
                step: 1,
            },
            SliceInfoElem::Slice {
                start: 0,
                end: u64::MAX,
                step: 1,
            },
        ],
    };
    if let Ok(a) = ds.read_slice::<f64>(&sel) {
        return Ok(a.into_iter().collect());
    }
    if let Ok(a) = ds.read_slice::<f32>(&sel) {
        return Ok(a.into_iter().map(f64::from).collect());
    }
    if let Ok(a) = ds.read_slice::<u8>(&sel) {
        return Ok(a.into_iter().map(f64::from).collect());
    }
    ds.read_slice::<i64>(&sel)
        .map(|a| a.into_iter().map(|v| v as f64).collect())
}

/// Labels as whole numbers, whatever their stored numeric type.
fn read_labels(path: &Path, ds: &hdf5_reader::Dataset) -> Result<Vec<i64>, Error> {
    if let Ok(a) = ds.read_array::<i64>() {
        return Ok(a.into_iter().collect());
    }
    if let Ok(a) = ds.read_array::<i32>() {
        return Ok(a.into_iter().map(i64::from).collect());
    }
    if let Ok(a) = ds.read_array::<u8>() {
        return Ok(a.into_iter().map(i64::from).collect());
    }
    let values: Vec<f64> = match ds.read_array::<f64>() {
        Ok(a) => a.into_iter().collect(),
        Err(_) => ds
            .read_array::<f32>()
            .map_err(|e| err(path, format!("labels {:?}: {e}", ds.name())))?
            .into_iter()
            .map(f64::from)
            .collect(),
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() == 0.0 && v.is_finite() {
                Ok(v as i64)
            } else {
                Err(err(
                    path,
                    format!("label {i} is {v}: labels must be whole numbers (class ids)"),
                ))
            }
        })
        .collect()
}

/// The labelled sequences of `path`'s datasets `x_name` (n x length x 4) and `y_name` (n class
/// ids, or n x k 0/1 for multi-label data).
pub fn load(path: &Path, x_name: &str, y_name: &str) -> Result<LabelledSet, Error> {
    let file =
        Hdf5File::open(path).map_err(|e| err(path, format!("not a readable HDF5 file: {e}")))?;
    let x = file.dataset(x_name).map_err(|_| {
        err(
            path,
            format!("no dataset {x_name:?} (datasets: {})", dataset_names(&file)),
        )
    })?;
    let y = file.dataset(y_name).map_err(|_| {
        err(
            path,
            format!("no dataset {y_name:?} (datasets: {})", dataset_names(&file)),
        )
    })?;
    let shape = x.shape().to_vec();
    if shape.len() != 3 || shape[2] != 4 {
        return Err(err(
            path,
            format!(
                "dataset {x_name:?} has shape {shape:?}: one-hot DNA must be n x length x 4 (A, C, G, T)"
            ),
        ));
    }
    let labels = read_labels(path, &y)?;
    // n x k (k > 1): multi-label, one 0/1 column per label (DeepSEA's and Basset's layout),
    // the labels named by their column index.
    let per_row = match y.shape() {
        [n, k] if *k > 1 && *n == shape[0] => *k as usize,
        _ => 1,
    };
    if labels.len() as u64 != shape[0] * per_row as u64 {
        return Err(err(
            path,
            format!(
                "{x_name:?} has {} rows but {y_name:?} has {} labels",
                shape[0],
                labels.len()
            ),
        ));
    }
    if let Some(i) = labels.iter().position(|&v| per_row > 1 && v != 0 && v != 1) {
        return Err(err(
            path,
            format!(
                "{y_name:?} row {}, column {}: {}; a multi-label matrix holds 0 or 1",
                i / per_row,
                i % per_row,
                labels[i]
            ),
        ));
    }
    let len = shape[1] as usize;
    let mut set = LabelledSet::default();
    if per_row > 1 {
        set.classes = (0..per_row).map(|c| c.to_string()).collect();
    }
    let mut from = 0;
    while from < shape[0] {
        let to = (from + BLOCK_ROWS).min(shape[0]);
        let values = read_rows(&x, from, to)
            .map_err(|e| err(path, format!("dataset {x_name:?}, rows {from}-{to}: {e}")))?;
        for (r, row) in values.chunks(len * 4).enumerate() {
            let seq: Vec<u8> = row.chunks(4).map(base_of).collect();
            let i = from as usize + r;
            if per_row > 1 {
                let flags = labels[i * per_row..(i + 1) * per_row]
                    .iter()
                    .map(|&v| v == 1)
                    .collect();
                set.push_label_set(format!("row{i}"), seq, flags);
            } else {
                set.push(format!("row{i}"), seq, &labels[i].to_string());
            }
        }
        from = to;
    }
    set.check(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_base_of_reads_argmax_and_ties_as_n() {
        assert_eq!(base_of(&[0.0, 0.0, 1.0, 0.0]), b'G');
        assert_eq!(base_of(&[0.0, 0.0, 0.0, 0.0]), b'N');
        assert_eq!(base_of(&[0.25; 4]), b'N');
        assert_eq!(base_of(&[0.1, 0.7, 0.1, 0.1]), b'C');
    }
}
