//! ULMFiT's classifier: the AWD-LSTM encoder read in BPTT chunks (state carried, as fastai's
//! MultiBatchEncoder) and PoolingLinearClassifier on [last hidden, max-pool, mean-pool] over the
//! non-pad positions of the last `max_len` tokens.
//!
//! Tensor names: `encoder.*` as in [`super::awd_lstm`] (so an LM's encoder loads by name), and the head
//! numbered as fastai's `layers`: `head.0` BatchNorm(3*emb), `head.2` Linear(3*emb, lin),
//! `head.4` BatchNorm(lin), `head.6` Linear(lin, n_classes) (1, 3, 5 are dropout and ReLU).

use tch::nn;
use tch::{Kind, Tensor};

use super::awd_lstm::{AwdLstm, AwdLstmConfig, Hidden};
use super::dropout::dropout;
use crate::train::freeze::LayerGroup;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    /// Hidden width of the head.
    #[serde(default = "d_lin")]
    pub lin_size: i64,
    /// Dropout before the first linear layer and before the last; absent: fastai's
    /// (0.4 x drop_mult, 0.1).
    #[serde(default)]
    pub ps: Option<(f64, f64)>,
    /// Tokens per encoder chunk (BPTT).
    #[serde(default = "d_bptt")]
    pub bptt: i64,
    /// Pool over at most the last `max_len` tokens.
    #[serde(default = "d_max_len")]
    pub max_len: i64,
}

fn d_lin() -> i64 {
    50
}
fn d_bptt() -> i64 {
    70
}
fn d_max_len() -> i64 {
    20 * 70
}

impl HeadConfig {
    /// The head's dropouts: as configured, or fastai's (output_p 0.4 x drop_mult, 0.1).
    pub fn dropouts(&self, drop_mult: f64) -> (f64, f64) {
        self.ps.unwrap_or((0.4 * drop_mult, 0.1))
    }
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            lin_size: d_lin(),
            ps: None,
            bptt: d_bptt(),
            max_len: d_max_len(),
        }
    }
}

pub struct Classifier {
    pub encoder: AwdLstm,
    bn0: nn::BatchNorm,
    lin0: nn::Linear,
    bn1: nn::BatchNorm,
    lin1: nn::Linear,
    pub head: HeadConfig,
    pub n_classes: i64,
}

impl Classifier {
    pub fn new(
        root: &nn::Path,
        vocab: i64,
        enc: &AwdLstmConfig,
        head: &HeadConfig,
        n_classes: i64,
    ) -> Self {
        let encoder = AwdLstm::new(&(root / "encoder"), vocab, enc);
        let h = root / "head";
        let feat = 3 * enc.emb_size;
        Self {
            encoder,
            bn0: nn::batch_norm1d(&h / 0, feat, Default::default()),
            lin0: nn::linear(&h / 2, feat, head.lin_size, Default::default()),
            bn1: nn::batch_norm1d(&h / 4, head.lin_size, Default::default()),
            lin1: nn::linear(&h / 6, head.lin_size, n_classes, Default::default()),
            head: head.clone(),
            n_classes,
        }
    }

    /// Layer groups, first to last: embedding, each LSTM layer, the head (name prefixes).
    pub fn layer_groups(&self) -> Vec<LayerGroup> {
        let mut g = self.encoder.layer_groups();
        g.push(LayerGroup::new("head", &["head."]));
        g
    }

    /// Logits [batch, n_classes] for right-padded token ids [batch, seq] (`pad_id` after each
    /// sequence, never inside one). Each sequence is read from a zero state in BPTT chunks; a chunk
    /// runs only the rows still reading (rows sorted by decreasing length make them a prefix, as
    /// fastai's SentenceEncoder arranges), so padding never touches a sequence's state and a
    /// sequence's prediction does not depend on the others in its batch.
    pub fn forward(&self, tokens: &Tensor, pad_id: i64, train: bool, kind: Kind) -> Tensor {
        self.forward_with(&self.encoder, tokens, pad_id, train, kind)
    }

