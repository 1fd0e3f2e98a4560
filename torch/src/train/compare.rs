//! `genolm cnn compare`: TLVar's comparison of transfer learning against training from scratch,
//! done as the paper describes it. Each repetition balances the data (every positive, as many
//! negatives drawn with the repetition's seed), holds out a stratified test split, and trains on a
//! fraction of the rest (a stratified validation split of it for early stopping). Methods:
//! - `base`: the pretrained CNN as it is;
//! - `self`: the same architecture from scratch;
//! - `tl`: the pretrained layers frozen through `freeze_through`, the layers above it
//!   re-initialised and trained;
//! - `tl0`: the pretrained layers frozen through `freeze_through`, the layers above it kept as
//!   pretrained and fine-tuned (TLVar's variant that does not re-initialise them).
//!
//! Scores on the test split: AUROC, AUPRC, precision and recall of the positive class (at 0.5),
//! and Pearson's r between probability and label; a one-sided Wilcoxon signed-rank test of
//! tl > self per fraction (exact, over the paired repetitions).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::fit::FitOptions;
use super::{io_err, Error, Result};
use crate::config::classify::{SplitConfig, Stage};
use crate::config::cnn::{CnnRunConfig, CnnSpec, InitFrom};
use crate::features::kmer::load_task;
use crate::infer::Predictor;
use genolm::corpus::labelled::{LabelledSet, LabelledSource};
use genolm::eval::metrics;
use genolm::fsutil::write_atomic;
use genolm::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Base,
    #[value(name = "self")]
    #[serde(rename = "self")]
    Scratch,
    Tl,
    Tl0,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Base => "base",
            Method::Scratch => "self",
            Method::Tl => "tl",
            Method::Tl0 => "tl0",
        }
    }
}

pub struct CompareOptions {
    pub pretrained: PathBuf,
    pub data: LabelledSource,
    pub methods: Vec<Method>,
    pub frac_trains: Vec<f64>,
    pub frac_test: f64,
    pub frac_val: f64,
    pub nrep: u64,
    pub freeze_through: String,
    pub epochs: u64,
    pub lr: f64,
    pub batch_size: usize,
    pub out: PathBuf,
}

/// One method's test scores in one repetition at one training fraction.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Score {
    pub method: Method,
    pub frac_train: f64,
    pub rep: u64,
    pub n_train: usize,
    pub n_test: usize,
    pub auroc: f64,
    pub auprc: f64,
    pub precision: f64,
    pub recall: f64,
    pub pearson_r: f64,
}

/// Rows of one repetition: (test rows, training pool rows), each list stratified by class.
fn balanced_split(set: &LabelledSet, rep: u64, frac_test: f64) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut rng = SplitMix64::new(rep);
    let mut by_class: Vec<Vec<usize>> = (0..2u32)
        .map(|c| (0..set.len()).filter(|&i| set.labels[i] == c).collect())
        .collect();
    let n = by_class[1].len().min(by_class[0].len());
    for rows in &mut by_class {
        rng.shuffle(rows);
        rows.truncate(n);
    }
    let mut test = Vec::new();
    let mut pool = Vec::new();
    for rows in by_class {
        let n_test = (frac_test * rows.len() as f64).round() as usize;
        test.extend_from_slice(&rows[..n_test]);
        pool.push(rows[n_test..].to_vec());
    }
    (test, pool)
}

/// A table of the rows with a split column, as a labelled source for the run.
fn write_split_table(
    path: &Path,
    set: &LabelledSet,
    parts: &[(&[usize], &str)],
) -> Result<LabelledSource> {
    let mut text = String::from("id\tsequence\tlabel\tsplit\n");
    for (rows, split) in parts {
        for &i in rows.iter() {
            text.push_str(&format!(
                "{}\t{}\t{}\t{split}\n",
                set.ids[i],
                String::from_utf8_lossy(&set.sequences[i]),
                set.classes[set.labels[i] as usize]
            ));
        }
    }
    write_atomic(path, text.as_bytes()).map_err(io_err(path))?;
    Ok(LabelledSource::Table {
        path: path.to_path_buf(),
        sequence_column: "sequence".into(),
        label_column: "label".into(),
        label_columns: None,
        split_column: Some("split".into()),
    })
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt().max(1e-300)
}

/// Scores of positive-class probabilities against the test labels.
fn score(method: Method, frac: f64, rep: u64, n_train: usize, labels: &[u32], p: &[f64]) -> Score {
    let positive: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
    let tp = p
        .iter()
        .zip(&positive)
        .filter(|(&s, &y)| s >= 0.5 && y)
        .count() as f64;
    let called = p.iter().filter(|&&s| s >= 0.5).count() as f64;
    let pos = positive.iter().filter(|&&y| y).count() as f64;
    let y: Vec<f64> = labels.iter().map(|&l| f64::from(l)).collect();
    Score {
        method,
        frac_train: frac,
        rep,
        n_train,
        n_test: labels.len(),
        auroc: metrics::auroc(p, &positive),
        auprc: metrics::auprc(p, &positive),
        precision: if called > 0.0 { tp / called } else { 0.0 },
        recall: if pos > 0.0 { tp / pos } else { 0.0 },
        pearson_r: pearson(p, &y),
    }
}

