//! Prediction tables: one row per sequence, a probability column per class.

/// Per-sequence probabilities as TSV: id, (label,) one `p_<class>` column per class, predicted class.
pub fn predictions_tsv(
    ids: &[String],
    classes: &[String],
    labels: Option<&[u32]>,
    probs: &[Vec<f64>],
) -> String {
    predictions_header(classes, labels.is_some()) + &prediction_rows(ids, classes, labels, probs)
}

/// The header line of [`predictions_tsv`].
pub fn predictions_header(classes: &[String], labelled: bool) -> String {
    let mut text = String::from("id");
    if labelled {
        text.push_str("\tlabel");
    }
    for c in classes {
        text.push_str(&format!("\tp_{c}"));
    }
    text.push_str("\tpredicted\n");
    text
}

/// The rows of [`predictions_tsv`], for tables written chunk by chunk.
pub fn prediction_rows(
    ids: &[String],
    classes: &[String],
    labels: Option<&[u32]>,
    probs: &[Vec<f64>],
) -> String {
    let mut text = String::new();
    for (i, (id, p)) in ids.iter().zip(probs).enumerate() {
        text.push_str(id);
        if let Some(l) = labels {
            text.push_str(&format!("\t{}", classes[l[i] as usize]));
        }
        for v in p {
            text.push_str(&format!("\t{v:.6}"));
        }
        let best = p
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map_or(0, |(i, _)| i);
        text.push_str(&format!("\t{}\n", classes[best]));
    }
    text
}
