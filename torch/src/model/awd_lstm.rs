//! AWD-LSTM (Merity et al. 2017), ULMFiT's encoder, with every regularizer:
//! embedding dropout (whole rows of the embedding matrix, rescaled), locked (variational) dropout on
//! the input, between layers and on the output, DropConnect on each hidden-to-hidden matrix (one mask
//! per forward, then libtorch's fused LSTM), a decoder tied to the embedding with its own bias, and
//! the AR/TAR penalties. All dropouts are multiplied by `drop_mult`.
//!
//! Tensor names (safetensors, stable):
//! - `encoder.embedding.weight` [vocab, emb]
//! - `encoder.lstm.{l}.weight_ih` [4h, in], `encoder.lstm.{l}.weight_hh` [4h, h],
//!   `encoder.lstm.{l}.bias_ih` [4h], `encoder.lstm.{l}.bias_hh` [4h] for l in 0..n_layers
//!   (h = hidden_size, except the last layer where h = emb_size so the decoder can be tied)
//! - `decoder.bias` [vocab] (the decoder weight is `encoder.embedding.weight`)

use super::dropout::{dropout, keep_mask};
use crate::train::freeze::LayerGroup;
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwdLstmConfig {
    #[serde(default = "d_emb")]
    pub emb_size: i64,
    #[serde(default = "d_hidden")]
    pub hidden_size: i64,
    #[serde(default = "d_layers")]
    pub n_layers: i64,
    /// Output (locked) dropout, before the decoder.
    #[serde(default = "d_output_p")]
    pub output_p: f64,
    /// Locked dropout between LSTM layers.
    #[serde(default = "d_hidden_p")]
    pub hidden_p: f64,
    /// Locked dropout on the embedding output.
    #[serde(default = "d_input_p")]
    pub input_p: f64,
    /// Embedding dropout: whole rows (tokens) of the embedding matrix.
    #[serde(default = "d_embed_p")]
    pub embed_p: f64,
    /// DropConnect on the hidden-to-hidden weights.
    #[serde(default = "d_weight_p")]
    pub weight_p: f64,
    /// Multiplies every dropout probability.
    #[serde(default = "d_drop_mult")]
    pub drop_mult: f64,
    /// Activation regularization (on the dropped last-layer output).
    #[serde(default = "d_alpha")]
    pub alpha: f64,
    /// Temporal activation regularization (on the raw last-layer output).
    #[serde(default = "d_beta")]
    pub beta: f64,
    /// Reads every sequence from its last token to its first (fastai's `backwards=True`). Set on a
    /// language model, it carries to the classifiers made from it, whose inputs are reversed too;
    /// ULMFiT averages a forward and a backward classifier.
    #[serde(default)]
    pub backwards: bool,
}

// Genomic-ULMFiT's (= fastai's AWD-LSTM) defaults.
fn d_emb() -> i64 {
    400
}
fn d_hidden() -> i64 {
    1150
}
fn d_layers() -> i64 {
    3
}
fn d_output_p() -> f64 {
    0.25
}
fn d_hidden_p() -> f64 {
    0.1
}
fn d_input_p() -> f64 {
    0.2
}
fn d_embed_p() -> f64 {
    0.02
}
fn d_weight_p() -> f64 {
    0.15
}
fn d_drop_mult() -> f64 {
    1.0
}
fn d_alpha() -> f64 {
    2.0
}
fn d_beta() -> f64 {
    1.0
}