/// Exact one-sided p-value of the Wilcoxon signed-rank test that `a` exceeds `b` (paired);
/// zero differences dropped, tied magnitudes given mid-ranks.
pub fn wilcoxon_greater(a: &[f64], b: &[f64]) -> f64 {
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x - y)
        .filter(|d| *d != 0.0)
        .collect();
    let n = d.len();
    if n == 0 {
        return 1.0;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[i].abs().total_cmp(&d[j].abs()));
    let mut ranks = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && d[order[j + 1]].abs() == d[order[i]].abs() {
            j += 1;
        }
        for k in i..=j {
            ranks[order[k]] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    let w: f64 = (0..n).filter(|&k| d[k] > 0.0).map(|k| ranks[k]).sum();
    // Every sign pattern is equally likely under the null: count those with W+ >= w.
    let total = 1u64 << n.min(30);
    let at_least = (0..total)
        .filter(|mask| {
            let s: f64 = (0..n)
                .filter(|k| mask >> k & 1 == 1)
                .map(|k| ranks[k])
                .sum();
            s >= w - 1e-9
        })
        .count();
    at_least as f64 / total as f64
}

/// The run config of a trained method: the pretrained CNN's, on this repetition's table.
fn run_config(
    spec: &CnnSpec,
    o: &CompareOptions,
    data: LabelledSource,
    method: Method,
    groups: &[String],
) -> CnnRunConfig {
    let mut cfg = spec.config.clone();
    cfg.data = data;
    cfg.classes = Some(spec.classes.clone());
    cfg.split = SplitConfig::default();
    cfg.train.batch_size = o.batch_size;
    let freeze = matches!(method, Method::Tl | Method::Tl0).then(|| o.freeze_through.clone());
    cfg.train.stages = vec![Stage {
        unfreeze: 0,
        epochs: o.epochs,
        lr: o.lr,
        freeze_through: freeze,
    }];
    cfg.init = match method {
        Method::Base | Method::Scratch => None,
        Method::Tl => {
            // Re-initialise every group above the frozen one.
            let cut = groups
                .iter()
                .position(|g| *g == o.freeze_through)
                .unwrap_or(0);
            Some(InitFrom {
                model: o.pretrained.clone(),
                reinit: groups[cut + 1..].to_vec(),
            })
        }
        Method::Tl0 => Some(InitFrom {
            model: o.pretrained.clone(),
            reinit: Vec::new(),
        }),
    };
    cfg
}

/// Runs the comparison; writes `OUT/compare.tsv`, `OUT/wilcoxon.tsv` and box plots.
pub fn compare(o: &CompareOptions, interrupted: &AtomicBool) -> Result<Vec<Score>> {
    let spec = CnnSpec::read(&o.pretrained)?;
    if spec.classes.len() != 2 || spec.multi_label {
        return Err(Error::Invalid(format!(
            "{}: cnn compare needs a binary (single-label) model; this one has classes {:?}",
            o.pretrained.display(),
            spec.classes
        )));
    }
    let set = load_task(&o.data, Some(&spec.classes), &SplitConfig::default())?;
    if set.is_multi_label() {
        return Err(Error::Invalid(
            "cnn compare reads single-label data (a label column, not label_columns)".into(),
        ));
    }
    if let Some(i) = set
        .sequences
        .iter()
        .position(|s| s.len() as i64 != spec.model.input_len)
    {
        return Err(Error::Invalid(format!(
            "sequence {:?} has {} bases; the pretrained CNN reads {}",
            set.ids[i],
            set.sequences[i].len(),
            spec.model.input_len
        )));
    }
    let dev = tch::Device::Cpu;
    let base = crate::infer::cnn::load_cnn(&o.pretrained, dev, crate::train::Precision::Fp32)?;
    let groups: Vec<String> = base
        .model
        .layer_groups()
        .into_iter()
        .map(|g| g.name)
        .collect();
    if !groups.contains(&o.freeze_through) {
        return Err(Error::Invalid(format!(
            "--freeze-through {:?}: the pretrained CNN's layer groups are {groups:?}",
            o.freeze_through
        )));
    }
    std::fs::create_dir_all(o.out.join("runs")).map_err(io_err(&o.out))?;
    let mut scores = Vec::new();
    for rep in 0..o.nrep {
        let (test, pool) = balanced_split(&set, rep, o.frac_test);
        let test_labels: Vec<u32> = test.iter().map(|&i| set.labels[i]).collect();
        let test_seqs: Vec<&[u8]> = test.iter().map(|&i| set.sequences[i].as_slice()).collect();
        for &frac in &o.frac_trains {
            // The first `frac` of each class's shuffled pool, then a stratified validation part.
            let mut train = Vec::new();
            let mut valid = Vec::new();
            for rows in &pool {
                let n = ((frac * rows.len() as f64).round() as usize).clamp(2, rows.len());
                let n_val = ((o.frac_val * n as f64).round() as usize).max(1);
                valid.extend_from_slice(&rows[..n_val]);
                train.extend_from_slice(&rows[n_val..n]);
            }
            let tag = format!("rep{rep}-frac{frac}");
            let table = o.out.join("runs").join(format!("{tag}.tsv"));
            let data = write_split_table(
                &table,
                &set,
                &[(&train, "train"), (&valid, "valid"), (&test, "test")],
            )?;
            for &method in &o.methods {
                let probs = match method {
                    Method::Base => base.predict(&test_seqs, o.batch_size)?,
                    _ => {
                        let cfg = run_config(&spec, o, data.clone(), method, &groups);
                        let dir = o.out.join("runs").join(format!("{tag}-{}", method.name()));
                        if dir.exists() {
                            std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
                        }
                        let opts = FitOptions {
                            resume: false,
                            interrupted,
                            stop_after: None,
                            progress: false,
                        };
                        super::cnn::train(&cfg, &dir, &opts)?;
                        let model =
                            crate::infer::cnn::load_cnn(&dir, dev, crate::train::Precision::Fp32)?;
                        model.predict(&test_seqs, o.batch_size)?
                    }
                };
                let p: Vec<f64> = probs.iter().map(|r| r[1]).collect();
                let s = score(method, frac, rep, train.len(), &test_labels, &p);
                eprintln!(
                    "cnn compare: rep {rep} frac {frac} {:>4}: AUROC {:.3} AUPRC {:.3} (train {})",
                    method.name(),
                    s.auroc,
                    s.auprc,
                    s.n_train
                );
                scores.push(s);
            }
        }
    }
    write_outputs(o, &scores)?;
    Ok(scores)
}

