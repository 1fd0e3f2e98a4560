//! Labelled sequences as the classifier reads them: k-mer ids per frame, padded batches, fastai's
//! sortish order, the task's splits.

use std::path::Path;

use tch::{Device, Tensor};

use crate::config::classify::ClassifyConfig;
use crate::train::{io_err, Error, Result};
use genolm::corpus::labelled::{LabelledSet, SetSplit};
use genolm::eval::metrics::Truth;
use genolm::fsutil::write_atomic;
use genolm::rng::SplitMix64;
use genolm::tokenize::{hf, KmerSpec, KmerTokenizer, PAD_ID, UNK_ID};

/// Token ids of sequences in each k-mer frame: with stride s > 1 a sequence has s readings, from
/// base 0, 1, ..., s - 1 (`frames[f][row]`; frame 0 is the usual one). A backward encoder reads
/// each row's ids last to first.
pub(crate) struct Encoded {
    pub(crate) frames: Vec<Vec<Vec<i64>>>,
    /// Each row's class, or its labels (multi-label data).
    pub(crate) truth: Truth,
}

impl Encoded {
    pub(crate) fn new<'a>(
        tok: &KmerTokenizer,
        seqs: impl Iterator<Item = &'a [u8]>,
        truth: Truth,
        n_frames: usize,
        backwards: bool,
    ) -> Self {
        let seqs: Vec<&[u8]> = seqs.collect();
        let frames = (0..n_frames.max(1))
            .map(|f| {
                seqs.iter()
                    .map(|s| {
                        let mut ids: Vec<i64> = tok
                            .encode(&s[f.min(s.len())..])
                            .into_iter()
                            .map(i64::from)
                            .collect();
                        if backwards {
                            ids.reverse();
                        }
                        // Shorter than k: one unknown token, so that every row has a length.
                        if ids.is_empty() {
                            vec![i64::from(UNK_ID)]
                        } else {
                            ids
                        }
                    })
                    .collect()
            })
            .collect();
        Self { frames, truth }
    }

    pub(crate) fn len(&self) -> usize {
        self.truth.len()
    }
}

pub(crate) fn select(
    set: &LabelledSet,
    tok: &KmerTokenizer,
    which: SetSplit,
    n_frames: usize,
    backwards: bool,
) -> Encoded {
    let rows = set.rows_in(which);
    Encoded::new(
        tok,
        rows.iter().map(|&i| set.sequences[i].as_slice()),
        set.truth_of(&rows),
        n_frames,
        backwards,
    )
}

/// Right-padded batch of the given rows, each read in the frame `frame_of(row)`, longest first (the
/// order the classifier reads chunks in); returns the rows in that order with the tensors.
pub(crate) fn batch(
    e: &Encoded,
    rows: &[usize],
    frame_of: impl Fn(usize) -> usize,
    device: Device,
) -> (Tensor, Tensor, Vec<usize>) {
    let ids = |r: usize| &e.frames[frame_of(r)][r];
    let mut rows = rows.to_vec();
    rows.sort_by_key(|&r| std::cmp::Reverse(ids(r).len()));
    let len = rows.first().map(|&r| ids(r).len()).unwrap_or(1);
    let mut flat = vec![i64::from(PAD_ID); rows.len() * len];
    for (b, &r) in rows.iter().enumerate() {
        let ids = ids(r);
        flat[b * len..b * len + ids.len()].copy_from_slice(ids);
    }
    let x = Tensor::from_slice(&flat)
        .view([rows.len() as i64, len as i64])
        .to_device(device);
    let y = match &e.truth {
        Truth::Classes(c) => {
            Tensor::from_slice(&rows.iter().map(|&r| i64::from(c[r])).collect::<Vec<_>>())
        }
        // Multi-label: a 0/1 float per label, as binary cross-entropy takes them.
        Truth::Labels(l) => {
            let k = l.first().map_or(0, Vec::len);
            let flat: Vec<f32> = rows
                .iter()
                .flat_map(|&r| l[r].iter().map(|&b| f32::from(u8::from(b))))
                .collect();
            Tensor::from_slice(&flat).view([rows.len() as i64, k as i64])
        }
    }
    .to_device(device);
    (x, y, rows)
}