    /// [`Self::forward`] through `encoder` in place of the model's own: the same weights, e.g.
    /// cast once for a whole prediction run ([`AwdLstm::cast_for_inference`]).
    pub fn forward_with(
        &self,
        encoder: &AwdLstm,
        tokens: &Tensor,
        pad_id: i64,
        train: bool,
        kind: Kind,
    ) -> Tensor {
        let lens: Vec<i64> = Vec::try_from(
            tokens
                .ne(pad_id)
                .sum_dim_intlist([1].as_slice(), false, Kind::Int64)
                .clamp_min(1)
                .to_device(tch::Device::Cpu),
        )
        .expect("lengths");
        self.forward_input(encoder, EncoderInput::Ids(tokens), &lens, train, kind)
    }

    /// Logits of right-padded rows of `lens[i]` tokens each, given as ids or as embedding vectors
    /// (what attributions differentiate), each read from a zero state.
    pub fn forward_input(
        &self,
        encoder: &AwdLstm,
        input: EncoderInput,
        lens: &[i64],
        train: bool,
        kind: Kind,
    ) -> Tensor {
        let seq = input.len();
        let hidden = encoder.zero_hidden(input.rows(), kind);
        let (output, keep_from) = self.read(encoder, input, lens, hidden, None, train, kind);
        let (last, max_pool, mean_pool) = if lens.iter().all(|&l| l == seq) {
            // No padding (fixed-length windows, the common case): every kept position counts.
            let mean = output.mean_dim([1].as_slice(), false, Kind::Float);
            (
                output.select(1, -1),
                output.amax([1].as_slice(), false),
                mean,
            )
        } else {
            masked_pools(&output, lens, keep_from, seq, self.head.max_len)
        };
        self.head_logits(&last, &max_pool, &mean_pool, train)
    }

    /// The last layer's outputs (fp32) of right-padded rows read from `hidden` in BPTT chunks,
    /// from the earliest position any row pools over (returned with them). A chunk runs only the
    /// rows still reading (rows sorted by decreasing length make them a prefix, as fastai's
    /// SentenceEncoder arranges), so padding never touches a row's state. `chunk` overrides the
    /// chunk length: short chunks drop finished rows sooner (rows of very different lengths).
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        &self,
        encoder: &AwdLstm,
        input: EncoderInput,
        lens: &[i64],
        mut hidden: Hidden,
        chunk: Option<i64>,
        train: bool,
        kind: Kind,
    ) -> (Tensor, i64) {
        let (bs, seq) = (input.rows(), input.len());
        let sorted = lens.windows(2).all(|w| w[0] >= w[1]);
        // Pool over the last `max_len` tokens of each row: keep the outputs from the earliest start.
        let keep_from = lens
            .iter()
            .map(|&l| (l - self.head.max_len).max(0))
            .min()
            .unwrap_or(0);
        // Without dropout, chunks only bound memory (the state carries over exactly), so inference
        // reads twice as far per call: a 73-token window is then one oneDNN call, not 70 + 3 (each
        // call re-lays out the weights).
        let chunk = match chunk {
            Some(c) => c.max(1),
            None if train => self.head.bptt,
            None => 2 * self.head.bptt,
        };
        let mut kept = Vec::new();
        let mut start = 0;
        while start < seq {
            let len = chunk.min(seq - start);
            let active = if sorted {
                lens.iter().filter(|&&l| l > start).count() as i64
            } else {
                bs
            };
            let state: Hidden = hidden
                .iter()
                .map(|(h, c)| (h.narrow(1, 0, active), c.narrow(1, 0, active)))
                .collect();
            let out = match input {
                EncoderInput::Ids(t) => {
                    let chunk = t.narrow(0, 0, active).narrow(1, start, len);
                    encoder.forward(&chunk, &state, train, kind)
                }
                EncoderInput::Embedded(x) => {
                    let chunk = x.narrow(0, 0, active).narrow(1, start, len);
                    encoder.forward_embedded(&chunk, &state, train, kind)
                }
            };
            hidden = out.hidden;
            if start + len > keep_from {
                let from = (keep_from - start).max(0);
                let mut o = out.output.narrow(1, from, len - from).to_kind(Kind::Float);
                if active < bs {
                    let size = o.size();
                    let rest =
                        Tensor::zeros([bs - active, size[1], size[2]], (Kind::Float, o.device()));
                    o = Tensor::cat(&[o, rest], 0);
                }
                kept.push(o);
            }
            start += len;
        }
        (Tensor::cat(&kept, 1), keep_from)
    }

    /// The head (PoolingLinearClassifier) on the pooled features: logits [batch, n_classes].
    pub fn head_logits(
        &self,
        last: &Tensor,
        max_pool: &Tensor,
        mean_pool: &Tensor,
        train: bool,
    ) -> Tensor {
        let x = Tensor::cat(&[last, max_pool, mean_pool], 1);
        let ps = self.head.dropouts(self.encoder.config.drop_mult);
        let x = dropout(&super::norm::batch_norm(&self.bn0, &x, train), ps.0, train);
        let x = x.apply(&self.lin0).relu();
        let x = dropout(&super::norm::batch_norm(&self.bn1, &x, train), ps.1, train);
        x.apply(&self.lin1)
    }
}

