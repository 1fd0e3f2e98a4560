//! Prediction tables: one row per sequence, a probability column per class.

use genolm::eval::metrics::Truth;

/// Per-sequence probabilities as TSV: id, (label,) one `p_<class>` column per class, predicted class
/// (multi-label: the labels at probability >= 0.5, comma-separated).
pub fn predictions_tsv(
    ids: &[String],
    classes: &[String],
    truth: Option<&Truth>,
    probs: &[Vec<f64>],
    multi_label: bool,
) -> String {
    predictions_header(classes, truth.is_some())
        + &prediction_rows(ids, classes, truth, probs, multi_label)
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

/// What a probability row predicts: the most probable class, or every label at >= 0.5.
fn predicted(p: &[f64], classes: &[String], multi_label: bool) -> String {
    if multi_label {
        let on: Vec<&str> = p
            .iter()
            .zip(classes)
            .filter(|(&v, _)| v >= 0.5)
            .map(|(_, c)| c.as_str())
            .collect();
        return on.join(",");
    }
    let best = p
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))
        .map_or(0, |(i, _)| i);
    classes[best].clone()
}

/// The rows of [`predictions_tsv`], for tables written chunk by chunk.
pub fn prediction_rows(
    ids: &[String],
    classes: &[String],
    truth: Option<&Truth>,
    probs: &[Vec<f64>],
    multi_label: bool,
) -> String {
    let mut text = String::new();
    for (i, (id, p)) in ids.iter().zip(probs).enumerate() {
        text.push_str(id);
        if let Some(t) = truth {
            text.push('\t');
            text.push_str(&t.text(i, classes));
        }
        for v in p {
            text.push_str(&format!("\t{v:.6}"));
        }
        text.push('\t');
        text.push_str(&predicted(p, classes, multi_label));
        text.push('\n');
    }
    text
}