impl Default for AwdLstmConfig {
    fn default() -> Self {
        Self {
            emb_size: d_emb(),
            hidden_size: d_hidden(),
            n_layers: d_layers(),
            output_p: d_output_p(),
            hidden_p: d_hidden_p(),
            input_p: d_input_p(),
            embed_p: d_embed_p(),
            weight_p: d_weight_p(),
            drop_mult: d_drop_mult(),
            alpha: d_alpha(),
            beta: d_beta(),
            backwards: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("model.{key} = {value}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl AwdLstmConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, value: String, reason| Err(ConfigError::Invalid { key, value, reason });
        if self.n_layers < 1 {
            return bad(
                "n_layers",
                self.n_layers.to_string(),
                "needs at least one LSTM layer",
            );
        }
        if self.emb_size < 1 {
            return bad("emb_size", self.emb_size.to_string(), "must be positive");
        }
        if self.hidden_size < 1 {
            return bad(
                "hidden_size",
                self.hidden_size.to_string(),
                "must be positive",
            );
        }
        if self.n_layers == 1 && self.hidden_size != self.emb_size {
            return bad(
                "hidden_size",
                self.hidden_size.to_string(),
                "with one layer the LSTM output feeds the tied decoder, so hidden_size must equal emb_size",
            );
        }
        for (key, p) in [
            ("output_p", self.output_p),
            ("hidden_p", self.hidden_p),
            ("input_p", self.input_p),
            ("embed_p", self.embed_p),
            ("weight_p", self.weight_p),
        ] {
            if !(0.0..1.0).contains(&(p * self.drop_mult)) {
                return bad(
                    key,
                    format!("{p} (x drop_mult {})", self.drop_mult),
                    "dropout must be in [0, 1)",
                );
            }
        }
        Ok(())
    }

    /// Output size of layer `l` (the last one is emb_size, for the tied decoder).
    pub fn layer_out(&self, l: i64) -> i64 {
        if l == self.n_layers - 1 {
            self.emb_size
        } else {
            self.hidden_size
        }
    }

    fn layer_in(&self, l: i64) -> i64 {
        if l == 0 {
            self.emb_size
        } else {
            self.hidden_size
        }
    }
}

struct LstmLayer {
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
}

/// The encoder: embedding + stacked LSTMs.
pub struct AwdLstm {
    pub config: AwdLstmConfig,
    pub embedding: Tensor,
    layers: Vec<LstmLayer>,
}

/// Hidden state: (h, c) per layer, each [1, batch, size].
pub type Hidden = Vec<(Tensor, Tensor)>;

/// What a forward pass returns besides the last layer's output.
pub struct EncoderOutput {
    /// Last layer, after output dropout: [batch, seq, emb].
    pub output: Tensor,
    /// Last layer before output dropout (for TAR).
    pub raw_output: Tensor,
    pub hidden: Hidden,
}

/// A locked-dropout mask: one Bernoulli draw per (sequence, feature), shared over time.
fn locked_mask(x: &Tensor, p: f64) -> Tensor {
    let size = x.size();
    keep_mask(&[size[0], 1, size[2]], p, x.kind(), x.device())
}

fn locked_dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p == 0.0 {
        return x.shallow_clone();
    }
    x * locked_mask(x, p)
}

impl AwdLstm {
    pub fn new(path: &nn::Path, vocab_size: i64, config: &AwdLstmConfig) -> Self {
        let emb = path / "embedding";
        let embedding = emb.var(
            "weight",
            &[vocab_size, config.emb_size],
            Init::Uniform { lo: -0.1, up: 0.1 },
        );
        let lstm = path / "lstm";
        let layers = (0..config.n_layers)
            .map(|l| {
                let (n_in, n_out) = (config.layer_in(l), config.layer_out(l));
                let p = &lstm / l;
                // PyTorch's LSTM initialisation.
                let b = 1.0 / (n_out as f64).sqrt();
                let init = Init::Uniform { lo: -b, up: b };
                LstmLayer {
                    weight_ih: p.var("weight_ih", &[4 * n_out, n_in], init),
                    weight_hh: p.var("weight_hh", &[4 * n_out, n_out], init),
                    bias_ih: p.var("bias_ih", &[4 * n_out], init),
                    bias_hh: p.var("bias_hh", &[4 * n_out], init),
                }
            })
            .collect();
        Self {
            config: config.clone(),
            embedding,
            layers,
        }
    }

    fn p(&self, p: f64) -> f64 {
        p * self.config.drop_mult
    }

