//! Class probabilities from trained classifiers: batched, frame-averaged, optionally
//! reverse-complement-averaged, one model or the mean of several.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tch::{nn, Device, Kind};

use super::table::{prediction_rows, predictions_header};
use super::{Ensemble, Features, Featurizer, Predictor};
use crate::config::classify::SavedClassifier;
use crate::features::kmer::{batch, Encoded};
use crate::model::classifier::Classifier;
use crate::modeldir::{self, ModelKind};
use crate::train::{io_err, Error, Precision, Result};
use genolm::corpus::labelled::LabelledSet;
use genolm::eval::metrics::{Report, Truth};
use genolm::fsutil::AtomicFile;
use genolm::genome::open::{io_threads, open_records_tapped, InputTap};
use genolm::tokenize::{hf, KmerTokenizer, PAD_ID};

/// Class probabilities (multi-label: each label's, by a sigmoid) for every row, in row order: the
/// mean over the rows' k-mer frames.
pub(crate) fn encoded_probs(
    clf: &Classifier,
    e: &Encoded,
    bs: usize,
    multi_label: bool,
    (kind, device): (Kind, Device),
) -> Vec<Vec<f64>> {
    let _guard = tch::no_grad_guard();
    let mut order: Vec<usize> = (0..e.len()).collect();
    order.sort_by_key(|&i| e.frames[0][i].len());
    let k = clf.n_classes as usize;
    let mut probs = vec![vec![0.0; k]; e.len()];
    let share = 1.0 / e.frames.len() as f64;
    let encoder = clf.encoder.cast_for_inference(kind);
    for f in 0..e.frames.len() {
        for rows in order.chunks(bs) {
            let (x, _, rows) = batch(e, rows, |_| f, device);
            let logits = clf
                .forward_with(&encoder, &x, i64::from(PAD_ID), false, kind)
                .to_kind(Kind::Float);
            let p = crate::train::head_probs(&logits, multi_label).to_device(Device::Cpu);
            let p: Vec<f32> = Vec::<f32>::try_from(p.flatten(0, -1)).unwrap_or_default();
            for (j, &r) in rows.iter().enumerate() {
                for (c, &v) in p[j * k..(j + 1) * k].iter().enumerate() {
                    probs[r][c] += share * v as f64;
                }
            }
        }
    }
    probs
}

/// A trained classifier loaded from its directory, on a device and at a precision.
pub struct LoadedClassifier {
    pub vs: nn::VarStore,
    pub model: Classifier,
    pub tokenizer: KmerTokenizer,
    pub saved: SavedClassifier,
    pub(crate) kind: Kind,
}

pub fn load_classifier(
    dir: &Path,
    device: Device,
    precision: Precision,
) -> Result<LoadedClassifier> {
    let saved = SavedClassifier::read(dir)?;
    crate::modeldir::check_buildable(dir, || {
        saved.encoder.validate()?;
        crate::train::classify::check_head(&saved.head)
    })?;
    let tokenizer = hf::load(dir)?;
    let mut vs = nn::VarStore::new(device);
    let model = Classifier::new(
        &vs.root(),
        tokenizer.vocab_size() as i64,
        &saved.encoder,
        &saved.head,
        saved.classes.len() as i64,
    );
    crate::train::load_weights(&mut vs, &dir.join(crate::modeldir::MODEL_FILE))?;
    // Inference only: attributions then differentiate the input alone.
    vs.freeze();
    Ok(LoadedClassifier {
        vs,
        model,
        tokenizer,
        saved,
        kind: precision.kind(device)?,
    })
}

/// A classifier directory of any family, as a predictor (a language model is refused).
pub fn load_predictor(
    dir: &Path,
    device: Device,
    precision: Precision,
) -> Result<Box<dyn Predictor>> {
    let (kind, _): (_, serde_json::Value) = modeldir::read_spec(dir, modeldir::CLASSIFIERS)?;
    Ok(match kind {
        ModelKind::Cnn => Box::new(super::cnn::load_cnn(dir, device, precision)?),
        _ => Box::new(load_classifier(dir, device, precision)?),
    })
}

/// Several classifiers (an ensemble, families mixed as they come), in the order given.
pub fn load_classifiers(
    dirs: &[PathBuf],
    device: Device,
    precision: Precision,
) -> Result<Vec<Box<dyn Predictor>>> {
    dirs.iter()
        .map(|d| load_predictor(d, device, precision))
        .collect()
}

/// Classifiers as one predictor: the mean of their probabilities (one model is the plain case).
pub fn ensemble_of(models: Vec<Box<dyn Predictor>>) -> Result<Ensemble> {
    Ensemble::new(models)
}

