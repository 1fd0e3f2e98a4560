//! `genolm cnn compare`: TLVar's comparison of transfer learning against training from scratch,
//! done as the paper describes it. Each repetition balances the data (every positive, as many
//! negatives drawn with the repetition's seed), holds out a stratified test split, and trains on a
//! fraction of the rest (a stratified validation split of it for early stopping). Methods:
//! - `base`: the pretrained CNN as it is;
//! - `self`: the same architecture from scratch;
//! - `tl`: the pretrained layers frozen through `freeze_through`, the layers above it
//!   re-initialised and trained;
//! - `tl0`: the pretrained layers frozen through `freeze_through`, the layers above it kept as
//!   pretrained and fine-tuned (TLVar's variant that does not re-initialise them);
//! - `ft`: every layer initialised from the pretrained CNN except the output layer, all of them
//!   trained at the lower fine-tuning rate (Novakovsky et al.'s multi-task -> single-task transfer:
//!   3e-4 against 3e-3 from scratch).
//!
//! `base` and `tl0` keep the pretrained output layer, so they need a binary pretrained CNN with the
//! data's classes; `self`, `tl` and `ft` take any pretrained CNN (e.g. a multi-label one over many
//! TFs) whose input length is the data's. Several datasets (e.g. one per held-out TF) run in one
//! comparison; then each method's gain over `self` is also plotted against the dataset's number of
//! positives, with a Spearman correlation and a Wilcoxon test over the datasets.
//!
//! Scores on the test split: AUROC, AUPRC, precision and recall of the positive class (at 0.5),
//! and Pearson's r between probability and label; a one-sided Wilcoxon signed-rank test of
//! tl > self per fraction (exact, over the paired repetitions).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::fit::FitOptions;
use super::{io_err, Error, Result};
use crate::config::classify::{SplitConfig, Stage};
use crate::config::cnn::{CnnRunConfig, CnnSpec, InitFrom, Schedule};
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
    Ft,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Base => "base",
            Method::Scratch => "self",
            Method::Tl => "tl",
            Method::Tl0 => "tl0",
            Method::Ft => "ft",
        }
    }

    /// Whether the method predicts with the pretrained output layer (so needs its classes).
    fn keeps_output_layer(self) -> bool {
        matches!(self, Method::Base | Method::Tl0)
    }
}

pub struct CompareOptions {
    pub pretrained: PathBuf,
    /// One comparison per dataset, each named by its file stem.
    pub data: Vec<LabelledSource>,
    /// The two classes, negative then positive (default: the pretrained CNN's when it is binary,
    /// else `["0", "1"]`).
    pub classes: Option<Vec<String>>,
    pub methods: Vec<Method>,
    pub frac_trains: Vec<f64>,
    pub frac_test: f64,
    pub frac_val: f64,
    pub nrep: u64,
    pub freeze_through: String,
    pub epochs: u64,
    /// Epochs without a better validation loss before a run stops (0: never).
    pub patience: u64,
    pub lr: f64,
    /// Learning rate of `ft`.
    pub ft_lr: f64,
    pub batch_size: usize,
    pub out: PathBuf,
}

/// One method's test scores in one repetition at one training fraction.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Score {
    /// The dataset's name (its file stem).
    pub data: String,
    /// Positives in the dataset.
    pub positives: usize,
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

/// Which run a score belongs to.
struct RunId<'a> {
    data: &'a str,
    positives: usize,
    method: Method,
    frac: f64,
    rep: u64,
    n_train: usize,
}

/// Scores of positive-class probabilities against the test labels.
fn score(run: &RunId, labels: &[u32], p: &[f64]) -> Score {
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
        data: run.data.to_string(),
        positives: run.positives,
        method: run.method,
        frac_train: run.frac,
        rep: run.rep,
        n_train: run.n_train,
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
    classes: &[String],
    data: LabelledSource,
    method: Method,
    groups: &[String],
) -> CnnRunConfig {
    let mut cfg = spec.config.clone();
    cfg.data = data;
    cfg.classes = Some(classes.to_vec());
    cfg.split = SplitConfig::default();
    cfg.train.batch_size = o.batch_size;
    // The protocol, whatever schedule the pretrained CNN had: a constant rate, the epoch with the
    // best validation loss kept, early stopping after `patience` epochs without a better one.
    cfg.train.schedule = Schedule::Constant;
    cfg.train.metric = crate::config::Metric::ValidLoss;
    cfg.train.patience = o.patience;
    let freeze = matches!(method, Method::Tl | Method::Tl0).then(|| o.freeze_through.clone());
    cfg.train.stages = vec![Stage {
        unfreeze: 0,
        epochs: o.epochs,
        lr: if method == Method::Ft { o.ft_lr } else { o.lr },
        freeze_through: freeze,
    }];
    let from = |reinit: &[String]| {
        Some(InitFrom {
            model: o.pretrained.clone(),
            reinit: reinit.to_vec(),
        })
    };
    cfg.init = match method {
        Method::Base | Method::Scratch => None,
        Method::Tl => {
            // Re-initialise every group above the frozen one.
            let cut = groups
                .iter()
                .position(|g| *g == o.freeze_through)
                .unwrap_or(0);
            from(&groups[cut + 1..])
        }
        Method::Tl0 => from(&[]),
        Method::Ft => from(&groups[groups.len() - 1..]),
    };
    cfg
}

