//! Labelled sequences for classifiers: one FASTA per class, labels in FASTA headers, a TSV/CSV table,
//! or BED intervals cut from a reference (reverse-complemented on '-'). Class names are kept in
//! first-seen order; splits are stratified by class and reproducible from a seed, or given by a
//! column of the table.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::eval::metrics::Truth;
use crate::genome::{self, bed, indexed::Genome, nucleotide};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetSplit {
    Train,
    Valid,
    Test,
}

impl std::str::FromStr for SetSplit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Self::Train),
            "valid" | "validation" | "val" | "dev" => Ok(Self::Valid),
            "test" => Ok(Self::Test),
            other => Err(format!("{other:?} is not a split (train, valid or test)")),
        }
    }
}

/// Where labelled sequences come from (the `[data]` section of a classifier config).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
pub enum LabelledSource {
    /// One FASTA file per class.
    FastaPerClass { classes: Vec<ClassFile> },
    /// One FASTA; the label is `label=VALUE` in the header, or the first group of `label_regex`.
    FastaHeader {
        fasta: PathBuf,
        #[serde(default)]
        label_regex: Option<String>,
    },
    /// TSV or CSV (by extension; .gz allowed) with a header line.
    Table {
        path: PathBuf,
        #[serde(default = "d_seq_col")]
        sequence_column: String,
        #[serde(default = "d_label_col")]
        label_column: String,
        /// Multi-label data: one 0/1 column per label, named here, or `["*"]` for every column
        /// right of the sequence column (then `label_column` is unused).
        #[serde(default)]
        label_columns: Option<Vec<String>>,
        #[serde(default)]
        split_column: Option<String>,
    },
    /// Two parallel files, one sequence per line and one label per line (the genomics primer's format).
    Lines { sequences: PathBuf, labels: PathBuf },
    /// BED intervals (label in a column, 1-based; strand in column 6) cut from a reference.
    Bed {
        bed: PathBuf,
        genome: PathBuf,
        #[serde(default = "d_bed_label")]
        label_column: usize,
    },
    /// HDF5 with a one-hot dataset (n x length x 4, channels A, C, G, T) and a label dataset.
    Hdf5 {
        path: PathBuf,
        #[serde(default = "d_h5_x")]
        x: String,
        #[serde(default = "d_h5_y")]
        y: String,
    },
}

fn d_h5_x() -> String {
    "x".into()
}
fn d_h5_y() -> String {
    "y".into()
}

