//! Classification metrics: accuracy, precision, recall, specificity, F1, MCC, AUROC, AUPRC and the
//! confusion matrix; binary (positive class = index 1) and, for more classes, per class and macro;
//! multi-label (each label its own yes/no at 0.5): per label and macro over the labels that have
//! both positives and negatives.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BinaryMetrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub specificity: f64,
    pub f1: f64,
    pub mcc: f64,
    pub auroc: f64,
    pub auprc: f64,
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub n: usize,
    pub classes: Vec<String>,
    pub accuracy: f64,
    /// Rows: true class, columns: predicted class.
    pub confusion: Vec<Vec<u64>>,
    /// One-vs-rest metrics per class.
    pub per_class: Vec<BinaryMetrics>,
    /// Unweighted mean over classes of the one-vs-rest metrics (for two classes: the positive class's).
    pub summary: BinaryMetrics,
    /// Multi-label: `classes` are labels, `per_class` each label's metrics at probability 0.5,
    /// `accuracy` the fraction of (row, label) pairs right, `confusion` empty.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub multi_label: bool,
}

/// The truth a set of predictions is scored against.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// One class per row (an index into the classes).
    Classes(Vec<u32>),
    /// Multi-label: for each row, whether it has each label.
    Labels(Vec<Vec<bool>>),
}