/// The two classes of the comparison, negative then positive.
fn run_classes(o: &CompareOptions, spec: &CnnSpec) -> Result<Vec<String>> {
    let pretrained_binary = spec.classes.len() == 2 && !spec.multi_label;
    let classes = match &o.classes {
        Some(c) => c.clone(),
        None if pretrained_binary => spec.classes.clone(),
        None => vec!["0".into(), "1".into()],
    };
    if classes.len() != 2 {
        return Err(Error::Setting {
            key: "--classes".into(),
            problem: format!(
                "cnn compare scores a binary task; {} classes given",
                classes.len()
            ),
        });
    }
    if let Some(m) = o.methods.iter().find(|m| m.keeps_output_layer()) {
        if !pretrained_binary || spec.classes != classes {
            return Err(Error::Mismatch {
                subject: format!("{}: method {}", o.pretrained.display(), m.name()),
                found: format!(
                    "it predicts with the pretrained output layer, whose classes are {:?} \
                     (multi-label: {})",
                    spec.classes, spec.multi_label
                ),
                expected: format!("the data's are {classes:?}: use self, tl and ft for a new task"),
            });
        }
    }
    Ok(classes)
}

/// A dataset's name in the outputs: its file stem.
fn data_name(data: &LabelledSource) -> String {
    data.files().first().map_or("data".to_string(), |f| {
        f.file_stem()
            .map_or("data".to_string(), |s| s.to_string_lossy().into_owned())
    })
}

/// Loads one dataset and checks it against the pretrained CNN.
fn load_data(data: &LabelledSource, classes: &[String], input_len: i64) -> Result<LabelledSet> {
    let set = load_task(data, Some(classes), &SplitConfig::default())?;
    if set.is_multi_label() {
        return Err(Error::Setting {
            key: "--data".into(),
            problem: "cnn compare reads single-label data (a label column, not label_columns)"
                .into(),
        });
    }
    crate::infer::cnn::check_set_lengths(&set, input_len, &data_name(data))?;
    Ok(set)
}

