//! Inference with trained models, through one interface every model family implements.
//!
//! A [`Predictor`] turns sequences into class probabilities. Its [`Featurizer`] (k-mer ids for an
//! AWD-LSTM classifier; one-hot for a CNN later) runs on worker threads beside the model, which
//! stays on its own thread and device. `predict`, `classify eval` and `scan` consume this interface
//! and never name a family; an [`Ensemble`] is one more implementation (the mean of its members).

pub mod cnn;
pub mod predict;
pub mod scan;
pub mod table;
pub mod variants;

use std::any::Any;
use std::sync::Arc;

use crate::train::Result;

/// A model's input made from sequences: opaque to consumers, read back by the predictor.
pub type Features = Box<dyn Any + Send>;

/// Makes a model's input from sequences; cheap to share across threads.
pub trait Featurizer: Send + Sync {
    fn featurize(&self, seqs: &[&[u8]]) -> Features;
}

/// Sequences in, class probabilities out, batched, on the model's device and precision.
pub trait Predictor {
    /// Class names, in the order of each probability row.
    fn classes(&self) -> &[String];
    /// Bases a sequence needs to hold any information for the model (a k-mer model: k).
    fn min_len(&self) -> usize;
    fn featurizer(&self) -> Arc<dyn Featurizer>;
    /// The one length (bases) a fixed-length model reads (a flattening CNN); None: any length.
    fn fixed_len(&self) -> Option<usize> {
        None
    }
    /// Length (bases) of the sequences the model was trained on, when known: the window `scan`
    /// uses by default.
    fn train_len(&self) -> Result<Option<u64>> {
        Ok(None)
    }
    /// The labelled data and split the model was trained on, when it records them.
    fn task(&self) -> Option<crate::config::classify::TaskSource> {
        None
    }
    /// Each class its own yes/no (sigmoid outputs, not summing to 1): a multi-label model.
    fn multi_label(&self) -> bool {
        false
    }
    /// Its predictions already average each sequence with its reverse complement (a CNN with
    /// `rc_average`), so a sequence and its reverse complement get the same probabilities.
    fn strand_symmetric(&self) -> bool {
        false
    }
    /// Probability rows of featurized sequences, in their order.
    fn predict_features(&self, features: Features, batch_size: usize) -> Result<Vec<Vec<f64>>>;

    /// Per-base attributions of each sequence on the strand given ([`crate::interpret::attribution`]).
    fn attributions(
        &self,
        seqs: &[&[u8]],
        o: &crate::interpret::attribution::AttributionOptions,
    ) -> Result<Vec<Vec<f32>>> {
        let _ = (seqs, o);
        Err(crate::train::Error::Setting {
            key: "--model".into(),
            problem: "this model family has no gradient attributions".into(),
        })
    }

    /// Class probabilities of single-base substitutions (position, new base) of `seq`, computed
    /// without predicting each mutant whole, exactly (up to floating-point order). None: the
    /// family has no such path here, and callers predict the mutants whole.
    fn substitution_probs(
        &self,
        seq: &[u8],
        subs: &[(usize, u8)],
        batch_size: usize,
    ) -> Result<Option<Vec<Vec<f64>>>> {
        let _ = (seq, subs, batch_size);
        Ok(None)
    }

    /// [`Self::featurize`] then [`Self::predict_features`], on this thread.
    fn predict(&self, seqs: &[&[u8]], batch_size: usize) -> Result<Vec<Vec<f64>>> {
        self.predict_features(self.featurizer().featurize(seqs), batch_size)
    }
}

