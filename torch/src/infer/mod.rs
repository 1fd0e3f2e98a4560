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

    /// [`Self::featurize`] then [`Self::predict_features`], on this thread.
    fn predict(&self, seqs: &[&[u8]], batch_size: usize) -> Result<Vec<Vec<f64>>> {
        self.predict_features(self.featurizer().featurize(seqs), batch_size)
    }
}

/// Several predictors that share their classes, averaged (seeds, directions, k, families).
pub struct Ensemble {
    members: Vec<Box<dyn Predictor>>,
}

impl Ensemble {
    pub fn new(members: Vec<Box<dyn Predictor>>) -> Result<Self> {
        let first = members
            .first()
            .ok_or_else(|| crate::train::Error::Invalid("no classifier given".into()))?;
        if let Some(m) = members.iter().find(|m| m.classes() != first.classes()) {
            return Err(crate::train::Error::Invalid(format!(
                "classifiers of an ensemble must share their classes: {:?} vs {:?}",
                first.classes(),
                m.classes()
            )));
        }
        if members
            .iter()
            .any(|m| m.multi_label() != first.multi_label())
        {
            return Err(crate::train::Error::Invalid(
                "an ensemble cannot mix multi-label models (a probability per label) with \
                 single-label ones (probabilities over classes)"
                    .into(),
            ));
        }
        Ok(Self { members })
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

    fn featurizer(&self) -> Arc<dyn Featurizer> {
        Arc::new(EnsembleFeaturizer(
            self.members.iter().map(|m| m.featurizer()).collect(),
        ))
    }

    fn predict_features(&self, features: Features, batch_size: usize) -> Result<Vec<Vec<f64>>> {
        let parts = features
            .downcast::<Vec<Features>>()
            .map_err(|_| crate::train::Error::Invalid("features of another model".into()))?;
        let n = self.members.len() as f64;
        let mut sum: Option<Vec<Vec<f64>>> = None;
        for (m, f) in self.members.iter().zip(*parts) {
            let probs = m.predict_features(f, batch_size)?;
            match &mut sum {
                None => {
                    sum = Some(
                        probs
                            .into_iter()
                            .map(|p| p.into_iter().map(|v| v / n).collect())
                            .collect(),
                    )
                }
                Some(s) => {
                    for (row, p) in s.iter_mut().zip(probs) {
                        for (a, b) in row.iter_mut().zip(p) {
                            *a += b / n;
                        }
                    }
                }
            }
        }
        Ok(sum.unwrap_or_default())
    }
}