/// Runs the comparison; writes `OUT/compare.tsv`, `OUT/wilcoxon.tsv` and box plots (and, over
/// several datasets, `OUT/per_data.tsv`, `OUT/gain.tsv` and the gain-against-positives plot).
pub fn compare(o: &CompareOptions, interrupted: &AtomicBool) -> Result<Vec<Score>> {
    let spec = CnnSpec::read(&o.pretrained)?;
    let classes = run_classes(o, &spec)?;
    let dev = tch::Device::Cpu;
    let base = crate::infer::cnn::load_cnn(&o.pretrained, dev, crate::train::Precision::Fp32)?;
    let groups: Vec<String> = base
        .model
        .layer_groups()
        .into_iter()
        .map(|g| g.name)
        .collect();
    if !groups.contains(&o.freeze_through) {
        return Err(Error::Setting {
            key: format!("--freeze-through {:?}", o.freeze_through),
            problem: format!("the pretrained CNN's layer groups are {groups:?}"),
        });
    }
    // Every dataset is checked before the first (long) run starts.
    let sets = o
        .data
        .iter()
        .map(|d| Ok((data_name(d), load_data(d, &classes, spec.model.input_len)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut scores = Vec::new();
    for (name, set) in &sets {
        let runs = match sets.len() {
            1 => o.out.join("runs"),
            _ => o.out.join("runs").join(name),
        };
        std::fs::create_dir_all(&runs).map_err(io_err(&runs))?;
        let positives = set.labels.iter().filter(|&&l| l == 1).count();
        for rep in 0..o.nrep {
            let (test, pool) = balanced_split(set, rep, o.frac_test);
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
                let table = runs.join(format!("{tag}.tsv"));
                let data = write_split_table(
                    &table,
                    set,
                    &[(&train, "train"), (&valid, "valid"), (&test, "test")],
                )?;
                for &method in &o.methods {
                    let probs = match method {
                        Method::Base => base.predict(&test_seqs, o.batch_size)?,
                        _ => {
                            let cfg = run_config(&spec, o, &classes, data.clone(), method, &groups);
                            let dir = runs.join(format!("{tag}-{}", method.name()));
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
                            let model = crate::infer::cnn::load_cnn(
                                &dir,
                                dev,
                                crate::train::Precision::Fp32,
                            )?;
                            model.predict(&test_seqs, o.batch_size)?
                        }
                    };
                    let p: Vec<f64> = probs.iter().map(|r| r[1]).collect();
                    let run = RunId {
                        data: name,
                        positives,
                        method,
                        frac,
                        rep,
                        n_train: train.len(),
                    };
                    let s = score(&run, &test_labels, &p);
                    eprintln!(
                        "cnn compare: {name} rep {rep} frac {frac} {:>4}: AUROC {:.3} AUPRC {:.3} \
                         (train {})",
                        method.name(),
                        s.auroc,
                        s.auprc,
                        s.n_train
                    );
                    scores.push(s);
                }
            }
        }
    }
    write_outputs(o, &scores)?;
    if sets.len() > 1 {
        write_gain(o, &scores)?;
    }
    Ok(scores)
}

/// One score of a [`Score`] row, by name.
type Metric = fn(&Score) -> f64;

const METRICS: [(&str, Metric); 2] = [("auroc", |s| s.auroc), ("auprc", |s| s.auprc)];

fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Mid-ranks (1-based) of `x`, ties sharing their mean rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            r[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation (Pearson's r of the mid-ranks).
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// The methods compared against `self` (transfer of some kind).
fn transfer_methods(o: &CompareOptions) -> Vec<Method> {
    if !o.methods.contains(&Method::Scratch) {
        return Vec::new();
    }
    o.methods
        .iter()
        .copied()
        .filter(|m| matches!(m, Method::Tl | Method::Tl0 | Method::Ft))
        .collect()
}

/// One metric of one method on one dataset at one fraction, in repetition order.
fn series_of(scores: &[Score], data: &str, m: Method, f: f64, get: Metric) -> Vec<f64> {
    let mut v: Vec<&Score> = scores
        .iter()
        .filter(|s| s.data == data && s.method == m && s.frac_train == f)
        .collect();
    v.sort_by_key(|s| s.rep);
    v.into_iter().map(get).collect()
}

/// Dataset names in first-seen order, with their positives.
fn datasets(scores: &[Score]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for s in scores {
        if !out.iter().any(|(d, _)| *d == s.data) {
            out.push((s.data.clone(), s.positives));
        }
    }
    out
}

fn write_outputs(o: &CompareOptions, scores: &[Score]) -> Result<()> {
    let mut tsv = String::from(
        "data\tpositives\tmethod\tfrac_train\trep\tn_train\tn_test\tauroc\tauprc\tprecision\t\
         recall\tpearson_r\n",
    );
    for s in scores {
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\n",
            s.data,
            s.positives,
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
    let sets = datasets(scores);
    let mut w = String::from(
        "data\tfrac_train\tmetric\tmethod\tmedian_method\tmedian_self\tp_method_greater\n",
    );
    for (data, _) in &sets {
        for m in transfer_methods(o) {
            for &f in &o.frac_trains {
                for (name, get) in METRICS {
                    let t = series_of(scores, data, m, f, get);
                    let sc = series_of(scores, data, Method::Scratch, f, get);
                    w.push_str(&format!(
                        "{data}\t{f}\t{name}\t{}\t{:.4}\t{:.4}\t{:.4}\n",
                        m.name(),
                        median(&t),
                        median(&sc),
                        wilcoxon_greater(&t, &sc)
                    ));
                }
            }
        }
    }
    let path = o.out.join("wilcoxon.tsv");
    write_atomic(&path, w.as_bytes()).map_err(io_err(&path))?;
    // One dataset: a box per method of its repetitions; several: of the datasets' medians.
    let values = |m: Method, f: f64, get: Metric| -> Vec<f64> {
        match sets.as_slice() {
            [(data, _)] => series_of(scores, data, m, f, get),
            _ => sets
                .iter()
                .map(|(d, _)| median(&series_of(scores, d, m, f, get)))
                .collect(),
        }
    };
    for (name, get) in METRICS {
        let title = match sets.len() {
            1 => format!(
                "{} on the test split, by training fraction",
                name.to_uppercase()
            ),
            n => format!("median {} of each of {n} datasets", name.to_uppercase()),
        };
        let plot = genolm::plot::BoxPlot {
            title: &title,
            y_label: name,
            series: o.methods.iter().map(|m| m.name().to_string()).collect(),
            groups: o
                .frac_trains
                .iter()
                .map(|&f| {
                    (
                        format!("{f}"),
                        o.methods.iter().map(|&m| values(m, f, get)).collect(),
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

/// Over several datasets: each one's medians (`per_data.tsv`), and per transfer method the gain
/// over `self` against the number of positives (`gain.tsv`, `gain-auroc/auprc.png`).
fn write_gain(o: &CompareOptions, scores: &[Score]) -> Result<()> {
    use genolm::plot::{LegendAt, LinePlot, Series, Stroke, PALETTE};
    let sets = datasets(scores);
    let mut per = String::from("data\tpositives\tfrac_train\tmethod\tmedian_auroc\tmedian_auprc\n");
    for (data, positives) in &sets {
        for &f in &o.frac_trains {
            for &m in &o.methods {
                per.push_str(&format!(
                    "{data}\t{positives}\t{f}\t{}\t{:.4}\t{:.4}\n",
                    m.name(),
                    median(&series_of(scores, data, m, f, |s| s.auroc)),
                    median(&series_of(scores, data, m, f, |s| s.auprc)),
                ));
            }
        }
    }
    let path = o.out.join("per_data.tsv");
    write_atomic(&path, per.as_bytes()).map_err(io_err(&path))?;
    let mut gain = String::from(
        "method\tfrac_train\tmetric\tdatasets\tmedian_gain\tdatasets_gaining\tp_method_greater\t\
         spearman_gain_vs_positives\n",
    );
    // Positives span orders of magnitude (10 to 500 sites per TF): the plot's x axis is log10.
    for (name, get) in METRICS {
        let mut series = Vec::new();
        for (k, m) in transfer_methods(o).into_iter().enumerate() {
            for (j, &f) in o.frac_trains.iter().enumerate() {
                let med = |m: Method, d: &str| median(&series_of(scores, d, m, f, get));
                let rows: Vec<(f64, f64, f64)> = sets
                    .iter()
                    .map(|(d, p)| (*p as f64, med(m, d), med(Method::Scratch, d)))
                    .filter(|(_, a, b)| a.is_finite() && b.is_finite())
                    .collect();
                let x: Vec<f64> = rows.iter().map(|r| r.0).collect();
                let g: Vec<f64> = rows.iter().map(|r| r.1 - r.2).collect();
                let (a, b): (Vec<f64>, Vec<f64>) = rows.iter().map(|r| (r.1, r.2)).unzip();
                gain.push_str(&format!(
                    "{}\t{f}\t{name}\t{}\t{:.4}\t{}\t{:.3e}\t{:.3}\n",
                    m.name(),
                    rows.len(),
                    median(&g),
                    g.iter().filter(|&&v| v > 0.0).count(),
                    wilcoxon_greater(&a, &b),
                    spearman(&x, &g)
                ));
                let label = match o.frac_trains.len() {
                    1 => format!("{} - self", m.name()),
                    _ => format!("{} - self (fraction {f})", m.name()),
                };
                series.push(Series {
                    name: label,
                    points: x.into_iter().zip(g).collect(),
                    color: PALETTE[(k * o.frac_trains.len() + j) % PALETTE.len()],
                    stroke: Stroke::None,
                    markers: true,
                });
            }
        }
        let (x0, x1) = sets
            .iter()
            .map(|(_, p)| *p as f64)
            .fold((f64::MAX, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
        series.push(Series {
            name: "no gain".into(),
            points: vec![(x0, 0.0), (x1, 0.0)],
            color: genolm::plot::RGBColor(128, 128, 128),
            stroke: Stroke::Dashed,
            markers: false,
        });
        let title = format!(
            "gain in median test {} over training from scratch",
            name.to_uppercase()
        );
        let y_label = format!("{name} gain");
        let plot = LinePlot {
            title: &title,
            x_label: "positives in the dataset (log scale)",
            y_label: &y_label,
            series,
            zoom_y: None,
            log_x: true,
            legend: LegendAt::UpperRight,
        };
        if let Err(e) = genolm::plot::render(&o.out, &format!("gain-{name}"), &plot) {
            eprintln!("genolm: warning: {name} gain plot not drawn: {e}");
        }
    }
    let path = o.out.join("gain.tsv");
    write_atomic(&path, gain.as_bytes()).map_err(io_err(&path))?;
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
    fn test_spearman_and_median() {
        // Monotone but not linear: rank correlation 1; ties share their mid-rank.
        assert!((spearman(&[1.0, 2.0, 10.0], &[1.0, 4.0, 100.0]) - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
        assert_eq!(median(&[3.0, 1.0, f64::NAN, 2.0, 10.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn test_pearson() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }
}
