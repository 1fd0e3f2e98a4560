//! What a finished classifier run writes besides its weights: metrics, predictions, plots.

use std::path::Path;

use crate::train::{io_err, Result};
use genolm::eval::metrics::{self, Report, Truth};
use genolm::fsutil::write_atomic;

pub(crate) fn write_json(out: &Path, name: &str, value: &impl serde::Serialize) -> Result<()> {
    let p = out.join(name);
    let text = serde_json::to_string_pretty(value).expect("serializes") + "\n";
    write_atomic(&p, text.as_bytes()).map_err(io_err(&p))
}

/// Most labels a multi-label run draws ROC/PR curves for (all are in `test_per_label.tsv`).
const MAX_CURVES: usize = 10;

/// A multi-label run's per-label test metrics, one row per label.
fn per_label_tsv(r: &Report, truth: &Truth) -> String {
    let mut text = String::from("label\tpositives\tauroc\tauprc\tprecision\trecall\tf1\tmcc\n");
    for (c, (name, m)) in r.classes.iter().zip(&r.per_class).enumerate() {
        let positives = (0..truth.len()).filter(|&i| truth.positive(i, c)).count();
        text.push_str(&format!(
            "{name}\t{positives}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\n",
            m.auroc, m.auprc, m.precision, m.recall, m.f1, m.mcc
        ));
    }
    text
}

/// Test metrics, ROC/PR curves, confusion matrix (single-label) or per-label table (multi-label)
/// and training curves of a finished run.
pub(crate) fn write_outputs(
    out: &Path,
    classes: &[String],
    r: &Report,
    truth: &Truth,
    probs: &[Vec<f64>],
) -> Result<()> {
    write_json(out, "test_metrics.json", r)?;
    let warn = |what: &str, e: genolm::plot::Error| {
        eprintln!("genolm: warning: {what} plot not drawn: {e}");
    };
    // ROC and PR: of the positive class (the second) for two classes, the curves a paper shows;
    // one-vs-rest per class for more; per label (the first MAX_CURVES) for multi-label.
    use genolm::plot::{LegendAt, Series, Stroke, PALETTE};
    let multi = truth.is_multi_label();
    let curves: Vec<usize> = if classes.len() == 2 && !multi {
        vec![1]
    } else {
        (0..classes.len().min(MAX_CURVES)).collect()
    };
    type Curve = fn(&[f64], &[bool]) -> Vec<(f64, f64)>;
    let series_of = |curve: Curve, area: &str| -> Vec<Series> {
        curves
            .iter()
            .map(|&c| {
                let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
                let pos: Vec<bool> = (0..truth.len()).map(|i| truth.positive(i, c)).collect();
                let m = &r.per_class[c];
                let value = if area == "AUROC" { m.auroc } else { m.auprc };
                let name = if multi {
                    format!("{} ({area} {value:.3})", classes[c])
                } else if classes.len() == 2 {
                    format!("{} vs {} ({area} {value:.3})", classes[1], classes[0])
                } else {
                    format!("{} vs rest ({area} {value:.3})", classes[c])
                };
                Series {
                    name,
                    points: curve(&scores, &pos),
                    color: PALETTE[c % PALETTE.len()],
                    // Colours repeat past the palette: the second round is dashed.
                    stroke: if c >= PALETTE.len() {
                        Stroke::Dashed
                    } else {
                        Stroke::Solid
                    },
                    markers: false,
                }
            })
            .collect()
    };
    let plots = [
        (
            "roc",
            "ROC (test)",
            "false positive rate",
            "true positive rate",
            series_of(metrics::roc_curve, "AUROC"),
            LegendAt::LowerRight,
        ),
        (
            "pr",
            "Precision-recall (test)",
            "recall",
            "precision",
            series_of(metrics::pr_curve, "AUPRC"),
            LegendAt::LowerLeft,
        ),
    ];
    for (stem, title, x_label, y_label, series, legend) in plots {
        let plot = genolm::plot::LinePlot {
            title,
            x_label,
            y_label,
            series,
            zoom_y: None,
            log_x: false,
            legend,
        };
        if let Err(e) = genolm::plot::line_plot(out, stem, &plot) {
            warn(stem, e);
        }
    }
    if multi {
        let p = out.join("test_per_label.tsv");
        write_atomic(&p, per_label_tsv(r, truth).as_bytes()).map_err(io_err(&p))?;
    } else {
        let confusion = genolm::plot::ConfusionPlot {
            title: "Confusion matrix (test)",
            classes,
            counts: &r.confusion,
        };
        if let Err(e) = genolm::plot::render(out, "confusion", &confusion) {
            warn("confusion", e);
        }
    }
    if let Err(e) = genolm::plot::classifier_curves(out) {
        warn("training", e);
    }
    Ok(())
}