impl Truth {
    pub fn len(&self) -> usize {
        match self {
            Truth::Classes(c) => c.len(),
            Truth::Labels(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_multi_label(&self) -> bool {
        matches!(self, Truth::Labels(_))
    }

    /// Whether row `i` is a positive of class (or label) `c`.
    pub fn positive(&self, i: usize, c: usize) -> bool {
        match self {
            Truth::Classes(l) => l[i] as usize == c,
            Truth::Labels(l) => l[i][c],
        }
    }

    /// The rows `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Truth {
        match self {
            Truth::Classes(l) => Truth::Classes(rows.iter().map(|&i| l[i]).collect()),
            Truth::Labels(l) => Truth::Labels(rows.iter().map(|&i| l[i].clone()).collect()),
        }
    }

    /// Row `i`'s truth as a table shows it: the class, or its labels joined by commas ("" for none).
    pub fn text(&self, i: usize, classes: &[String]) -> String {
        match self {
            Truth::Classes(l) => classes[l[i] as usize].clone(),
            Truth::Labels(l) => l[i]
                .iter()
                .zip(classes)
                .filter(|(&on, _)| on)
                .map(|(_, c)| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Mean negative log-likelihood of the truth: cross-entropy of the true class, or binary
    /// cross-entropy averaged over rows and labels (what training minimises).
    pub fn log_loss(&self, probs: &[Vec<f64>]) -> f64 {
        let nll = |p: f64| -p.max(1e-12).ln();
        let (sum, n) = match self {
            Truth::Classes(l) => (
                l.iter().zip(probs).map(|(&c, p)| nll(p[c as usize])).sum(),
                l.len(),
            ),
            Truth::Labels(l) => (
                l.iter()
                    .zip(probs)
                    .flat_map(|(on, p)| on.iter().zip(p))
                    .map(|(&on, &p)| if on { nll(p) } else { nll(1.0 - p) })
                    .sum::<f64>(),
                l.iter().map(Vec::len).sum(),
            ),
        };
        sum / n.max(1) as f64
    }

    /// The metrics of `probs` against this truth.
    pub fn report(&self, probs: &[Vec<f64>], classes: &[String]) -> Report {
        match self {
            Truth::Classes(l) => report(l, probs, classes),
            Truth::Labels(l) => multi_label_report(l, probs, classes),
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Area under the ROC curve (the Mann-Whitney statistic; ties count half).
pub fn auroc(scores: &[f64], positive: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (n_pos, n_neg) =
        positive.iter().fold(
            (0f64, 0f64),
            |(p, n), &y| if y { (p + 1.0, n) } else { (p, n + 1.0) },
        );
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    // Average ranks over ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if positive[k] {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    (rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// ROC points (fpr, tpr), from the highest threshold down.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    curve(scores, positive, |tp, fp, p, n| {
        (ratio(fp, n), ratio(tp, p))
    })
}

/// Precision-recall points (recall, precision), from the highest threshold down.
pub fn pr_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    curve(scores, positive, |tp, fp, p, _| {
        (
            ratio(tp, p),
            if tp + fp == 0.0 { 1.0 } else { tp / (tp + fp) },
        )
    })
}

fn curve(
    scores: &[f64],
    positive: &[bool],
    point: impl Fn(f64, f64, f64, f64) -> (f64, f64),
) -> Vec<(f64, f64)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let p = positive.iter().filter(|&&y| y).count() as f64;
    let n = positive.len() as f64 - p;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = vec![point(0.0, 0.0, p, n)];
    for (k, &i) in idx.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = k + 1 == idx.len() || scores[idx[k + 1]] != scores[i];
        if last_of_tie {
            out.push(point(tp, fp, p, n));
        }
    }
    out
}

/// Average precision (the step-wise area under the PR curve, as scikit-learn computes it).
pub fn auprc(scores: &[f64], positive: &[bool]) -> f64 {
    // Undefined without positives (as AUROC is), not 0: a macro mean leaves it out.
    if !positive.contains(&true) {
        return f64::NAN;
    }
    let pts = pr_curve(scores, positive);
    pts.windows(2).map(|w| (w[1].0 - w[0].0) * w[1].1).sum()
}

/// One-vs-rest metrics for `class` from predictions and that class's scores.
pub fn binary(pred_positive: &[bool], scores: &[f64], positive: &[bool]) -> BinaryMetrics {
    let (mut tp, mut fp, mut tn, mut fn_) = (0u64, 0u64, 0u64, 0u64);
    for (&p, &y) in pred_positive.iter().zip(positive) {
        match (p, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let (tpf, fpf, tnf, fnf) = (tp as f64, fp as f64, tn as f64, fn_ as f64);
    let precision = ratio(tpf, tpf + fpf);
    let recall = ratio(tpf, tpf + fnf);
    let denom = ((tpf + fpf) * (tpf + fnf) * (tnf + fpf) * (tnf + fnf)).sqrt();
    BinaryMetrics {
        accuracy: ratio(tpf + tnf, tpf + tnf + fpf + fnf),
        precision,
        recall,
        specificity: ratio(tnf, tnf + fpf),
        f1: ratio(2.0 * precision * recall, precision + recall),
        mcc: ratio(tpf * tnf - fpf * fnf, denom),
        auroc: auroc(scores, positive),
        auprc: auprc(scores, positive),
        tp,
        fp,
        tn,
        fn_,
    }
}

/// Full report from true labels and class probabilities (`probs[i][c]`).
pub fn report(labels: &[u32], probs: &[Vec<f64>], classes: &[String]) -> Report {
    let k = classes.len();
    let pred: Vec<usize> = probs
        .iter()
        .map(|p| {
            p.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0)
        })
        .collect();
    let mut confusion = vec![vec![0u64; k]; k];
    for (&y, &p) in labels.iter().zip(&pred) {
        confusion[y as usize][p] += 1;
    }
    let per_class: Vec<BinaryMetrics> = (0..k)
        .map(|c| {
            let pos: Vec<bool> = labels.iter().map(|&y| y as usize == c).collect();
            let pred_pos: Vec<bool> = pred.iter().map(|&p| p == c).collect();
            let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
            binary(&pred_pos, &scores, &pos)
        })
        .collect();
    let correct = labels
        .iter()
        .zip(&pred)
        .filter(|(&y, &p)| y as usize == p)
        .count();
    let summary = if k == 2 {
        per_class[1].clone()
    } else {
        BinaryMetrics {
            accuracy: ratio(correct as f64, labels.len() as f64),
            ..macro_summary(&per_class)
        }
    };
    Report {
        n: labels.len(),
        classes: classes.to_vec(),
        accuracy: ratio(correct as f64, labels.len() as f64),
        confusion,
        per_class,
        summary,
        multi_label: false,
    }
}

/// Mean of the values that are defined (a label without positives or negatives in the set has no
/// AUROC; it is left out of the macro average, not counted as 0 or 0.5).
fn defined_mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Unweighted means of the per-class (or per-label) metrics over the classes where each is
/// defined, and summed counts.
fn macro_summary(per_class: &[BinaryMetrics]) -> BinaryMetrics {
    let mean = |f: fn(&BinaryMetrics) -> f64| defined_mean(per_class.iter().map(f));
    BinaryMetrics {
        accuracy: mean(|m| m.accuracy),
        precision: mean(|m| m.precision),
        recall: mean(|m| m.recall),
        specificity: mean(|m| m.specificity),
        f1: mean(|m| m.f1),
        mcc: mean(|m| m.mcc),
        auroc: mean(|m| m.auroc),
        auprc: mean(|m| m.auprc),
        tp: per_class.iter().map(|m| m.tp).sum(),
        fp: per_class.iter().map(|m| m.fp).sum(),
        tn: per_class.iter().map(|m| m.tn).sum(),
        fn_: per_class.iter().map(|m| m.fn_).sum(),
    }
}

/// Multi-label report: each label scored on its own (predicted at probability >= 0.5), the summary
/// the macro mean over labels.
pub fn multi_label_report(truth: &[Vec<bool>], probs: &[Vec<f64>], labels: &[String]) -> Report {
    let per_class: Vec<BinaryMetrics> = (0..labels.len())
        .map(|c| {
            let pos: Vec<bool> = truth.iter().map(|t| t[c]).collect();
            let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
            let pred: Vec<bool> = scores.iter().map(|&s| s >= 0.5).collect();
            binary(&pred, &scores, &pos)
        })
        .collect();
    let summary = macro_summary(&per_class);
    let pairs = (summary.tp + summary.fp + summary.tn + summary.fn_) as f64;
    Report {
        n: truth.len(),
        classes: labels.to_vec(),
        accuracy: ratio((summary.tp + summary.tn) as f64, pairs),
        confusion: Vec::new(),
        per_class,
        summary,
        multi_label: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Values checked by hand (and against scikit-learn's definitions).
    #[test]
    fn test_binary_metrics_by_hand() {
        // tp=3 fp=1 tn=4 fn=2
        let y = [
            true, true, true, true, true, false, false, false, false, false,
        ];
        let p = [
            true, true, true, false, false, true, false, false, false, false,
        ];
        let s = [0.9, 0.8, 0.7, 0.4, 0.3, 0.6, 0.2, 0.1, 0.35, 0.05];
        let m = binary(&p, &s, &y);
        assert_eq!((m.tp, m.fp, m.tn, m.fn_), (3, 1, 4, 2));
        assert!(
            close(m.accuracy, 0.7)
                && close(m.precision, 0.75)
                && close(m.recall, 0.6)
                && close(m.specificity, 0.8)
        );
        assert!(close(m.f1, 2.0 * 0.75 * 0.6 / 1.35));
        assert!(close(
            m.mcc,
            (12.0 - 2.0) / (4.0f64 * 5.0 * 5.0 * 6.0).sqrt()
        ));
        // Pairs (pos, neg) ranked correctly: 22 of 25.
        assert!(close(m.auroc, 22.0 / 25.0), "{}", m.auroc);
        // AP: precision at each positive, ranked by score: 1/1, 2/2, 3/3, 4/5 (after 0.6), 5/7.
        let ap = (1.0 + 1.0 + 1.0 + 4.0 / 5.0 + 5.0 / 7.0) / 5.0;
        assert!(close(m.auprc, ap), "{} vs {ap}", m.auprc);
    }

    #[test]
    fn test_auroc_ties_and_perfect() {
        assert!(close(auroc(&[0.5, 0.5], &[true, false]), 0.5));
        assert!(close(auroc(&[0.1, 0.9], &[false, true]), 1.0));
        assert!(auroc(&[0.1], &[true]).is_nan());
    }

    #[test]
    fn test_report_multiclass_confusion() {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let labels = [0, 1, 2, 2];
        let probs = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.2, 0.7, 0.1],
            vec![0.1, 0.6, 0.3],
            vec![0.1, 0.2, 0.7],
        ];
        let r = report(&labels, &probs, &classes);
        assert_eq!(
            r.confusion,
            vec![vec![1, 0, 0], vec![0, 1, 0], vec![0, 1, 1]]
        );
        assert!(close(r.accuracy, 0.75));
        assert!(close(r.summary.recall, (1.0 + 1.0 + 0.5) / 3.0));
    }

    /// Per label by hand; a label without negatives has no AUROC and stays out of the macro mean.
    #[test]
    fn test_multi_label_report_and_loss() {
        let labels: Vec<String> = ["crp", "fnr", "lexA"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let truth = Truth::Labels(vec![
            vec![true, false, true],
            vec![false, true, true],
            vec![true, true, true],
            vec![false, false, true],
        ]);
        let probs = vec![
            vec![0.9, 0.2, 0.6],
            vec![0.3, 0.4, 0.7],
            vec![0.6, 0.8, 0.9],
            vec![0.7, 0.1, 0.2],
        ];
        let r = truth.report(&probs, &labels);
        assert!(r.multi_label && r.confusion.is_empty());
        // crp: positives 0.9, 0.6 vs negatives 0.3, 0.7: 3 of 4 pairs.
        assert!(close(r.per_class[0].auroc, 0.75));
        assert!(close(r.per_class[1].auroc, 1.0));
        assert!(r.per_class[2].auroc.is_nan());
        assert!(
            auprc(&[0.3, 0.6], &[false, false]).is_nan(),
            "no positives: undefined"
        );
        assert!(close(r.summary.auroc, (0.75 + 1.0) / 2.0));
        // At 0.5: crp 3 of 4 right (row 3 wrong), fnr 3 of 4 (row 1), lexA 3 of 4 (row 3).
        assert!(close(r.accuracy, 9.0 / 12.0));
        let by_hand = -[
            0.9f64, 0.8, 0.6, 0.7, 0.4, 0.7, 0.6, 0.8, 0.9, 0.3, 0.9, 0.2,
        ]
        .iter()
        .map(|p| p.ln())
        .sum::<f64>()
            / 12.0;
        assert!(close(truth.log_loss(&probs), by_hand));
        assert_eq!(truth.text(1, &labels), "fnr,lexA");
        assert_eq!(Truth::Labels(vec![vec![false; 3]]).text(0, &labels), "");
    }
}
