//! What a finished classifier run writes besides its weights: metrics, predictions, plots.

use std::path::Path;

use crate::train::{io_err, Result};
use genolm::eval::metrics::{self, Report};
use genolm::fsutil::write_atomic;

pub(crate) fn write_json(out: &Path, name: &str, value: &impl serde::Serialize) -> Result<()> {
    let p = out.join(name);
    let text = serde_json::to_string_pretty(value).expect("serializes") + "\n";
    write_atomic(&p, text.as_bytes()).map_err(io_err(&p))
}

/// Test metrics, ROC/PR curves, confusion matrix and training curves of a finished run.
pub(crate) fn write_outputs(
    out: &Path,
    classes: &[String],
    r: &Report,
    labels: &[u32],
    probs: &[Vec<f64>],
) -> Result<()> {
    write_json(out, "test_metrics.json", r)?;
    let warn = |what: &str, e: genolm::plot::Error| {
        eprintln!("genolm: warning: {what} plot not drawn: {e}");
    };
    // ROC and PR: of the positive class (the second) for two classes, the curves a paper shows;
    // one-vs-rest per class for more.
    use genolm::plot::{LegendAt, Series, PALETTE};
    let curves: Vec<usize> = if classes.len() == 2 {
        vec![1]
    } else {
        (0..classes.len()).collect()
    };
    type Curve = fn(&[f64], &[bool]) -> Vec<(f64, f64)>;
    let series_of = |curve: Curve, area: &str| -> Vec<Series> {
        curves
            .iter()
            .map(|&c| {
                let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
                let pos: Vec<bool> = labels.iter().map(|&l| l as usize == c).collect();
                let m = &r.per_class[c];
                let value = if area == "AUROC" { m.auroc } else { m.auprc };
                let rest = if classes.len() == 2 {
                    classes[0].clone()
                } else {
                    "rest".to_string()
                };
                Series {
                    name: format!("{} vs {rest} ({area} {value:.3})", classes[c]),
                    points: curve(&scores, &pos),
                    color: PALETTE[c % PALETTE.len()],
                    dashed: false,
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
            legend,
        };
        if let Err(e) = genolm::plot::line_plot(out, stem, &plot) {
            warn(stem, e);
        }
    }
    let confusion = genolm::plot::ConfusionPlot {
        title: "Confusion matrix (test)",
        classes,
        counts: &r.confusion,
    };
    if let Err(e) = genolm::plot::render(out, "confusion", &confusion) {
        warn("confusion", e);
    }
    if let Err(e) = genolm::plot::classifier_curves(out) {
        warn("training", e);
    }
    Ok(())
}