    /// A detached copy with every weight in `kind`, for inference: `forward` casts the weights of
    /// each call, which a prediction run would otherwise repeat per BPTT chunk and batch (autocast
    /// keeps such a cast for a whole region in PyTorch).
    pub fn cast_for_inference(&self, kind: Kind) -> AwdLstm {
        let cast = |t: &Tensor| t.detach().to_kind(kind);
        AwdLstm {
            config: self.config.clone(),
            embedding: cast(&self.embedding),
            layers: self
                .layers
                .iter()
                .map(|l| LstmLayer {
                    weight_ih: cast(&l.weight_ih),
                    weight_hh: cast(&l.weight_hh),
                    bias_ih: cast(&l.bias_ih),
                    bias_hh: cast(&l.bias_hh),
                })
                .collect(),
        }
    }

    /// Zero hidden state for a batch.
    pub fn zero_hidden(&self, batch: i64, kind: Kind) -> Hidden {
        let device = self.embedding.device();
        (0..self.config.n_layers)
            .map(|l| {
                let z = Tensor::zeros([1, batch, self.config.layer_out(l)], (kind, device));
                (z.shallow_clone(), z)
            })
            .collect()
    }

    /// The embedding matrix with embedding dropout applied (whole rows, rescaled).
    fn dropped_embedding(&self, train: bool) -> Tensor {
        let p = self.p(self.config.embed_p);
        if !train || p == 0.0 {
            return self.embedding.shallow_clone();
        }
        let w = &self.embedding;
        w * keep_mask(&[w.size()[0], 1], p, w.kind(), w.device())
    }

    /// Forward over token ids [batch, seq]. `kind` is the compute precision (Float or BFloat16):
    /// weights are cast on the way in, so fp32 master weights receive fp32 gradients.
    pub fn forward(
        &self,
        tokens: &Tensor,
        hidden: &Hidden,
        train: bool,
        kind: Kind,
    ) -> EncoderOutput {
        self.forward_embedded(&self.embed(tokens, train, kind), hidden, train, kind)
    }

    /// Embedding vectors [batch, seq, emb] of token ids, in `kind` (embedding dropout in training).
    pub fn embed(&self, tokens: &Tensor, train: bool, kind: Kind) -> Tensor {
        let emb = self.dropped_embedding(train);
        Tensor::embedding(&emb, tokens, -1, false, false).to_kind(kind)
    }

    /// [`Self::forward`] from embedding vectors [batch, seq, emb] instead of ids: what
    /// attributions differentiate (a gradient per token and embedding dimension).
    pub fn forward_embedded(
        &self,
        x: &Tensor,
        hidden: &Hidden,
        train: bool,
        kind: Kind,
    ) -> EncoderOutput {
        let mut x = locked_dropout(&x.to_kind(kind), self.p(self.config.input_p), train);
        let n = self.layers.len();
        let mut new_hidden = Vec::with_capacity(n);
        let weight_p = self.p(self.config.weight_p);
        for (l, layer) in self.layers.iter().enumerate() {
            // DropConnect: one mask on the recurrent weights for the whole sequence.
            let w_hh = dropout(&layer.weight_hh, weight_p, train);
            let params = [
                layer.weight_ih.to_kind(kind),
                w_hh.to_kind(kind),
                layer.bias_ih.to_kind(kind),
                layer.bias_hh.to_kind(kind),
            ];
            let (h0, c0) = &hidden[l];
            let (out, h, c) = x.lstm(
                &[h0.to_kind(kind), c0.to_kind(kind)],
                &params,
                true,
                1,
                0.0,
                train,
                false,
                true,
            );
            new_hidden.push((h, c));
            x = if l + 1 < n {
                locked_dropout(&out, self.p(self.config.hidden_p), train)
            } else {
                out
            };
        }
        let output = locked_dropout(&x, self.p(self.config.output_p), train);
        EncoderOutput {
            output,
            raw_output: x,
            hidden: new_hidden,
        }
    }