/// One score of a [`Score`] row, by name.
type Metric = fn(&Score) -> f64;

fn write_outputs(o: &CompareOptions, scores: &[Score]) -> Result<()> {
    let mut tsv = String::from(
        "method\tfrac_train\trep\tn_train\tn_test\tauroc\tauprc\tprecision\trecall\tpearson_r\n",
    );
    for s in scores {
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\n",
            s.method.name(),
            s.frac_train,
            s.rep,
            s.n_train,
            s.n_test,
            s.auroc,
            s.auprc,
            s.precision,
            s.recall,
            s.pearson_r
        ));
    }
    let path = o.out.join("compare.tsv");
    write_atomic(&path, tsv.as_bytes()).map_err(io_err(&path))?;
    let of = |m: Method, f: f64, get: Metric| -> Vec<f64> {
        let mut v: Vec<&Score> = scores
            .iter()
            .filter(|s| s.method == m && s.frac_train == f)
            .collect();
        v.sort_by_key(|s| s.rep);
        v.into_iter().map(get).collect()
    };
    let mut w = String::from("frac_train\tmetric\tmedian_tl\tmedian_self\tp_tl_greater\n");
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let metrics_of: [(&str, Metric); 2] = [("auroc", |s| s.auroc), ("auprc", |s| s.auprc)];
    if o.methods.contains(&Method::Tl) && o.methods.contains(&Method::Scratch) {
        for &f in &o.frac_trains {
            for (name, get) in metrics_of {
                let (tl, sc) = (of(Method::Tl, f, get), of(Method::Scratch, f, get));
                w.push_str(&format!(
                    "{f}\t{name}\t{:.4}\t{:.4}\t{:.4}\n",
                    median(&tl),
                    median(&sc),
                    wilcoxon_greater(&tl, &sc)
                ));
            }
        }
    }
    let path = o.out.join("wilcoxon.tsv");
    write_atomic(&path, w.as_bytes()).map_err(io_err(&path))?;
    for (name, get) in metrics_of {
        let plot = genolm::plot::BoxPlot {
            title: &format!(
                "{} on the test split, by training fraction",
                name.to_uppercase()
            ),
            y_label: name,
            series: o.methods.iter().map(|m| m.name().to_string()).collect(),
            groups: o
                .frac_trains
                .iter()
                .map(|&f| {
                    (
                        format!("{f}"),
                        o.methods.iter().map(|&m| of(m, f, get)).collect(),
                    )
                })
                .collect(),
        };
        if let Err(e) = genolm::plot::render(&o.out, &format!("compare-{name}"), &plot) {
            eprintln!("genolm: warning: {name} box plot not drawn: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_wilcoxon_exact_one_sided() {
        // All 5 differences positive: W+ = 15, only the all-positive pattern reaches it: 1/32.
        let a = [0.9, 0.8, 0.85, 0.7, 0.95];
        let b = [0.5, 0.6, 0.55, 0.65, 0.6];
        assert!((wilcoxon_greater(&a, &b) - 1.0 / 32.0).abs() < 1e-12);
        assert!((wilcoxon_greater(&b, &a) - 1.0).abs() < 1e-12);
        assert_eq!(wilcoxon_greater(&a, &a), 1.0);
    }

    #[test]
    fn test_pearson() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }
}
