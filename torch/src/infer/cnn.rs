//! A trained one-hot CNN as a [`Predictor`]: sequences of the model's input length in, class
//! probabilities out (the mean over both strands unless the run turned `rc_average` off).

use std::path::Path;
use std::sync::Arc;

use tch::{nn, Device, Kind};

use super::{Features, Featurizer, Predictor};
use crate::config::cnn::CnnSpec;
use crate::model::cnn::Cnn;
use crate::modeldir::MODEL_FILE;
use crate::train::cnn::cnn_probs;
use crate::train::{Error, Precision, Result};

pub struct LoadedCnn {
    pub vs: nn::VarStore,
    pub model: Cnn,
    pub spec: CnnSpec,
    pub(crate) kind: Kind,
}

pub fn load_cnn(dir: &Path, device: Device, precision: Precision) -> Result<LoadedCnn> {
    let spec = CnnSpec::read(dir)?;
    crate::modeldir::check_buildable(dir, || Ok(spec.model.validate()?))?;
    let mut vs = nn::VarStore::new(device);
    let model = Cnn::new(&vs.root(), &spec.model, spec.classes.len() as i64);
    crate::train::load_weights(&mut vs, &dir.join(MODEL_FILE))?;
    // Inference only: attributions then differentiate the input alone.
    vs.freeze();
    Ok(LoadedCnn {
        vs,
        model,
        spec,
        kind: precision.kind(device)?,
    })
}

impl LoadedCnn {
    fn check_lengths(&self, seqs: &[&[u8]]) -> Result<()> {
        let len = self.spec.model.input_len;
        match seqs.iter().find(|s| s.len() as i64 != len) {
            Some(s) => Err(wrong_length("a sequence".into(), s.len(), len)),
            None => Ok(()),
        }
    }
}

/// A sequence (`what`) of `got` bases where a CNN reads exactly `len`.
pub(crate) fn wrong_length(what: String, got: usize, len: i64) -> Error {
    Error::Mismatch {
        subject: what,
        found: format!("{got} bases"),
        expected: format!(
            "this CNN reads exactly {len} (its model.input_len): cut the sequences to that length"
        ),
    }
}

/// The first of `set`'s sequences that is not `len` bases long, named, from `data`.
pub(crate) fn check_set_lengths(
    set: &genolm::corpus::labelled::LabelledSet,
    len: i64,
    data: &str,
) -> Result<()> {
    match set.sequences.iter().position(|s| s.len() as i64 != len) {
        Some(i) => Err(wrong_length(
            format!("{data}: sequence {:?}", set.ids[i]),
            set.sequences[i].len(),
            len,
        )),
        None => Ok(()),
    }
}

/// The sequences as they are: the one-hot code is made beside the model, batch by batch.
struct Sequences;

impl Featurizer for Sequences {
    fn featurize(&self, seqs: &[&[u8]]) -> Features {
        Box::new(seqs.iter().map(|s| s.to_vec()).collect::<Vec<Vec<u8>>>())
    }
}

impl Predictor for LoadedCnn {
    fn classes(&self) -> &[String] {
        &self.spec.classes
    }

    fn min_len(&self) -> usize {
        self.spec.model.input_len as usize
    }

    fn fixed_len(&self) -> Option<usize> {
        Some(self.spec.model.input_len as usize)
    }

    fn train_len(&self) -> Result<Option<u64>> {
        Ok(Some(self.spec.model.input_len as u64))
    }

    fn featurizer(&self) -> Arc<dyn Featurizer> {
        Arc::new(Sequences)
    }

    fn task(&self) -> Option<crate::config::classify::TaskSource> {
        Some(self.spec.config.task_source())
    }

    fn multi_label(&self) -> bool {
        self.spec.multi_label
    }

    fn strand_symmetric(&self) -> bool {
        self.spec.config.train.rc_average
    }

    fn attributions(
        &self,
        seqs: &[&[u8]],
        o: &crate::interpret::attribution::AttributionOptions,
    ) -> Result<Vec<Vec<f32>>> {
        self.check_lengths(seqs)?;
        crate::interpret::cnn::attributions(self, seqs, o)
    }

    fn substitution_probs(
        &self,
        seq: &[u8],
        subs: &[(usize, u8)],
        batch_size: usize,
    ) -> Result<Option<Vec<Vec<f64>>>> {
        self.check_lengths(&[seq])?;
        Ok(Some(crate::interpret::cnn::substitution_probs(
            self, seq, subs, batch_size,
        )))
    }

    fn predict_features(&self, features: Features, batch_size: usize) -> Result<Vec<Vec<f64>>> {
        let seqs = features
            .downcast::<Vec<Vec<u8>>>()
            .map_err(|_| Error::Internal("features of another model".into()))?;
        let refs: Vec<&[u8]> = seqs.iter().map(Vec::as_slice).collect();
        self.check_lengths(&refs)?;
        Ok(cnn_probs(
            &self.model,
            &refs,
            batch_size,
            self.spec.config.train.rc_average,
            self.spec.multi_label,
            self.kind,
            self.vs.device(),
        ))
    }
}