/// A [rows, classes] probability tensor as rows of f64, in row order.
pub(crate) fn prob_rows(p: &tch::Tensor) -> Vec<Vec<f64>> {
    let k = p.size()[1].max(1) as usize;
    let flat: Vec<f32> = Vec::try_from(
        p.to_device(tch::Device::Cpu)
            .to_kind(tch::Kind::Float)
            .flatten(0, -1),
    )
    .unwrap_or_default();
    flat.chunks(k)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// `a` becomes the mean of `a` and `b`, row by row (a sequence's two strands).
pub(crate) fn average_rows(a: &mut [Vec<f64>], b: Vec<Vec<f64>>) {
    for (row, other) in a.iter_mut().zip(b) {
        for (x, y) in row.iter_mut().zip(other) {
            *x = (*x + y) / 2.0;
        }
    }
}

/// `a` becomes the mean of `a` and `b` read back to front, row by row: per-base values of the
/// reverse-complement strand put back on the forward one.
pub(crate) fn average_reversed(a: &mut [Vec<f32>], b: Vec<Vec<f32>>) {
    for (row, other) in a.iter_mut().zip(b) {
        for (x, y) in row.iter_mut().zip(other.iter().rev()) {
            *x = (*x + y) / 2.0;
        }
    }
}

/// The reverse complement of `seq` and single-base substitutions (position, new base) as they
/// read on it.
pub(crate) fn substitutions_on_reverse(
    seq: &[u8],
    subs: &[(usize, u8)],
) -> (Vec<u8>, Vec<(usize, u8)>) {
    use genolm::genome::nucleotide::reverse_complement;
    let last = seq.len() - 1;
    let mapped = subs
        .iter()
        .map(|&(i, a)| (last - i, reverse_complement(&[a])[0]))
        .collect();
    (reverse_complement(seq), mapped)
}

/// Several predictors that share their classes, averaged (seeds, directions, k, families).
pub struct Ensemble {
    members: Vec<Box<dyn Predictor>>,
}

impl Ensemble {
    pub fn new(members: Vec<Box<dyn Predictor>>) -> Result<Self> {
        let first = members
            .first()
            .ok_or_else(|| crate::train::Error::Setting {
                key: "--model".into(),
                problem: "no classifier given".into(),
            })?;
        if let Some(m) = members.iter().find(|m| m.classes() != first.classes()) {
            return Err(crate::train::Error::Mismatch {
                subject: "an ensemble (repeated --model)".into(),
                found: format!("classes {:?} and {:?}", first.classes(), m.classes()),
                expected: "its models must share their classes".into(),
            });
        }
        if members
            .iter()
            .any(|m| m.multi_label() != first.multi_label())
        {
            return Err(crate::train::Error::Mismatch {
                subject: "an ensemble (repeated --model)".into(),
                found: "multi-label models (a probability per label) and single-label ones \
                        (probabilities over classes)"
                    .into(),
                expected: "its models must all be one or the other".into(),
            });
        }
        Ok(Self { members })
    }
}

impl Ensemble {
    /// Adds one member's rows to `sum`, each value weighted 1 / members.
    fn add_share(&self, sum: &mut [Vec<f64>], rows: Vec<Vec<f64>>) {
        let n = self.members.len() as f64;
        for (row, p) in sum.iter_mut().zip(rows) {
            for (a, b) in row.iter_mut().zip(p) {
                *a += b / n;
            }
        }
    }
}

struct EnsembleFeaturizer(Vec<Arc<dyn Featurizer>>);

impl Featurizer for EnsembleFeaturizer {
    fn featurize(&self, seqs: &[&[u8]]) -> Features {
        Box::new(
            self.0
                .iter()
                .map(|f| f.featurize(seqs))
                .collect::<Vec<Features>>(),
        )
    }
}

impl Predictor for Ensemble {
    fn classes(&self) -> &[String] {
        self.members[0].classes()
    }

    fn min_len(&self) -> usize {
        self.members.iter().map(|m| m.min_len()).max().unwrap_or(1)
    }

    /// The members' fixed length (a member that reads one length fixes it for all).
    fn fixed_len(&self) -> Option<usize> {
        self.members.iter().find_map(|m| m.fixed_len())
    }

    /// The first member's (members trained on other lengths still scan at one window).
    fn train_len(&self) -> Result<Option<u64>> {
        self.members[0].train_len()
    }

    fn task(&self) -> Option<crate::config::classify::TaskSource> {
        self.members[0].task()
    }

    fn multi_label(&self) -> bool {
        self.members[0].multi_label()
    }

    /// Symmetric only when every member is (one strand-specific member makes the mean specific).
    fn strand_symmetric(&self) -> bool {
        self.members.iter().all(|m| m.strand_symmetric())
    }

    /// The members' mean.
    fn attributions(
        &self,
        seqs: &[&[u8]],
        o: &crate::interpret::attribution::AttributionOptions,
    ) -> Result<Vec<Vec<f32>>> {
        let n = self.members.len() as f32;
        let mut sum: Vec<Vec<f32>> = seqs.iter().map(|s| vec![0.0; s.len()]).collect();
        for m in &self.members {
            for (row, a) in sum.iter_mut().zip(m.attributions(seqs, o)?) {
                for (v, w) in row.iter_mut().zip(a) {
                    *v += w / n;
                }
            }
        }
        Ok(sum)
    }

    /// The members' mean, when every member has a fast path.
    fn substitution_probs(
        &self,
        seq: &[u8],
        subs: &[(usize, u8)],
        batch_size: usize,
    ) -> Result<Option<Vec<Vec<f64>>>> {
        let mut sum = vec![vec![0.0; self.classes().len()]; subs.len()];
        for m in &self.members {
            let Some(probs) = m.substitution_probs(seq, subs, batch_size)? else {
                return Ok(None);
            };
            self.add_share(&mut sum, probs);
        }
        Ok(Some(sum))
    }

    fn featurizer(&self) -> Arc<dyn Featurizer> {
        Arc::new(EnsembleFeaturizer(
            self.members.iter().map(|m| m.featurizer()).collect(),
        ))
    }

    fn predict_features(&self, features: Features, batch_size: usize) -> Result<Vec<Vec<f64>>> {
        let parts = features
            .downcast::<Vec<Features>>()
            .map_err(|_| crate::train::Error::Internal("features of another model".into()))?;
        let mut sum: Option<Vec<Vec<f64>>> = None;
        for (m, f) in self.members.iter().zip(*parts) {
            let probs = m.predict_features(f, batch_size)?;
            let s = sum.get_or_insert_with(|| {
                vec![vec![0.0; probs.first().map_or(0, Vec::len)]; probs.len()]
            });
            self.add_share(s, probs);
        }
        Ok(sum.unwrap_or_default())
    }
}
