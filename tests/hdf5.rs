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
