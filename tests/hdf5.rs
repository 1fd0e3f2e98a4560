//! One-hot HDF5 sets read directly: TLVar's CAGI_train.h5 (gzip-compressed float64 `x`, int64
//! `y`) decodes to the same sequences and labels as its documented TSV export.

mod common;

use common::shared_data;
use genolm::corpus::labelled::LabelledSource;

#[test]
fn test_cagi_h5_equals_its_tsv_and_bad_datasets_are_named() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("TLVar");
    let h5 = LabelledSource::Hdf5 {
        path: dir.join("CAGI_train.h5"),
        x: "x".into(),
        y: "y".into(),
    }
    .load()
    .unwrap();
    let tsv = LabelledSource::Table {
        path: dir.join("CAGI_train.tsv"),
        sequence_column: "sequence".into(),
        label_column: "label".into(),
        label_columns: None,
        split_column: None,
    }
    .load()
    .unwrap();
    assert_eq!(h5.len(), 2873);
    assert_eq!(
        h5.sequences, tsv.sequences,
        "decoded one-hot = the TSV's sequences"
    );
    let names = |s: &genolm::corpus::labelled::LabelledSet| -> Vec<String> {
        s.labels
            .iter()
            .map(|&l| s.classes[l as usize].clone())
            .collect()
    };
    assert_eq!(names(&h5), names(&tsv));
    assert!(h5.sequences.iter().all(|s| s.len() == 1001));
    let positives = names(&h5).iter().filter(|l| *l == "1").count();
    assert_eq!(positives, 345);

    let load = |x: &str| {
        LabelledSource::Hdf5 {
            path: dir.join("CAGI_train.h5"),
            x: x.into(),
            y: "y".into(),
        }
        .load()
        .unwrap_err()
        .to_string()
    };
    let err = load("sequences");
    assert!(
        err.contains("CAGI_train.h5")
            && err.contains("no dataset \"sequences\"")
            && err.contains("x"),
        "{err}"
    );
    let err = load("y");
    assert!(err.contains("must be n x length x 4"), "{err}");
}

/// An n x k label matrix (DeepSEA's and Basset's layout) is multi-label data; a value other than
/// 0/1 in it is named by row and column. (tests/fixtures/multi-label.h5: scripts/make-h5-fixture.py.)
#[test]
fn test_multi_label_h5_matrix() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi-label.h5");
    let source = |y: &str| LabelledSource::Hdf5 {
        path: path.clone(),
        x: "x".into(),
        y: y.into(),
    };
    let set = source("y").load().unwrap();
    assert!(set.is_multi_label());
    assert_eq!(set.classes, vec!["0", "1", "2"]);
    assert_eq!(set.sequences[1], b"GGGGCCCCAA");
    assert_eq!(
        set.sequences[5], b"CAGTCAGTNA",
        "all-zero channels read as N"
    );
    assert_eq!(set.class_counts(), vec![3, 2, 2]);
    assert_eq!(
        set.truth_of(&[0, 1]),
        genolm::eval::metrics::Truth::Labels(vec![vec![true, false, true], vec![false; 3]])
    );
    let err = source("y_bad").load().unwrap_err().to_string();
    assert!(
        err.contains("multi-label.h5") && err.contains("row 4, column 2: 2"),
        "{err}"
    );
}