/// The AWD-LSTM classifier's input: k-mer ids in each frame it reads, in its direction.
struct KmerFeaturizer {
    tokenizer: KmerTokenizer,
    n_frames: usize,
    backwards: bool,
}

impl Featurizer for KmerFeaturizer {
    fn featurize(&self, seqs: &[&[u8]]) -> Features {
        Box::new(Encoded::new(
            &self.tokenizer,
            seqs.iter().copied(),
            Truth::Classes(vec![0; seqs.len()]),
            self.n_frames,
            self.backwards,
        ))
    }
}

impl Predictor for LoadedClassifier {
    fn classes(&self) -> &[String] {
        &self.saved.classes
    }

    fn min_len(&self) -> usize {
        self.tokenizer.k()
    }

    fn train_len(&self) -> Result<Option<u64>> {
        self.saved.train_len().map(Some)
    }

    fn task(&self) -> Option<crate::config::classify::TaskSource> {
        Some(self.saved.config.task_source())
    }

    fn multi_label(&self) -> bool {
        self.saved.multi_label
    }

    fn featurizer(&self) -> Arc<dyn Featurizer> {
        Arc::new(KmerFeaturizer {
            tokenizer: self.tokenizer.clone(),
            n_frames: self.saved.config.train.n_frames(&self.tokenizer),
            backwards: self.saved.encoder.backwards,
        })
    }

    fn attributions(
        &self,
        seqs: &[&[u8]],
        o: &crate::interpret::attribution::AttributionOptions,
    ) -> Result<Vec<Vec<f32>>> {
        crate::interpret::kmer::attributions(self, seqs, o)
    }

    fn substitution_probs(
        &self,
        seq: &[u8],
        subs: &[(usize, u8)],
        batch_size: usize,
    ) -> Result<Option<Vec<Vec<f64>>>> {
        crate::interpret::kmer::substitution_probs(self, seq, subs, batch_size)
    }

    fn predict_features(&self, features: Features, batch_size: usize) -> Result<Vec<Vec<f64>>> {
        let e = features
            .downcast::<Encoded>()
            .map_err(|_| Error::Internal("features of another model".into()))?;
        Ok(encoded_probs(
            &self.model,
            &e,
            batch_size,
            self.saved.multi_label,
            (self.kind, self.vs.device()),
        ))
    }
}

/// Class probabilities for sequences; with `rc_average`, each is averaged with its reverse
/// complement's (a sequence and its reverse complement are the same DNA). A strand-symmetric
/// predictor already gives that mean, so its second pass (half the work) is skipped.
pub fn predict_sequences(
    p: &dyn Predictor,
    seqs: &[Vec<u8>],
    rc_average: bool,
    batch_size: usize,
) -> Result<Vec<Vec<f64>>> {
    let refs: Vec<&[u8]> = seqs.iter().map(Vec::as_slice).collect();
    let mut probs = p.predict(&refs, batch_size)?;
    if rc_average && !p.strand_symmetric() {
        let rc: Vec<Vec<u8>> = seqs
            .iter()
            .map(|s| genolm::genome::nucleotide::reverse_complement(s))
            .collect();
        let refs: Vec<&[u8]> = rc.iter().map(Vec::as_slice).collect();
        super::average_rows(&mut probs, p.predict(&refs, batch_size)?);
    }
    Ok(probs)
}

/// How [`predict_file`] reads and computes.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    pub rc_average: bool,
    pub batch_size: usize,
    /// Sequences held in memory at once (also capped at [`CHUNK_BASES`] bases).
    pub chunk_sequences: usize,
    pub progress: bool,
}

/// Bases read per chunk at most, so a file of long sequences is not read whole either.
pub const CHUNK_BASES: usize = 64 << 20;

/// What [`predict_file`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PredictSummary {
    pub sequences: usize,
    /// Sequences shorter than k (the largest k of an ensemble): they hold no k-mer, so their
    /// probabilities say nothing about them.
    pub shorter_than_k: usize,
    pub first_short: Option<String>,
    /// The whole run: reading, prediction, writing.
    pub seconds: f64,
    /// The part spent predicting (one-hot or k-mer ids, forward passes, probabilities copied
    /// out): what an in-memory loop over the same model times.
    pub compute_seconds: f64,
}