fn d_seq_col() -> String {
    "sequence".into()
}
fn d_label_col() -> String {
    "label".into()
}
fn d_bed_label() -> usize {
    4
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassFile {
    pub name: String,
    pub fasta: PathBuf,
}

#[derive(Debug, Default, Clone)]
pub struct LabelledSet {
    pub ids: Vec<String>,
    pub sequences: Vec<Vec<u8>>,
    pub labels: Vec<u32>,
    pub classes: Vec<String>,
    /// Given by the data (a split column), else assigned by [`LabelledSet::split_stratified`].
    pub splits: Option<Vec<SetSplit>>,
    /// Multi-label data: for each row, whether it has each of `classes` (then the labels); `labels`
    /// holds each row's split stratum (its first label, or none), not a class.
    pub label_sets: Option<Vec<Vec<bool>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Genome(#[from] genome::Error),
    #[error("{path}: line {line}: {message}", path = path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}", path = path.display())]
    File { path: PathBuf, message: String },
    #[error("label_regex {regex:?}: {message}")]
    Regex { regex: String, message: String },
    #[error("labelled data: {0}")]
    Invalid(String),
}

impl LabelledSet {
    pub(crate) fn push(&mut self, id: String, seq: Vec<u8>, label: &str) {
        let idx = match self.classes.iter().position(|c| c == label) {
            Some(i) => i,
            None => {
                self.classes.push(label.to_string());
                self.classes.len() - 1
            }
        };
        self.ids.push(id);
        self.sequences.push(seq);
        self.labels.push(idx as u32);
    }

    /// A multi-label row: `flags[c]` says whether it has label `classes[c]` (set beforehand).
    pub(crate) fn push_label_set(&mut self, id: String, seq: Vec<u8>, flags: Vec<bool>) {
        self.ids.push(id);
        self.sequences.push(seq);
        self.labels.push(stratum(&flags));
        self.label_sets.get_or_insert_with(Vec::new).push(flags);
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_multi_label(&self) -> bool {
        self.label_sets.is_some()
    }

    /// The rows `rows`, in that order (their splits too, when assigned).
    pub fn subset(&self, rows: &[usize]) -> LabelledSet {
        LabelledSet {
            ids: rows.iter().map(|&i| self.ids[i].clone()).collect(),
            sequences: rows.iter().map(|&i| self.sequences[i].clone()).collect(),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            splits: self
                .splits
                .as_ref()
                .map(|s| rows.iter().map(|&i| s[i]).collect()),
            label_sets: self
                .label_sets
                .as_ref()
                .map(|l| rows.iter().map(|&i| l[i].clone()).collect()),
        }
    }

    /// What predictions of the rows `rows` are scored against.
    pub fn truth_of(&self, rows: &[usize]) -> Truth {
        match &self.label_sets {
            Some(sets) => Truth::Labels(rows.iter().map(|&i| sets[i].clone()).collect()),
            None => Truth::Classes(rows.iter().map(|&i| self.labels[i]).collect()),
        }
    }

    /// Multi-label data: keeps the labels `order` names, in that order (a subset is allowed: e.g.
    /// the transcription factors one model is for).
    fn select_labels(&mut self, order: &[String]) -> Result<(), Error> {
        let index: Vec<usize> = order
            .iter()
            .map(|name| {
                self.classes.iter().position(|c| c == name).ok_or_else(|| {
                    Error::Invalid(format!(
                        "classes names {name:?}, which is not a label of the data: {:?}",
                        self.classes
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let sets = self.label_sets.as_mut().expect("multi-label");
        for flags in sets.iter_mut() {
            *flags = index.iter().map(|&c| flags[c]).collect();
        }
        self.labels = sets.iter().map(|f| stratum(f)).collect();
        self.classes = order.to_vec();
        Ok(())
    }

    /// Puts the classes in the given order (for two classes the second is the positive one of
    /// precision, recall and the ROC curve); `order` must name exactly the classes of the data.
    pub fn order_classes(&mut self, order: &[String]) -> Result<(), Error> {
        if self.is_multi_label() {
            return self.select_labels(order);
        }
        let mut sorted_have = self.classes.clone();
        let mut sorted_want = order.to_vec();
        sorted_have.sort();
        sorted_want.sort();
        if sorted_have != sorted_want {
            return Err(Error::Invalid(format!(
                "classes = {order:?} must name exactly the labels found in the data: {:?}",
                self.classes
            )));
        }
        let new_index: Vec<u32> = self
            .classes
            .iter()
            .map(|c| order.iter().position(|o| o == c).expect("checked") as u32)
            .collect();
        for l in &mut self.labels {
            *l = new_index[*l as usize];
        }
        self.classes = order.to_vec();
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Indices of the rows in one split, in data order (none before splits are assigned).
    pub fn rows_in(&self, which: SetSplit) -> Vec<usize> {
        let Some(splits) = &self.splits else {
            return Vec::new();
        };
        (0..self.len()).filter(|&i| splits[i] == which).collect()
    }

    /// Counts per class (multi-label: rows with each label).
    pub fn class_counts(&self) -> Vec<usize> {
        if let Some(sets) = &self.label_sets {
            return (0..self.classes.len())
                .map(|c| sets.iter().filter(|f| f[c]).count())
                .collect();
        }
        let mut c = vec![0; self.classes.len()];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    /// Assigns train/valid/test within each class (multi-label: within each row's first label):
    /// round(frac * n) to valid and test, reproducibly.
    pub fn split_stratified(&mut self, valid_frac: f64, test_frac: f64, seed: u64) {
        let mut splits = vec![SetSplit::Train; self.len()];
        let mut rng = SplitMix64::new(seed);
        let strata = self.labels.iter().max().map_or(0, |&m| m + 1);
        for class in 0..strata {
            let mut idx: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] == class)
                .collect();
            for i in (1..idx.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                idx.swap(i, j);
            }
            let n = idx.len() as f64;
            let n_test = (test_frac * n).round() as usize;
            let n_valid = (valid_frac * n).round() as usize;
            for (k, &i) in idx.iter().enumerate() {
                splits[i] = if k < n_test {
                    SetSplit::Test
                } else if k < n_test + n_valid {
                    SetSplit::Valid
                } else {
                    SetSplit::Train
                };
            }
        }
        self.splits = Some(splits);
    }

    pub(crate) fn check(self, what: &str) -> Result<Self, Error> {
        if self.is_empty() {
            return Err(Error::Invalid(format!("{what}: no sequences")));
        }
        if self.is_multi_label() {
            return Ok(self);
        }
        if self.classes.len() < 2 {
            return Err(Error::Invalid(format!(
                "{what}: only one class ({:?}); a classifier needs two or more",
                self.classes.first().map(String::as_str).unwrap_or("")
            )));
        }
        Ok(self)
    }
}

/// A multi-label row's split stratum: its first label, or one past the last for none.
fn stratum(flags: &[bool]) -> u32 {
    flags.iter().position(|&on| on).unwrap_or(flags.len()) as u32
}

fn normalise(seq: &[u8], path: &Path, line: usize, id: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(seq.len());
    nucleotide::push_sequence_line(seq, &mut out).map_err(|i| Error::Line {
        path: path.to_path_buf(),
        line,
        message: format!(
            "sequence of {id:?}: {} is not a nucleotide",
            nucleotide::describe_byte(seq[i])
        ),
    })?;
    if out.is_empty() {
        return Err(Error::Line {
            path: path.to_path_buf(),
            line,
            message: format!("{id:?} has an empty sequence"),
        });
    }
    Ok(out)
}

fn header_label(header: &str, regex: Option<&regex::Regex>) -> Option<String> {
    match regex {
        Some(re) => re
            .captures(header)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string()),
        None => header
            .split(|c: char| c.is_whitespace() || c == '|' || c == ';')
            .find_map(|w| w.strip_prefix("label=").map(str::to_string)),
    }
}

/// FASTA records with their full header line (the streaming reader keeps only the name).
fn fasta_with_headers(path: &Path) -> Result<Vec<(String, usize, Vec<u8>)>, Error> {
    let reader = genome::open::open_decompressed(path)?;
    let mut out: Vec<(String, usize, Vec<u8>)> = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let line = line.trim_end();
        if let Some(h) = line.strip_prefix('>') {
            out.push((h.trim().to_string(), i + 1, Vec::new()));
        } else if !line.is_empty() {
            let Some(last) = out.last_mut() else {
                return Err(Error::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: "sequence before the first '>' header".into(),
                });
            };
            last.2.extend_from_slice(line.as_bytes());
        }
    }
    if out.is_empty() {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: "no FASTA records".into(),
        });
    }
    Ok(out)
}

fn load_fasta_per_class(classes: &[ClassFile]) -> Result<LabelledSet, Error> {
    let mut set = LabelledSet::default();
    for c in classes {
        for (header, line, seq) in fasta_with_headers(&c.fasta)? {
            let id = header.split_whitespace().next().unwrap_or("").to_string();
            let seq = normalise(&seq, &c.fasta, line, &id)?;
            set.push(id, seq, &c.name);
        }
    }
    set.check("fasta_per_class")
}

fn load_fasta_header(path: &Path, regex: Option<&str>) -> Result<LabelledSet, Error> {
    let re = regex
        .map(|r| {
            regex::Regex::new(r).map_err(|e| Error::Regex {
                regex: r.to_string(),
                message: e.to_string(),
            })
        })
        .transpose()?;
    let mut set = LabelledSet::default();
    for (header, line, seq) in fasta_with_headers(path)? {
        let id = header.split_whitespace().next().unwrap_or("").to_string();
        let label = header_label(&header, re.as_ref()).ok_or_else(|| Error::Line {
            path: path.to_path_buf(),
            line,
            message: format!(
                "header {header:?} has no label ({})",
                regex
                    .map(|r| format!("label_regex {r:?} does not match"))
                    .unwrap_or_else(|| "expected label=VALUE".into())
            ),
        })?;
        let seq = normalise(&seq, path, line, &id)?;
        set.push(id, seq, &label);
    }
    set.check(&path.display().to_string())
}

/// Where a table's labels are: one class column, or one 0/1 column per label.
enum TableLabels<'a> {
    Column(&'a str),
    Columns(&'a [String]),
}

/// A multi-label table cell: 0 or 1.
fn flag(cell: &str) -> Option<bool> {
    match cell.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

fn load_table(
    path: &Path,
    seq_col: &str,
    labels: TableLabels,
    split_col: Option<&str>,
) -> Result<LabelledSet, Error> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let delim = if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        ','
    } else {
        '\t'
    };
    let reader = genome::open::open_decompressed(path)?;
    let mut lines = reader.lines().enumerate();
    let file_err = |message: String| Error::File {
        path: path.to_path_buf(),
        message,
    };
    let line_err = |line: usize, message: String| Error::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let header = match lines.next() {
        Some((_, Ok(h))) => h,
        _ => return Err(file_err("empty table (expected a header line)".into())),
    };
    let cols: Vec<&str> = header.trim_end().split(delim).map(str::trim).collect();
    let find = |c: &str| {
        cols.iter().position(|h| *h == c).ok_or_else(|| {
            file_err(format!(
                "no column {c:?} in the header (columns: {})",
                cols.join(", ")
            ))
        })
    };
    let si = find(seq_col)?;
    let label_cols: Vec<usize> = match labels {
        TableLabels::Column(c) => vec![find(c)?],
        TableLabels::Columns([]) => {
            return Err(file_err(
                "label_columns is empty: name the label columns".into(),
            ))
        }
        // ["*"]: every column right of the sequence (but the split column).
        TableLabels::Columns([all]) if all == "*" => (si + 1..cols.len())
            .filter(|&c| Some(cols[c]) != split_col)
            .collect(),
        TableLabels::Columns(names) => names.iter().map(|c| find(c)).collect::<Result<_, _>>()?,
    };
    let multi = matches!(labels, TableLabels::Columns(_));
    if multi && label_cols.is_empty() {
        return Err(file_err(format!(
            "label_columns = [\"*\"] but no column follows {seq_col:?}"
        )));
    }
    let mut set = LabelledSet::default();
    if multi {
        set.classes = label_cols.iter().map(|&c| cols[c].to_string()).collect();
    }
    let pi = split_col.map(find).transpose()?;
    let need = label_cols
        .iter()
        .chain(pi.iter())
        .fold(si, |m, &c| m.max(c));
    let mut splits = Vec::new();
    for (i, line) in lines {
        let line = line.map_err(|e| file_err(e.to_string()))?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(delim).collect();
        if f.len() <= need {
            let message = format!("{} fields, expected at least {}", f.len(), need + 1);
            return Err(line_err(i + 1, message));
        }
        let id = format!("row{}", i + 1);
        let seq = normalise(f[si].trim().as_bytes(), path, i + 1, &id)?;
        if let Some(pi) = pi {
            splits.push(f[pi].parse::<SetSplit>().map_err(|m| line_err(i + 1, m))?);
        }
        if multi {
            let flags = label_cols
                .iter()
                .map(|&c| {
                    flag(f[c]).ok_or_else(|| {
                        let message =
                            format!("column {:?} is {:?}: labels are 0 or 1", cols[c], f[c]);
                        line_err(i + 1, message)
                    })
                })
                .collect::<Result<_, _>>()?;
            set.push_label_set(id, seq, flags);
        } else {
            set.push(id, seq, f[label_cols[0]].trim());
        }
    }
    if pi.is_some() {
        set.splits = Some(splits);
    }
    set.check(&path.display().to_string())
}

fn load_bed(
    bed_path: &Path,
    genome_path: &Path,
    label_column: usize,
) -> Result<LabelledSet, Error> {
    if label_column == 0 {
        return Err(Error::Invalid("bed label_column is 1-based".into()));
    }
    let cols = bed::BedColumns {
        label: Some(label_column - 1),
        strand: Some(5),
    };
    let intervals = bed::read_bed(bed_path, cols)?;
    let mut genome = Genome::open(genome_path)?;
    let mut set = LabelledSet::default();
    for iv in &intervals {
        let label = iv.label.clone().ok_or_else(|| Error::File {
            path: bed_path.to_path_buf(),
            message: format!(
                "interval {} has no column {label_column} for its label",
                iv.to_region()
            ),
        })?;
        let seq = genome.fetch(iv)?;
        set.push(iv.to_region().to_string(), seq, &label);
    }
    set.check(&bed_path.display().to_string())
}

fn read_lines(path: &Path) -> Result<Vec<String>, Error> {
    let reader = genome::open::open_decompressed(path)?;
    let lines: Result<Vec<String>, _> = reader.lines().collect();
    let lines = lines.map_err(|e| Error::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(lines
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

fn load_lines(seq_path: &Path, label_path: &Path) -> Result<LabelledSet, Error> {
    let (seqs, labels) = (read_lines(seq_path)?, read_lines(label_path)?);
    if seqs.len() != labels.len() {
        return Err(Error::Invalid(format!(
            "{} has {} sequences but {} has {} labels",
            seq_path.display(),
            seqs.len(),
            label_path.display(),
            labels.len()
        )));
    }
    let mut set = LabelledSet::default();
    for (i, (s, l)) in seqs.iter().zip(&labels).enumerate() {
        let id = format!("seq{}", i + 1);
        let seq = normalise(s.as_bytes(), seq_path, i + 1, &id)?;
        set.push(id, seq, l.trim());
    }
    set.check(&seq_path.display().to_string())
}

impl LabelledSource {
    /// The files the data is read from (recorded with their checksums in a model dir).
    pub fn files(&self) -> Vec<&Path> {
        match self {
            LabelledSource::Lines { sequences, labels } => vec![sequences, labels],
            LabelledSource::FastaPerClass { classes } => {
                classes.iter().map(|c| c.fasta.as_path()).collect()
            }
            LabelledSource::FastaHeader { fasta, .. } => vec![fasta],
            LabelledSource::Table { path, .. } => vec![path],
            LabelledSource::Bed { bed, genome, .. } => vec![bed, genome],
            LabelledSource::Hdf5 { path, .. } => vec![path],
        }
    }

    pub fn load(&self) -> Result<LabelledSet, Error> {
        match self {
            LabelledSource::Lines { sequences, labels } => load_lines(sequences, labels),
            LabelledSource::FastaPerClass { classes } => load_fasta_per_class(classes),
            LabelledSource::FastaHeader { fasta, label_regex } => {
                load_fasta_header(fasta, label_regex.as_deref())
            }
            LabelledSource::Table {
                path,
                sequence_column,
                label_column,
                label_columns,
                split_column,
            } => {
                let labels = match label_columns {
                    Some(names) => TableLabels::Columns(names),
                    None => TableLabels::Column(label_column),
                };
                load_table(path, sequence_column, labels, split_column.as_deref())
            }
            LabelledSource::Bed {
                bed,
                genome,
                label_column,
            } => load_bed(bed, genome, *label_column),
            LabelledSource::Hdf5 { path, x, y } => super::onehot_h5::load(path, x, y),
        }
    }
}

/// Class name -> index, for mapping predictions back.
pub fn class_index(classes: &[String]) -> HashMap<&str, u32> {
    classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_order_classes_relabels_and_rejects_unknown_names() {
        let mut set = LabelledSet::default();
        set.push("a".into(), b"ACGT".to_vec(), "promoter");
        set.push("b".into(), b"ACGA".to_vec(), "non_promoter");
        set.push("c".into(), b"ACGC".to_vec(), "promoter");
        assert_eq!(set.labels, vec![0, 1, 0]);
        set.order_classes(&["non_promoter".into(), "promoter".into()])
            .unwrap();
        assert_eq!(set.classes, vec!["non_promoter", "promoter"]);
        assert_eq!(set.labels, vec![1, 0, 1]);
        let err = set
            .order_classes(&["non_promoter".into(), "enhancer".into()])
            .unwrap_err();
        assert!(err.to_string().contains("\"promoter\""), "{err}");
    }

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn test_all_four_sources() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "a.fa", ">a1\nACGT\n>a2\nacgtn\n");
        let b = write(d.path(), "b.fa", "> 7\nGGCC\n");
        let s = LabelledSource::FastaPerClass {
            classes: vec![
                ClassFile {
                    name: "pos".into(),
                    fasta: a,
                },
                ClassFile {
                    name: "neg".into(),
                    fasta: b,
                },
            ],
        }
        .load()
        .unwrap();
        assert_eq!(
            (s.classes.clone(), s.labels.clone()),
            (vec!["pos".to_string(), "neg".into()], vec![0, 0, 1])
        );
        assert_eq!(s.sequences[1], b"ACGTN");

        let h = write(
            d.path(),
            "h.fa",
            ">x1 label=enh\nACGT\n>x2 gene|label=bg\nTTTT\n",
        );
        let s = LabelledSource::FastaHeader {
            fasta: h.clone(),
            label_regex: None,
        }
        .load()
        .unwrap();
        assert_eq!(s.classes, ["enh", "bg"]);
        let s = LabelledSource::FastaHeader {
            fasta: h,
            label_regex: Some(r"^(x\d)".into()),
        }
        .load()
        .unwrap();
        assert_eq!(s.classes, ["x1", "x2"]);

        let t = write(
            d.path(),
            "t.csv",
            "id,sequence,label,split\n1,ACGT,yes,train\n2,GGGG,no,test\n",
        );
        let src = LabelledSource::Table {
            path: t,
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            label_columns: None,
            split_column: Some("split".into()),
        };
        let s = src.load().unwrap();
        assert_eq!(s.splits, Some(vec![SetSplit::Train, SetSplit::Test]));

        let g = write(d.path(), "g.fa", ">chr1\nAAAACCCCGGGGTTTT\n");
        let bedf = write(
            d.path(),
            "x.bed",
            "chr1\t0\t4\tA\t0\t+\nchr1\t4\t8\tC\t0\t-\n",
        );
        let s = LabelledSource::Bed {
            bed: bedf,
            genome: g,
            label_column: 4,
        }
        .load()
        .unwrap();
        assert_eq!(
            s.sequences,
            vec![b"AAAA".to_vec(), b"GGGG".to_vec()],
            "'-' is reverse-complemented"
        );
    }

    #[test]
    fn test_errors_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let h = write(d.path(), "h.fa", ">x1 label=a\nACGT\n>x2\nTTTT\n");
        let e = LabelledSource::FastaHeader {
            fasta: h,
            label_regex: None,
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(e.contains("h.fa: line 3") && e.contains("no label"), "{e}");
        let t = write(d.path(), "t.tsv", "sequence\tlabel\nACGT\ta\nAC!T\tb\n");
        let src = LabelledSource::Table {
            path: t,
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            label_columns: None,
            split_column: None,
        };
        let e = src.load().unwrap_err().to_string();
        assert!(e.contains("t.tsv: line 3") && e.contains("'!'"), "{e}");
        let t = write(d.path(), "one.tsv", "sequence\tlabel\nACGT\ta\nGGGG\ta\n");
        let src = LabelledSource::Table {
            path: t,
            sequence_column: "seq".into(),
            label_column: "label".into(),
            label_columns: None,
            split_column: None,
        };
        assert!(src
            .load()
            .unwrap_err()
            .to_string()
            .contains("no column \"seq\""));
    }

    /// 0/1 columns become label sets; `classes` selects and orders them; a bad cell is named.
    #[test]
    fn test_multi_label_table() {
        let d = tempfile::tempdir().unwrap();
        let t = write(
            d.path(),
            "tf.tsv",
            "sequence\tcrp\tfnr\tlexA\nACGT\t1\t0\t1\nGGGG\t0\t0\t0\nTTAA\t0\t1\t0\n",
        );
        let table = |cols: &[&str]| LabelledSource::Table {
            path: t.clone(),
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            label_columns: Some(cols.iter().map(|c| c.to_string()).collect()),
            split_column: None,
        };
        let all = table(&["*"]).load().unwrap();
        assert_eq!(all.classes, vec!["crp", "fnr", "lexA"]);
        let mut set = table(&["crp", "fnr", "lexA"]).load().unwrap();
        assert!(set.is_multi_label());
        assert_eq!(set.class_counts(), vec![1, 1, 1]);
        assert_eq!(set.labels, vec![0, 3, 1], "strata: first label, or none");
        set.order_classes(&["lexA".into(), "fnr".into()]).unwrap();
        assert_eq!(
            set.truth_of(&[0, 1, 2]),
            Truth::Labels(vec![
                vec![true, false],
                vec![false, false],
                vec![false, true]
            ])
        );
        let e = set.order_classes(&["argR".into()]).unwrap_err().to_string();
        assert!(e.contains("\"argR\""), "{e}");
        let e = table(&["crp", "arcA"]).load().unwrap_err().to_string();
        assert!(e.contains("no column \"arcA\""), "{e}");
        let bad = write(d.path(), "bad.tsv", "sequence\tcrp\nACGT\t1\nGGGG\t2\n");
        let e = LabelledSource::Table {
            path: bad,
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            label_columns: Some(vec!["crp".into()]),
            split_column: None,
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("bad.tsv: line 3") && e.contains("\"crp\" is \"2\""),
            "{e}"
        );
    }

    #[test]
    fn test_stratified_split_keeps_class_proportions() {
        let mut s = LabelledSet::default();
        for i in 0..100 {
            s.push(format!("p{i}"), b"ACGT".to_vec(), "pos");
        }
        for i in 0..300 {
            s.push(format!("n{i}"), b"ACGT".to_vec(), "neg");
        }
        s.split_stratified(0.1, 0.2, 7);
        let splits = s.splits.clone().unwrap();
        let count = |class: u32, sp: SetSplit| {
            (0..s.len())
                .filter(|&i| s.labels[i] == class && splits[i] == sp)
                .count()
        };
        assert_eq!(
            (count(0, SetSplit::Test), count(0, SetSplit::Valid)),
            (20, 10)
        );
        assert_eq!(
            (count(1, SetSplit::Test), count(1, SetSplit::Valid)),
            (60, 30)
        );
        let mut again = s.clone();
        again.split_stratified(0.1, 0.2, 7);
        assert_eq!(again.splits, s.splits);
        // rows_in: each row in exactly one split, in data order.
        let test = s.rows_in(SetSplit::Test);
        assert_eq!(test.len(), 80);
        assert!(test.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = [SetSplit::Train, SetSplit::Valid, SetSplit::Test]
            .into_iter()
            .flat_map(|sp| s.rows_in(sp))
            .collect();
        all.sort();
        assert_eq!(all, (0..400).collect::<Vec<_>>());
        assert!(LabelledSet::default().rows_in(SetSplit::Test).is_empty());
    }
}