    /// Every state along one sequence of ids [1, T] read from zero (eval mode): per layer, h and
    /// c before each token ([T + 1, size] each, fp32; row t is the state after t tokens), and the
    /// last layer's outputs [T, emb] (fp32). One fused call per layer gives the outputs (the h
    /// states); the c states follow from them: the gates of every step in one matmul (each step's
    /// input and previous h are known), then c_t = f_t c_(t-1) + i_t g_t along the sequence.
    pub fn states_along(&self, tokens: &Tensor, kind: Kind) -> (Vec<(Tensor, Tensor)>, Tensor) {
        let device = self.embedding.device();
        let mut x = self.embed(tokens, false, kind);
        let t = tokens.size()[1];
        let mut states = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let size = self.config.layer_out(l as i64);
            let zero = Tensor::zeros([1, 1, size], (kind, device));
            let params = [
                layer.weight_ih.to_kind(kind),
                layer.weight_hh.to_kind(kind),
                layer.bias_ih.to_kind(kind),
                layer.bias_hh.to_kind(kind),
            ];
            let (out, _, _) = x.lstm(
                &[zero.shallow_clone(), zero],
                &params,
                true,
                1,
                0.0,
                false,
                false,
                true,
            );
            let h = out.get(0).to_kind(Kind::Float);
            let h_all = Tensor::cat(&[Tensor::zeros([1, size], (Kind::Float, device)), h], 0);
            let gates = x.get(0).to_kind(Kind::Float).linear(
                &layer.weight_ih.to_kind(Kind::Float),
                Some(layer.bias_ih.to_kind(Kind::Float)),
            ) + h_all.narrow(0, 0, t).linear(
                &layer.weight_hh.to_kind(Kind::Float),
                Some(layer.bias_hh.to_kind(Kind::Float)),
            );
            let chunks = gates.chunk(4, 1);
            let (i, f, g) = (chunks[0].sigmoid(), chunks[1].sigmoid(), chunks[2].tanh());
            let ig: Vec<f32> = Vec::try_from((i * g).to_device(tch::Device::Cpu).flatten(0, -1))
                .unwrap_or_default();
            let f: Vec<f32> =
                Vec::try_from(f.to_device(tch::Device::Cpu).flatten(0, -1)).unwrap_or_default();
            let n = size as usize;
            let mut c = vec![0.0f32; (t as usize + 1) * n];
            for step in 0..t as usize {
                for j in 0..n {
                    let k = step * n + j;
                    c[k + n] = f[k] * c[k] + ig[k];
                }
            }
            let c_all = Tensor::from_slice(&c).view([t + 1, size]).to_device(device);
            states.push((h_all, c_all));
            x = out;
        }
        let output = x.get(0).to_kind(Kind::Float);
        (states, output)
    }

    /// Layer groups for freezing and discriminative learning rates: embedding, then one per LSTM
    /// layer, as name prefixes.
    pub fn layer_groups(&self) -> Vec<LayerGroup> {
        let mut groups = vec![LayerGroup::new("embedding", &["encoder.embedding."])];
        for l in 0..self.config.n_layers {
            groups.push(LayerGroup::new(
                format!("lstm.{l}"),
                &[&format!("encoder.lstm.{l}.")],
            ));
        }
        groups
    }
}

/// Detaches a hidden state from the graph (carried across BPTT windows).
pub fn detach(hidden: &Hidden) -> Hidden {
    hidden
        .iter()
        .map(|(h, c)| (h.detach(), c.detach()))
        .collect()
}

/// Encoder + decoder tied to the embedding.
pub struct LanguageModel {
    pub encoder: AwdLstm,
    pub decoder_bias: Tensor,
}

/// Loss terms of one forward pass.
pub struct LmLoss {
    /// Cross-entropy (mean over tokens), what is reported.
    pub ce: Tensor,
    /// Cross-entropy + AR + TAR, what is optimised.
    pub total: Tensor,
    pub logits: Tensor,
}

impl LanguageModel {
    pub fn new(root: &nn::Path, vocab_size: i64, config: &AwdLstmConfig) -> Self {
        let encoder = AwdLstm::new(&(root / "encoder"), vocab_size, config);
        let decoder_bias = (root / "decoder").zeros("bias", &[vocab_size]);
        Self {
            encoder,
            decoder_bias,
        }
    }