/// What the encoder reads: token ids [batch, seq], or their embedding vectors [batch, seq, emb].
#[derive(Clone, Copy)]
pub enum EncoderInput<'a> {
    Ids(&'a Tensor),
    Embedded(&'a Tensor),
}

impl EncoderInput<'_> {
    fn rows(&self) -> i64 {
        match self {
            EncoderInput::Ids(t) | EncoderInput::Embedded(t) => t.size()[0],
        }
    }

    fn len(&self) -> i64 {
        match self {
            EncoderInput::Ids(t) | EncoderInput::Embedded(t) => t.size()[1],
        }
    }
}

/// Last, max and mean over each row's real positions among the kept ones (from `keep_from`, the
/// last `max_len` of its `lens[i]` tokens), padding excluded.
fn masked_pools(
    output: &Tensor,
    lens: &[i64],
    keep_from: i64,
    seq: i64,
    max_len: i64,
) -> (Tensor, Tensor, Tensor) {
    let device = output.device();
    let (bs, emb) = (output.size()[0], output.size()[2]);
    let lens_t = Tensor::from_slice(lens).to_device(device).unsqueeze(1);
    let pos = Tensor::arange_start(keep_from, seq, (Kind::Int64, device)).unsqueeze(0);
    let outside = pos
        .ge_tensor(&lens_t)
        .logical_or(&pos.lt_tensor(&(&lens_t - max_len)))
        .unsqueeze(-1);
    let last = output
        .gather(
            1,
            &(&lens_t - 1 - keep_from)
                .unsqueeze(-1)
                .expand([bs, 1, emb], false),
            false,
        )
        .squeeze_dim(1);
    let max_pool = output
        .masked_fill(&outside, f64::NEG_INFINITY)
        .amax([1].as_slice(), false);
    let n_real = outside
        .logical_not()
        .sum_dim_intlist([1].as_slice(), false, Kind::Float)
        .clamp_min(1.0);
    let mean_pool =
        output
            .masked_fill(&outside, 0.0)
            .sum_dim_intlist([1].as_slice(), false, Kind::Float)
            / n_real;
    (last, max_pool, mean_pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpadded_pools_equal_the_masked_ones() {
        tch::manual_seed(3);
        let output = Tensor::randn([4, 9, 5], (Kind::Float, tch::Device::Cpu));
        let fast = (
            output.select(1, -1),
            output.amax([1].as_slice(), false),
            output.mean_dim([1].as_slice(), false, Kind::Float),
        );
        // Rows of 9 tokens, pooled over the last 9 of them (max_len 20 or exactly 9).
        for max_len in [20, 9] {
            let masked = masked_pools(&output, &[9, 9, 9, 9], 0, 9, max_len);
            assert!(fast.0.allclose(&masked.0, 1e-6, 1e-6, false));
            assert!(fast.1.allclose(&masked.1, 1e-6, 1e-6, false));
            assert!(fast.2.allclose(&masked.2, 1e-6, 1e-6, false));
        }
        // With padding the masked pools differ: row 1 has 5 real tokens.
        let padded = masked_pools(&output, &[9, 5, 9, 9], 0, 9, 20);
        assert!(!fast.2.allclose(&padded.2, 1e-6, 1e-6, false));
        let row1 = output.get(1).narrow(0, 0, 5);
        assert!(padded.2.get(1).allclose(
            &row1.mean_dim([0].as_slice(), false, Kind::Float),
            1e-6,
            1e-6,
            false
        ));
        assert!(padded
            .0
            .get(1)
            .allclose(&output.get(1).get(4), 1e-6, 1e-6, false));
    }

    fn tiny() -> AwdLstmConfig {
        AwdLstmConfig {
            emb_size: 8,
            hidden_size: 12,
            n_layers: 2,
            ..Default::default()
        }
    }

    #[test]
    fn test_shapes_chunks_and_padding() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let head = HeadConfig {
            bptt: 5,
            max_len: 12,
            ..Default::default()
        };
        let mut clf = Classifier::new(&vs.root(), 20, &tiny(), &head, 3);
        let tokens = Tensor::randint_low(2, 20, [4, 23], (Kind::Int64, tch::Device::Cpu));
        let logits = clf.forward(&tokens, 0, false, Kind::Float);
        assert_eq!(logits.size(), vec![4, 3]);
        // Eval mode is deterministic, and chunking does not change the result: one chunk of 23 or five.
        let again = clf.forward(&tokens, 0, false, Kind::Float);
        assert!(logits.allclose(&again, 1e-6, 1e-6, false));
        clf.head.bptt = 100;
        let one_chunk = clf.forward(&tokens, 0, false, Kind::Float);
        assert!(
            logits.allclose(&one_chunk, 1e-5, 1e-5, false),
            "state carried across chunks"
        );
        // Padding never reaches a sequence: a short sequence scores the same alone, right-padded in
        // a batch with a longer one (sorted: its chunks skip it once it ends), or unsorted.
        clf.head.bptt = 5;
        let long = tokens.narrow(0, 0, 1);
        let short = tokens.narrow(0, 1, 1).narrow(1, 0, 9);
        let alone = clf.forward(&short, 0, false, Kind::Float);
        let padded = Tensor::cat(
            &[
                short.shallow_clone(),
                Tensor::zeros([1, 14], (Kind::Int64, tch::Device::Cpu)),
            ],
            1,
        );
        let sorted = clf.forward(&Tensor::cat(&[&long, &padded], 0), 0, false, Kind::Float);
        let unsorted = clf.forward(&Tensor::cat(&[&padded, &long], 0), 0, false, Kind::Float);
        assert!(alone.allclose(&sorted.narrow(0, 1, 1), 1e-5, 1e-5, false));
        assert!(alone.allclose(&unsorted.narrow(0, 0, 1), 1e-5, 1e-5, false));
        assert!(logits
            .narrow(0, 0, 1)
            .allclose(&sorted.narrow(0, 0, 1), 1e-5, 1e-5, false));
    }

    /// An encoder cast once for inference gives the per-call cast's logits: exactly in fp32,
    /// within bf16 rounding in bf16.
    #[test]
    fn test_encoder_cast_for_inference() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let head = HeadConfig {
            bptt: 5,
            ..Default::default()
        };
        let clf = Classifier::new(&vs.root(), 20, &tiny(), &head, 2);
        let tokens = Tensor::randint_low(2, 20, [3, 17], (Kind::Int64, tch::Device::Cpu));
        for (kind, tol) in [(Kind::Float, 1e-6), (Kind::BFloat16, 5e-2)] {
            let cast = clf.encoder.cast_for_inference(kind);
            let a = clf.forward(&tokens, 0, false, kind);
            let b = clf.forward_with(&cast, &tokens, 0, false, kind);
            assert!(a.allclose(&b, tol, tol, false), "{kind:?}: {a} vs {b}");
        }
        let cast = clf.encoder.cast_for_inference(Kind::BFloat16);
        assert_eq!(cast.embedding.kind(), Kind::BFloat16);
        assert!(!cast.embedding.requires_grad());
    }

    #[test]
    fn test_names_match_the_language_model() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _clf = Classifier::new(&vs.root(), 20, &tiny(), &HeadConfig::default(), 2);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(names.contains(&"encoder.embedding.weight".to_string()));
        assert!(names.contains(&"encoder.lstm.1.weight_hh".to_string()));
        assert!(names.contains(&"head.6.weight".to_string()));
        assert!(names.contains(&"head.0.running_mean".to_string()));
    }
}