/// fastai's SortishSampler: shuffle, sort by length within chunks of 50 batches, shuffle batches.
pub(crate) fn sortish_batches(e: &Encoded, bs: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..e.len()).collect();
    rng.shuffle(&mut idx);
    let mut batches = Vec::new();
    for chunk in idx.chunks(bs * 50) {
        let mut c = chunk.to_vec();
        c.sort_by_key(|&i| std::cmp::Reverse(e.frames[0][i].len()));
        batches.extend(c.chunks(bs).map(|b| b.to_vec()));
    }
    rng.shuffle(&mut batches);
    batches.retain(|b| b.len() > 1); // BatchNorm needs two samples in training
    batches
}

pub(crate) fn tokenizer_for(cfg: &ClassifyConfig) -> Result<KmerTokenizer> {
    if let Some(lm) = &cfg.lm {
        return Ok(hf::load(lm)?);
    }
    if let Some(t) = &cfg.tokenizer {
        return Ok(hf::load(t)?);
    }
    match (cfg.k, cfg.stride) {
        (Some(k), Some(s)) => Ok(KmerTokenizer::complete(KmerSpec::new(k, s)?)),
        _ => Err(Error::Setting {
            key: "lm, tokenizer, k and stride".into(),
            problem: "give `lm` (a language-model dir), `tokenizer`, or `k` and `stride`".into(),
        }),
    }
}

/// Median length (bases) of the rows of one split.
pub(crate) fn median_length(set: &LabelledSet, which: SetSplit) -> u64 {
    let mut lens: Vec<u64> = set
        .rows_in(which)
        .into_iter()
        .map(|i| set.sequences[i].len() as u64)
        .collect();
    lens.sort_unstable();
    lens.get(lens.len() / 2).copied().unwrap_or(0)
}

pub(crate) fn load_splits(cfg: &ClassifyConfig) -> Result<LabelledSet> {
    load_task(&cfg.data, cfg.classes.as_deref(), &cfg.split)
}

/// A task's labelled sequences, classes in the configured order, split as configured (or as the
/// data says): the same rows every time for the same config, whatever the model family.
pub(crate) fn load_task(
    data: &genolm::corpus::labelled::LabelledSource,
    classes: Option<&[String]>,
    split: &crate::config::classify::SplitConfig,
) -> Result<LabelledSet> {
    let mut set = data.load()?;
    if let Some(order) = classes {
        set.order_classes(order)?;
    }
    if set.splits.is_none() {
        set.split_stratified(split.valid_frac, split.test_frac, split.seed);
    }
    Ok(set)
}

/// Batch order of one epoch: a function of (seed, stage, epoch) alone, so a resumed run replays it.
pub fn epoch_rng(seed: u64, stage: usize, epoch: u64) -> SplitMix64 {
    let mut mix = SplitMix64::new(seed ^ ((stage as u64) << 32) ^ epoch);
    SplitMix64::new(mix.next_u64())
}

/// Writes the training and validation sequences of a task (never its test split) as FASTA, for
/// fine-tuning a language model on the target domain; returns how many.
pub fn write_lm_sequences(cfg: &ClassifyConfig, path: &Path) -> Result<usize> {
    let set = load_splits(cfg)?;
    let splits = set.splits.as_ref().expect("splits assigned");
    let mut text = Vec::new();
    let mut n = 0;
    for i in (0..set.len()).filter(|&i| splits[i] != SetSplit::Test) {
        text.extend_from_slice(format!(">{}\n", set.ids[i]).as_bytes());
        text.extend_from_slice(&set.sequences[i]);
        text.push(b'\n');
        n += 1;
    }
    write_atomic(path, &text).map_err(io_err(path))?;
    Ok(n)
}

/// The rows of a classifier's training data in one split, exactly as training drew them (same
/// data, class order and split seed): e.g. the test set, to evaluate models trained on it.
pub fn task_split(
    task: &crate::config::classify::TaskSource,
    which: SetSplit,
) -> Result<LabelledSet> {
    let set = load_task(&task.data, task.classes.as_deref(), &task.split)?;
    Ok(set.subset(&set.rows_in(which)))
}