    /// The encoder's layer groups, then the decoder's (its bias; the weight is the embedding's).
    pub fn layer_groups(&self) -> Vec<LayerGroup> {
        let mut g = self.encoder.layer_groups();
        g.push(LayerGroup::new("decoder", &["decoder."]));
        g
    }

    /// A detached copy in `kind` for evaluation (see [`AwdLstm::cast_for_inference`]).
    pub fn cast_for_inference(&self, kind: Kind) -> LanguageModel {
        LanguageModel {
            encoder: self.encoder.cast_for_inference(kind),
            decoder_bias: self.decoder_bias.detach().to_kind(kind),
        }
    }

    /// Forward + loss. x, y: [batch, seq] token ids.
    pub fn loss(
        &self,
        x: &Tensor,
        y: &Tensor,
        hidden: &Hidden,
        train: bool,
        kind: Kind,
    ) -> (LmLoss, Hidden) {
        let out = self.encoder.forward(x, hidden, train, kind);
        let w = self.encoder.embedding.to_kind(kind);
        // One fused GEMM + bias (addmm), as nn.Linear: no separate pass to add the bias.
        let bias = self.decoder_bias.to_kind(kind);
        let logits = out.output.linear(&w, Some(&bias));
        let vocab = logits.size()[2];
        let ce = logits
            .view([-1, vocab])
            .to_kind(Kind::Float)
            .cross_entropy_loss::<Tensor>(&y.view([-1]), None, tch::Reduction::Mean, -100, 0.0);
        // AR on the dropped output, TAR on the raw one (fastai's RNNRegularizer). Summed into a new
        // tensor: an in-place `+=` would also change `ce`, which shares its storage.
        let cfg = &self.encoder.config;
        let mut penalties = Vec::new();
        if train && cfg.alpha > 0.0 {
            let ar = out
                .output
                .to_kind(Kind::Float)
                .pow_tensor_scalar(2)
                .mean(Kind::Float);
            penalties.push(ar * cfg.alpha);
        }
        if train && cfg.beta > 0.0 && out.raw_output.size()[1] > 1 {
            let seq = out.raw_output.size()[1];
            let raw = out.raw_output.to_kind(Kind::Float);
            let diff = raw.narrow(1, 1, seq - 1) - raw.narrow(1, 0, seq - 1);
            penalties.push(diff.pow_tensor_scalar(2).mean(Kind::Float) * cfg.beta);
        }
        let total = penalties
            .into_iter()
            .fold(ce.shallow_clone(), |acc, p| acc + p);
        (LmLoss { ce, total, logits }, out.hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The states `states_along` derives equal those of reading the sequence token by token.
    #[test]
    fn test_states_along_equal_stepwise_reading() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let config = AwdLstmConfig {
            emb_size: 8,
            hidden_size: 12,
            n_layers: 2,
            ..Default::default()
        };
        let enc = AwdLstm::new(&vs.root(), 20, &config);
        let ids: Vec<i64> = vec![3, 7, 1, 19, 4, 4, 11];
        let tokens = Tensor::from_slice(&ids).view([1, 7]);
        let (states, output) = enc.states_along(&tokens, Kind::Float);
        let mut hidden = enc.zero_hidden(1, Kind::Float);
        for (t, &id) in ids.iter().enumerate() {
            for (l, (h, c)) in hidden.iter().enumerate() {
                let (hs, cs) = &states[l];
                assert!(
                    hs.get(t as i64).allclose(&h.view([-1]), 1e-5, 1e-6, false),
                    "h {l} {t}"
                );
                assert!(
                    cs.get(t as i64).allclose(&c.view([-1]), 1e-5, 1e-6, false),
                    "c {l} {t}"
                );
            }
            let out = enc.forward(
                &Tensor::from_slice(&[id]).view([1, 1]),
                &hidden,
                false,
                Kind::Float,
            );
            assert!(output
                .get(t as i64)
                .allclose(&out.output.view([-1]), 1e-5, 1e-6, false));
            hidden = out.hidden;
        }
    }
}
