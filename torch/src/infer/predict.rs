//! Class probabilities from trained classifiers: batched, frame-averaged, optionally
//! reverse-complement-averaged, one model or the mean of several.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::{nn, Device, Kind};

use crate::model::classifier::Classifier;
use crate::train::classify::data::{batch, Encoded};
use crate::train::classify::{prediction_rows, predictions_header, SavedClassifier};
use crate::train::{io_err, Error, Precision, Result};
use genolm::corpus::labelled::LabelledSet;
use genolm::eval::metrics::{self, Report};
use genolm::fsutil::AtomicFile;
use genolm::genome::open::{io_threads, open_records_tapped, InputTap};
use genolm::tokenize::{hf, KmerTokenizer, PAD_ID};

/// Class probabilities for every row, in row order: the mean over the rows' k-mer frames.
pub(crate) fn encoded_probs(
    clf: &Classifier,
    e: &Encoded,
    bs: usize,
    kind: Kind,
    device: Device,
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
            let p = clf
                .forward_with(&encoder, &x, i64::from(PAD_ID), false, kind)
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
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

/// A trained classifier loaded from its directory.
pub struct LoadedClassifier {
    pub vs: nn::VarStore,
    pub model: Classifier,
    pub tokenizer: KmerTokenizer,
    pub saved: SavedClassifier,
}

pub fn load_classifier(dir: &Path, device: Device) -> Result<LoadedClassifier> {
    let saved = SavedClassifier::read(dir)?;
    let tokenizer = hf::load(dir)?;
    let mut vs = nn::VarStore::new(device);
    let model = Classifier::new(
        &vs.root(),
        tokenizer.vocab_size() as i64,
        &saved.encoder,
        &saved.head,
        saved.classes.len() as i64,
    );
    vs.load(dir.join(crate::train::lm::MODEL_FILE))?;
    Ok(LoadedClassifier {
        vs,
        model,
        tokenizer,
        saved,
    })
}

/// Several classifiers (an ensemble), in the order given.
pub fn load_classifiers(dirs: &[PathBuf], device: Device) -> Result<Vec<LoadedClassifier>> {
    dirs.iter().map(|d| load_classifier(d, device)).collect()
}

/// Class probabilities for sequences, averaged over their k-mer frames when the classifier was
/// trained on all of them; with `rc_average`, each is also averaged with its reverse complement's
/// (a sequence and its reverse complement are the same DNA).
pub fn predict_sequences(
    m: &LoadedClassifier,
    seqs: &[Vec<u8>],
    rc_average: bool,
    batch_size: usize,
    kind: Kind,
) -> Vec<Vec<f64>> {
    let device = m.vs.device();
    let n_frames = m.saved.config.train.n_frames(&m.tokenizer);
    let unlabelled = |seqs: &[Vec<u8>]| {
        let e = Encoded::new(
            &m.tokenizer,
            seqs.iter().map(Vec::as_slice),
            vec![0; seqs.len()],
            n_frames,
            m.saved.encoder.backwards,
        );
        encoded_probs(&m.model, &e, batch_size, kind, device)
    };
    let mut probs = unlabelled(seqs);
    if rc_average {
        let rc: Vec<Vec<u8>> = seqs
            .iter()
            .map(|s| genolm::genome::nucleotide::reverse_complement(s))
            .collect();
        for (p, q) in probs.iter_mut().zip(unlabelled(&rc)) {
            for (a, b) in p.iter_mut().zip(q) {
                *a = (*a + b) / 2.0;
            }
        }
    }
    probs
}

/// Mean class probabilities of several classifiers (an ensemble; one model is the plain case).
/// Each reads the sequences with its own tokenizer, so models of different k or direction combine;
/// all must share the class list, in the same order.
pub fn ensemble_probs(
    models: &[LoadedClassifier],
    seqs: &[Vec<u8>],
    rc_average: bool,
    batch_size: usize,
    precision: Precision,
) -> Result<Vec<Vec<f64>>> {
    let first = models
        .first()
        .ok_or_else(|| Error::Invalid("no classifier given".into()))?;
    if let Some(m) = models
        .iter()
        .find(|m| m.saved.classes != first.saved.classes)
    {
        return Err(Error::Invalid(format!(
            "classifiers of an ensemble must share their classes: {:?} vs {:?}",
            first.saved.classes, m.saved.classes
        )));
    }
    let mut sum = vec![vec![0.0; first.saved.classes.len()]; seqs.len()];
    for m in models {
        let kind = precision.kind(m.vs.device())?;
        let probs = predict_sequences(m, seqs, rc_average, batch_size, kind);
        for (s, p) in sum.iter_mut().zip(probs) {
            for (a, b) in s.iter_mut().zip(p) {
                *a += b / models.len() as f64;
            }
        }
    }
    Ok(sum)
}

/// How [`predict_file`] reads and computes.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    pub rc_average: bool,
    pub batch_size: usize,
    pub precision: Precision,
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
    pub seconds: f64,
}

/// Class probabilities for every sequence of a FASTA/GenBank file, written as a predictions TSV.
/// The input is read and predicted chunk by chunk, so memory does not grow with the file; the
/// table appears at `out` only when complete. `stop` (Ctrl-C) is checked between chunks: set, the
/// partial table is removed and the result is [`Error::Cancelled`].
pub fn predict_file(
    models: &[LoadedClassifier],
    input: &Path,
    out: &Path,
    o: &PredictOptions,
    stop: &AtomicBool,
) -> Result<PredictSummary> {
    let first = models
        .first()
        .ok_or_else(|| Error::Invalid("no classifier given".into()))?;
    let classes = &first.saved.classes;
    let k = models.iter().map(|m| m.tokenizer.k()).max().unwrap_or(1);
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
        let probs = ensemble_probs(models, &seqs, o.rc_average, o.batch_size, o.precision)?;
        file.write_all(prediction_rows(&ids, classes, None, &probs).as_bytes())
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

/// The data's class indices follow its own first-seen order: maps them onto the model's classes.
fn labels_in(classes: &[String], set: &LabelledSet) -> Result<Vec<u32>> {
    set.labels
        .iter()
        .map(|&l| {
            let name = &set.classes[l as usize];
            classes
                .iter()
                .position(|c| c == name)
                .map(|i| i as u32)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "label {name:?} is not one of the model's classes {classes:?}"
                    ))
                })
        })
        .collect()
}

/// Metrics of one classifier or the mean of several on labelled sequences, with the per-sequence
/// probabilities and labels (in the models' class order) they were computed from.
pub struct Evaluation {
    pub report: Report,
    pub labels: Vec<u32>,
    pub probs: Vec<Vec<f64>>,
}

/// `genolm classify eval`: trained classifiers (averaged when more than one) on labelled data.
pub fn evaluate_on(
    models: &[LoadedClassifier],
    set: &LabelledSet,
    batch_size: usize,
    precision: Precision,
) -> Result<Evaluation> {
    let probs = ensemble_probs(models, &set.sequences, false, batch_size, precision)?;
    let classes = &models[0].saved.classes;
    let labels = labels_in(classes, set)?;
    Ok(Evaluation {
        report: metrics::report(&labels, &probs, classes),
        labels,
        probs,
    })
}