/// Class probabilities for every sequence of a FASTA/GenBank file, written as a predictions TSV.
/// The input is read and predicted chunk by chunk, so memory does not grow with the file; the
/// table appears at `out` only when complete. `stop` (Ctrl-C) is checked between chunks: set, the
/// partial table is removed and the result is [`Error::Cancelled`].
pub fn predict_file(
    p: &dyn Predictor,
    input: &Path,
    out: &Path,
    o: &PredictOptions,
    stop: &AtomicBool,
) -> Result<PredictSummary> {
    let classes = p.classes();
    let k = p.min_len();
    let tap = std::sync::Arc::new(InputTap::default());
    let (_, mut stream) =
        open_records_tapped(input, None, Some(std::sync::Arc::clone(&tap)), io_threads())?;
    let mut file = AtomicFile::create(out).map_err(io_err(out))?;
    file.write_all(predictions_header(classes, false).as_bytes())
        .map_err(io_err(out))?;
    let meta = std::fs::metadata(input).map_err(io_err(input))?;
    let size = meta.is_file().then_some(meta.len());
    let bar = genolm::progress::Progress::bytes_with_bp(size, "predict", o.progress);
    let started = Instant::now();
    let mut s = PredictSummary {
        sequences: 0,
        shorter_than_k: 0,
        first_short: None,
        seconds: 0.0,
        compute_seconds: 0.0,
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled {
                path: out.to_path_buf(),
            });
        }
        let chunk =
            genolm::genome::fasta::read_batch(&mut *stream, o.chunk_sequences.max(1), CHUNK_BASES)?;
        if chunk.is_empty() {
            break;
        }
        let (ids, seqs): (Vec<String>, Vec<Vec<u8>>) = chunk.into_iter().unzip();
        for (id, seq) in ids.iter().zip(&seqs) {
            if seq.len() < k {
                s.shorter_than_k += 1;
                s.first_short.get_or_insert_with(|| id.clone());
            }
        }
        let computing = Instant::now();
        let probs = predict_sequences(p, &seqs, o.rc_average, o.batch_size)?;
        s.compute_seconds += computing.elapsed().as_secs_f64();
        file.write_all(prediction_rows(&ids, classes, None, &probs, p.multi_label()).as_bytes())
            .map_err(io_err(out))?;
        s.sequences += ids.len();
        let rate = s.sequences as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_bytes(
            tap.bytes.load(Ordering::Relaxed),
            format!("{} sequences, {rate:.0}/s", s.sequences),
        );
    }
    bar.finish();
    file.commit().map_err(io_err(out))?;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// The data's truth in the model's class order (the data's own order is its first-seen one; a
/// multi-label model reads the data's columns of its labels).
fn truth_in(p: &dyn Predictor, set: &LabelledSet) -> Result<Truth> {
    let classes = p.classes();
    let position = |name: &String, of: &[String], whose: &str| {
        of.iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::Mismatch {
                subject: format!("label {name:?}"),
                found: format!("not one of {whose}"),
                expected: format!("those are {of:?}"),
            })
    };
    match (p.multi_label(), &set.label_sets) {
        (true, Some(sets)) => {
            let cols: Vec<usize> = classes
                .iter()
                .map(|c| position(c, &set.classes, "the data's labels"))
                .collect::<Result<_>>()?;
            Ok(Truth::Labels(
                sets.iter()
                    .map(|f| cols.iter().map(|&c| f[c]).collect())
                    .collect(),
            ))
        }
        (false, None) => Ok(Truth::Classes(
            set.labels
                .iter()
                .map(|&l| position(&set.classes[l as usize], classes, "the model's classes"))
                .map(|i| i.map(|i| i as u32))
                .collect::<Result<_>>()?,
        )),
        (true, None) => Err(Error::Mismatch {
            subject: "the data".into(),
            found: "single-label".into(),
            expected: "a multi-label model needs multi-label data (a table with label_columns)"
                .into(),
        }),
        (false, Some(_)) => Err(Error::Mismatch {
            subject: "the data".into(),
            found: "multi-label (label_columns)".into(),
            expected: "multi-label data needs a multi-label model".into(),
        }),
    }
}

/// Metrics of one classifier or the mean of several on labelled sequences, with the per-sequence
/// probabilities and truth (in the models' class order) they were computed from.
pub struct Evaluation {
    pub report: Report,
    pub truth: Truth,
    pub probs: Vec<Vec<f64>>,
}

/// `genolm classify eval`: trained classifiers (averaged when more than one) on labelled data.
pub fn evaluate_on(p: &dyn Predictor, set: &LabelledSet, batch_size: usize) -> Result<Evaluation> {
    let probs = predict_sequences(p, &set.sequences, false, batch_size)?;
    let truth = truth_in(p, set)?;
    Ok(Evaluation {
        report: truth.report(&probs, p.classes()),
        truth,
        probs,
    })
}
