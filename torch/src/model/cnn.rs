//! One-hot CNNs built from config: conv blocks (Conv1d, BatchNorm, activation, max-pool, dropout),
//! then flatten or global pooling, dense blocks, and an output layer of N logits (softmax over
//! classes, or a sigmoid per label for multi-label tasks). The primer's, TLVar's and Basset-TF's
//! networks are configs of this one module (configs/cnn-*.toml).
//!
//! Tensor names: `conv{i}.conv.weight|bias`, `conv{i}.bn.*`, `dense{j}.linear.weight|bias`,
//! `dense{j}.bn.*`, `out.weight|bias` (i, j from 1); layer groups `conv1`, ..., `dense1`, ...,
//! `out`, so `freeze_through = "conv2"` freezes the first two conv blocks.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::dropout::dropout;
use crate::train::freeze::LayerGroup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Exp,
    None,
}

impl Activation {
    fn apply(self, x: Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Exp => x.exp(),
            Activation::None => x,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: the output is kernel - 1 positions shorter (Keras "valid").
    #[default]
    Valid,
    /// Zero padding that keeps the length at stride 1 (Keras "same").
    Same,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvBlock {
    pub filters: i64,
    pub kernel: i64,
    #[serde(default = "one")]
    pub stride: i64,
    #[serde(default = "one")]
    pub dilation: i64,
    #[serde(default)]
    pub padding: Padding,
    #[serde(default)]
    pub batch_norm: bool,
    #[serde(default)]
    pub activation: Activation,
    /// Max-pool size and stride (1: none).
    #[serde(default = "one")]
    pub pool: i64,
    #[serde(default)]
    pub dropout: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseBlock {
    pub units: i64,
    #[serde(default)]
    pub batch_norm: bool,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub dropout: f64,
}

fn one() -> i64 {
    1
}

/// How the conv stack's output becomes a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// All positions x channels (a fixed input length).
    #[default]
    Flatten,
    GlobalMax,
    GlobalAvg,
}

/// How N (or any non-ACGT base) is one-hot encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NEncoding {
    /// All four channels 0.
    #[default]
    Zeros,
    /// All four channels 0.25.
    Quarter,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    /// Bases per input sequence.
    pub input_len: i64,
    #[serde(default)]
    pub n_encoding: NEncoding,
    pub conv: Vec<ConvBlock>,
    #[serde(default)]
    pub reduce: Reduce,
    #[serde(default)]
    pub dense: Vec<DenseBlock>,
}

/// A config that cannot build a network.
#[derive(Debug, thiserror::Error)]
pub enum CnnConfigError {
    #[error("model.input_len = {0}: must be at least 1")]
    InputLen(i64),
    #[error("model.conv is empty: a CNN needs at least one conv block")]
    NoConv,
    #[error("model.conv[{block}]: {what}")]
    Conv { block: usize, what: String },
    #[error("model.dense[{block}]: {what}")]
    Dense { block: usize, what: String },
}

impl CnnConfig {
    /// Length of the sequence after each conv block (conv, then pooling), for an input of
    /// `input_len`; an error names the first block that a kernel or pool does not fit.
    pub fn lengths(&self, input_len: i64) -> Result<Vec<i64>, CnnConfigError> {
        let mut len = input_len;
        let mut out = Vec::new();
        for (i, c) in self.conv.iter().enumerate() {
            let span = c.dilation * (c.kernel - 1) + 1;
            len = match c.padding {
                Padding::Valid => {
                    if span > len {
                        return Err(CnnConfigError::Conv {
                            block: i,
                            what: format!(
                                "kernel {} (dilation {}) spans {span} positions, longer than its input of {len}",
                                c.kernel, c.dilation
                            ),
                        });
                    }
                    (len - span) / c.stride + 1
                }
                Padding::Same => (len + c.stride - 1) / c.stride,
            };
            if c.pool > 1 {
                len /= c.pool;
                if len == 0 {
                    return Err(CnnConfigError::Conv {
                        block: i,
                        what: format!("max-pool {} shrinks the length to 0", c.pool),
                    });
                }
            }
            out.push(len);
        }
        Ok(out)
    }

    pub fn validate(&self) -> Result<(), CnnConfigError> {
        if self.input_len < 1 {
            return Err(CnnConfigError::InputLen(self.input_len));
        }
        if self.conv.is_empty() {
            return Err(CnnConfigError::NoConv);
        }
        for (i, c) in self.conv.iter().enumerate() {
            let bad = |what: String| Err(CnnConfigError::Conv { block: i, what });
            if c.filters < 1 || c.kernel < 1 || c.stride < 1 || c.dilation < 1 || c.pool < 1 {
                return bad("filters, kernel, stride, dilation and pool must be at least 1".into());
            }
            if c.padding == Padding::Same && c.stride != 1 {
                return bad("padding = \"same\" needs stride 1".into());
            }
            if !(0.0..1.0).contains(&c.dropout) {
                return bad(format!("dropout = {} must be in [0, 1)", c.dropout));
            }
        }
        for (i, d) in self.dense.iter().enumerate() {
            if d.units < 1 {
                return Err(CnnConfigError::Dense {
                    block: i,
                    what: "units must be at least 1".into(),
                });
            }
            if !(0.0..1.0).contains(&d.dropout) {
                return Err(CnnConfigError::Dense {
                    block: i,
                    what: format!("dropout = {} must be in [0, 1)", d.dropout),
                });
            }
        }
        self.lengths(self.input_len).map(|_| ())
    }

    /// Width of the vector the dense layers read.
    fn features(&self) -> i64 {
        let channels = self.conv.last().map_or(4, |c| c.filters);
        match self.reduce {
            Reduce::Flatten => {
                channels
                    * self
                        .lengths(self.input_len)
                        .ok()
                        .and_then(|l| l.last().copied())
                        .unwrap_or(1)
            }
            Reduce::GlobalMax | Reduce::GlobalAvg => channels,
        }
    }
}

struct Conv {
    conv: nn::Conv1D,
    /// The padding libtorch is given (tch keeps its own copy private).
    padding: i64,
    bn: Option<nn::BatchNorm>,
    cfg: ConvBlock,
}

struct Dense {
    linear: nn::Linear,
    bn: Option<nn::BatchNorm>,
    cfg: DenseBlock,
}

pub struct Cnn {
    convs: Vec<Conv>,
    dense: Vec<Dense>,
    out: nn::Linear,
    pub config: CnnConfig,
    pub n_outputs: i64,
    /// Frozen layer groups (conv blocks, dense blocks, output): their BatchNorm layers keep
    /// their running statistics in training, as Keras does for non-trainable layers.
    frozen: Vec<bool>,
}

impl Cnn {
    pub fn new(root: &nn::Path, config: &CnnConfig, n_outputs: i64) -> Self {
        let mut channels = 4;
        let mut convs = Vec::new();
        for (i, c) in config.conv.iter().enumerate() {
            let p = root / format!("conv{}", i + 1);
            let padding = match c.padding {
                Padding::Valid => 0,
                // Odd kernels pad symmetrically; even ones as PyTorch's "same" would need an
                // asymmetric pad, so the extra position is trimmed in forward.
                Padding::Same => {
                    c.dilation * (c.kernel - 1) / 2 + (c.dilation * (c.kernel - 1)) % 2
                }
            };
            let cfg = nn::ConvConfig {
                stride: c.stride,
                dilation: c.dilation,
                padding,
                ..Default::default()
            };
            convs.push(Conv {
                conv: nn::conv1d(&p / "conv", channels, c.filters, c.kernel, cfg),
                padding,
                bn: c
                    .batch_norm
                    .then(|| nn::batch_norm1d(&p / "bn", c.filters, Default::default())),
                cfg: c.clone(),
            });
            channels = c.filters;
        }
        let mut width = config.features();
        let mut dense = Vec::new();
        for (j, d) in config.dense.iter().enumerate() {
            let p = root / format!("dense{}", j + 1);
            dense.push(Dense {
                linear: nn::linear(&p / "linear", width, d.units, Default::default()),
                bn: d
                    .batch_norm
                    .then(|| nn::batch_norm1d(&p / "bn", d.units, Default::default())),
                cfg: d.clone(),
            });
            width = d.units;
        }
        let out = nn::linear(root / "out", width, n_outputs, Default::default());
        let groups = config.conv.len() + config.dense.len() + 1;
        Self {
            convs,
            dense,
            out,
            config: config.clone(),
            n_outputs,
            frozen: vec![false; groups],
        }
    }

    /// conv1..convN, dense1..denseM, out.
    pub fn layer_groups(&self) -> Vec<LayerGroup> {
        let mut g: Vec<LayerGroup> = (1..=self.convs.len())
            .map(|i| LayerGroup::new(format!("conv{i}"), &[&format!("conv{i}.")]))
            .collect();
        g.extend(
            (1..=self.dense.len())
                .map(|j| LayerGroup::new(format!("dense{j}"), &[&format!("dense{j}.")])),
        );
        g.push(LayerGroup::new("out", &["out."]));
        g
    }

    /// Which layer groups are frozen (in [`Self::layer_groups`] order).
    pub fn set_frozen(&mut self, frozen: &[bool]) {
        self.frozen = frozen.to_vec();
    }

    /// BatchNorm with its parameters and running statistics kept in fp32 (libtorch's CPU and
    /// CUDA kernels take bf16/fp16 input with fp32 parameters), so bf16 runs keep exact statistics.
    fn bn(&self, bn: &Option<nn::BatchNorm>, group: usize, x: Tensor, train: bool) -> Tensor {
        match bn {
            Some(bn) => super::norm::batch_norm(
                bn,
                &x,
                train && !self.frozen.get(group).copied().unwrap_or(false),
            ),
            None => x,
        }
    }

    /// A convolution computed in `kind`: the fp32 weights are cast per call, so bf16 training
    /// keeps fp32 master weights (the gradient flows back through the cast) and bf16 inference
    /// needs no converted copy.
    fn conv_in(c: &Conv, x: &Tensor, kind: Kind) -> Tensor {
        if c.conv.ws.kind() == kind {
            return c.conv.forward(x);
        }
        x.conv1d(
            &c.conv.ws.to_kind(kind),
            c.conv.bs.as_ref().map(|b| b.to_kind(kind)),
            [c.cfg.stride],
            [c.padding],
            [c.cfg.dilation],
            1,
        )
    }

    /// A dense layer computed in `kind` (as [`Self::conv_in`]).
    fn linear_in(linear: &nn::Linear, x: &Tensor, kind: Kind) -> Tensor {
        if linear.ws.kind() == kind {
            return x.apply(linear);
        }
        x.linear(
            &linear.ws.to_kind(kind),
            linear.bs.as_ref().map(|b| b.to_kind(kind)),
        )
    }

    /// Logits [batch, n_outputs] of one-hot input [batch, 4, length], computed in `kind`.
    pub fn forward(&self, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        let mut x = x.to_kind(kind);
        for i in 0..self.convs.len() {
            x = self.block(i, &x, train, kind);
        }
        self.head(x, train, kind)
    }

    /// Conv block `i` on its whole input.
    fn block(&self, i: usize, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        let c = &self.convs[i];
        let len = x.size()[2];
        let mut y = Self::conv_in(c, x, kind);
        if c.cfg.padding == Padding::Same && y.size()[2] > len {
            y = y.narrow(2, 0, len);
        }
        self.after_conv(i, y, train)
    }

    /// BatchNorm, activation, max-pool and dropout of conv block `i`.
    fn after_conv(&self, i: usize, x: Tensor, train: bool) -> Tensor {
        let c = &self.convs[i];
        let mut x = self.bn(&c.bn, i, x, train);
        x = c.cfg.activation.apply(x);
        if c.cfg.pool > 1 {
            x = x.max_pool1d([c.cfg.pool], [c.cfg.pool], [0], [1], false);
        }
        dropout(&x, c.cfg.dropout, train)
    }

    /// Reduce, dense blocks and output layer on the last conv block's output.
    fn head(&self, x: Tensor, train: bool, kind: Kind) -> Tensor {
        let x = match self.config.reduce {
            // Keras flattens channels-last ([batch, length, channels]); the same order here keeps
            // weights portable between the two.
            Reduce::Flatten => x.transpose(1, 2).flatten(1, -1),
            Reduce::GlobalMax => x.amax([2].as_slice(), false),
            Reduce::GlobalAvg => x.mean_dim([2].as_slice(), false, kind),
        };
        self.after_first_linear(Self::linear_in(self.first_linear(), &x, kind), train)
    }

    /// The linear layer the reduced conv output goes into: the first dense block's, or the
    /// output layer's when there is none.
    fn first_linear(&self) -> &nn::Linear {
        self.dense.first().map_or(&self.out, |d| &d.linear)
    }

    /// Everything after [`Self::first_linear`], from its output `y`.
    fn after_first_linear(&self, y: Tensor, train: bool) -> Tensor {
        let Some(first) = self.dense.first() else {
            return y.to_kind(Kind::Float);
        };
        let kind = y.kind();
        let base = self.convs.len();
        let mut x = self.bn(&first.bn, base, y, train);
        x = first.cfg.activation.apply(x);
        x = dropout(&x, first.cfg.dropout, train);
        for (j, d) in self.dense.iter().enumerate().skip(1) {
            x = Self::linear_in(&d.linear, &x, kind);
            x = self.bn(&d.bn, base + j, x, train);
            x = d.cfg.activation.apply(x);
            x = dropout(&x, d.cfg.dropout, train);
        }
        Self::linear_in(&self.out, &x, kind).to_kind(Kind::Float)
    }

    /// Output positions of conv block `i` (after pooling) that a change of its input positions
    /// `a..=b` can reach, for an input of `len_in`: the block's receptive field run forward.
    fn reach(&self, i: usize, len_in: i64, a: i64, b: i64) -> (i64, i64) {
        let c = &self.convs[i].cfg;
        let (p, span) = (self.convs[i].padding, c.dilation * (c.kernel - 1) + 1);
        let conv_len = match c.padding {
            Padding::Same => len_in,
            Padding::Valid => (len_in - span) / c.stride + 1,
        };
        // Conv output o reads input positions o * stride - p + dilation * t, t < kernel.
        let lo = (a + p - (span - 1)).div_euclid(c.stride)
            + i64::from((a + p - (span - 1)).rem_euclid(c.stride) != 0);
        let hi = (b + p).div_euclid(c.stride).min(conv_len - 1);
        let lo = lo.max(0);
        (lo / c.pool, (hi / c.pool).min(conv_len / c.pool - 1))
    }

    /// Logits of single-base substitutions of one sequence, each recomputing only what the
    /// substitution can change: per conv block, the window of outputs its receptive field reaches,
    /// computed from the reference's activations with the previous block's changed window written
    /// in; only the last block's output is assembled whole, for the dense layers. `reference` is
    /// the one-hot sequence [1, 4, L]; substitution j puts the one-hot column `columns[j]` ([n, 4,
    /// 1]) at `positions[j]`. Equal to [`Self::forward`] of the mutants up to floating-point order
    /// (eval mode).
    pub fn substitution_logits(
        &self,
        reference: &Tensor,
        columns: &Tensor,
        positions: &[i64],
        kind: Kind,
    ) -> Tensor {
        let device = reference.device();
        let n = positions.len() as i64;
        let mut len_in = reference.size()[2];
        let mut reference = reference.to_kind(kind);
        // The changed window of the current block's input: values [n, channels, width] from
        // `starts`; and each substitution's changed interval.
        let mut window = columns.to_kind(kind);
        let mut starts: Vec<i64> = positions.to_vec();
        let mut changed: Vec<(i64, i64)> = positions.iter().map(|&p| (p, p)).collect();
        let mut all: Vec<(i64, i64)> = (0..len_in).map(|p| (p, p)).collect();
        for i in 0..self.convs.len() {
            let out_ref = self.block(i, &reference, false, kind);
            let out_len = out_ref.size()[2];
            changed = changed
                .iter()
                .map(|&(a, b)| self.reach(i, len_in, a, b))
                .collect();
            all = all
                .iter()
                .map(|&(a, b)| self.reach(i, len_in, a, b))
                .collect();
            let width = all
                .iter()
                .map(|&(a, b)| b - a + 1)
                .max()
                .unwrap_or(1)
                .min(out_len);
            let out_starts: Vec<i64> = changed
                .iter()
                .map(|&(a, _)| a.clamp(0, out_len - width))
                .collect();
            window = self.block_window(i, &reference, (&window, &starts), &out_starts, width, kind);
            starts = out_starts;
            reference = out_ref;
            len_in = out_len;
        }
        // The last block's output whole: the reference's, with each changed window written in.
        let c_out = window.size()[1];
        let width = window.size()[2];
        let at = (Tensor::from_slice(&starts)
            .to_device(device)
            .view([n, 1, 1])
            + Tensor::arange(width, (Kind::Int64, device)).view([1, 1, width]))
        .expand([n, c_out, width], false);
        if self.config.reduce == Reduce::Flatten {
            return self.flatten_head_by_change(&reference, &window, &starts, kind);
        }
        let mut x = reference.expand([n, c_out, len_in], false).contiguous();
        let _ = x.scatter_(2, &at, &window);
        self.head(x, false, kind)
    }

    /// The head of a flattening CNN from the change alone: the first linear layer of the
    /// reference's flattened output, plus that layer applied to each substitution's change, which
    /// lies in the columns of its window only (channels-last: positions `start..start + width` are
    /// the contiguous columns `start * channels..`). Substitutions with the same window share one
    /// matmul with those columns.
    fn flatten_head_by_change(
        &self,
        reference: &Tensor,
        window: &Tensor,
        starts: &[i64],
        kind: Kind,
    ) -> Tensor {
        let (n, channels, width) = (window.size()[0], window.size()[1], window.size()[2]);
        let device = reference.device();
        let linear = self.first_linear();
        let flat_ref = reference.transpose(1, 2).flatten(1, -1);
        let y_ref = Self::linear_in(linear, &flat_ref, kind);
        let ref_windows = reference
            .unfold(2, width, 1)
            .index_select(2, &Tensor::from_slice(starts).to_device(device))
            .squeeze_dim(0)
            .permute([1, 0, 2]);
        let delta = (window - ref_windows)
            .transpose(1, 2)
            .reshape([n, width * channels]);
        let w = linear.ws.to_kind(kind);
        let mut parts = Vec::new();
        let mut a = 0usize;
        while a < starts.len() {
            let b = a + starts[a..].iter().take_while(|&&x| x == starts[a]).count();
            let cols = w.narrow(1, starts[a] * channels, width * channels);
            parts.push(delta.narrow(0, a as i64, (b - a) as i64).matmul(&cols.tr()));
            a = b;
        }
        let y = y_ref + Tensor::cat(&parts, 0);
        self.after_first_linear(y, false)
    }

    /// Outputs `out_starts[j]..+ width` of conv block `i` for each substitution: the conv without
    /// padding on the window of its input it needs, cut from the zero-padded `reference` input
    /// [1, channels, len] with the substitution's changed input window (`changed`: values [n,
    /// channels, w] from `starts[j]`) written in.
    fn block_window(
        &self,
        i: usize,
        reference: &Tensor,
        (changed, starts): (&Tensor, &[i64]),
        out_starts: &[i64],
        width: i64,
        kind: Kind,
    ) -> Tensor {
        let c = &self.convs[i];
        let (s, pool) = (c.cfg.stride, c.cfg.pool);
        let span = c.cfg.dilation * (c.cfg.kernel - 1) + 1;
        let (channels, len) = (reference.size()[1], reference.size()[2]);
        let n = out_starts.len() as i64;
        let device = reference.device();
        let win = (width * pool - 1) * s + span;
        // Window j starts at out_starts[j] * pool * s in the padded input.
        let from: Vec<i64> = out_starts.iter().map(|&o| o * pool * s).collect();
        let last = from.iter().max().copied().unwrap_or(0);
        let right = (last + win - (len + c.padding)).max(0);
        let padded = reference.constant_pad_nd([c.padding, right]);
        let base = padded
            .unfold(2, win, 1)
            .index_select(2, &Tensor::from_slice(&from).to_device(device))
            .squeeze_dim(0)
            .permute([1, 0, 2]);
        // One spare column takes the changed values that fall outside the window.
        let mut w = Tensor::cat(&[base, Tensor::zeros([n, channels, 1], (kind, device))], 2);
        let cw = changed.size()[2];
        let rel: Vec<i64> = starts
            .iter()
            .zip(&from)
            .flat_map(|(&st, &f)| {
                (0..cw).map(move |j| {
                    let r = st + c.padding + j - f;
                    if (0..win).contains(&r) {
                        r
                    } else {
                        win
                    }
                })
            })
            .collect();
        let at = Tensor::from_slice(&rel)
            .to_device(device)
            .view([n, 1, cw])
            .expand([n, channels, cw], false);
        let _ = w.scatter_(2, &at, changed);
        let w = w.narrow(2, 0, win);
        let y = w.conv1d(
            &c.conv.ws.to_kind(kind),
            c.conv.bs.as_ref().map(|b| b.to_kind(kind)),
            [s],
            [0],
            [c.cfg.dilation],
            1,
        );
        self.after_conv(i, y, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> CnnConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn test_lengths_and_shapes_follow_the_config() {
        let c = config(
            "input_len = 50\n[[conv]]\nfilters = 32\nkernel = 12\npool = 4\n[[dense]]\nunits = 16\n",
        );
        c.validate().unwrap();
        assert_eq!(c.lengths(50).unwrap(), [(50 - 11) / 4]);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cnn = Cnn::new(&vs.root(), &c, 2);
        let x = Tensor::zeros([3, 4, 50], (Kind::Float, tch::Device::Cpu));
        assert_eq!(cnn.forward(&x, false, Kind::Float).size(), [3, 2]);
        let names: Vec<String> = cnn.layer_groups().into_iter().map(|g| g.name).collect();
        assert_eq!(names, ["conv1", "dense1", "out"]);
        assert!(vs.variables().contains_key("conv1.conv.weight"));
        assert!(vs.variables().contains_key("dense1.linear.weight"));
    }

    #[test]
    fn test_same_padding_keeps_the_length_for_odd_and_even_kernels() {
        for kernel in [3, 4, 19] {
            let c = config(&format!(
                "input_len = 40\nreduce = \"global_max\"\n[[conv]]\nfilters = 5\nkernel = {kernel}\npadding = \"same\"\nbatch_norm = true\n"
            ));
            c.validate().unwrap();
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let cnn = Cnn::new(&vs.root(), &c, 3);
            let x = Tensor::randn([2, 4, 40], (Kind::Float, tch::Device::Cpu));
            assert_eq!(cnn.forward(&x, true, Kind::Float).size(), [2, 3]);
            assert_eq!(c.lengths(40).unwrap(), [40]);
        }
    }

    /// Substitutions through the receptive-field path equal the mutants' full forward pass, for
    /// valid and same padding, odd and even kernels, stride, dilation, pooling, batch norm and
    /// each reduction.
    #[test]
    fn test_substitution_logits_equal_the_full_forward() {
        let configs = [
            "input_len = 61\n[[conv]]\nfilters = 6\nkernel = 7\npool = 3\nactivation = \"relu\"\n[[conv]]\nfilters = 5\nkernel = 4\npool = 2\n[[dense]]\nunits = 8\nactivation = \"relu\"\n",
            "input_len = 50\nreduce = \"global_max\"\n[[conv]]\nfilters = 4\nkernel = 6\npadding = \"same\"\nbatch_norm = true\nactivation = \"relu\"\npool = 4\n[[conv]]\nfilters = 3\nkernel = 3\ndilation = 2\npadding = \"same\"\n",
            "input_len = 45\nreduce = \"global_avg\"\n[[conv]]\nfilters = 4\nkernel = 5\nstride = 2\nactivation = \"exp\"\n[[conv]]\nfilters = 4\nkernel = 3\npool = 2\n",
        ];
        for text in configs {
            let c = config(text);
            c.validate().unwrap();
            tch::manual_seed(11);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let mut cnn = Cnn::new(&vs.root(), &c, 3);
            // Non-trivial running statistics for the batch norms.
            let warm = Tensor::randn([16, 4, c.input_len], (Kind::Float, tch::Device::Cpu));
            let _ = cnn.forward(&warm, true, Kind::Float);
            cnn.set_frozen(&[]);
            let len = c.input_len as usize;
            let seq: Vec<u8> = (0..len).map(|i| b"ACGT"[(i * 7 + i / 3) % 4]).collect();
            let mut mutants = Vec::new();
            let mut positions = Vec::new();
            for p in [0, 1, len / 2, len - 2, len - 1] {
                for &b in b"ACGT" {
                    if b != seq[p] {
                        let mut m = seq.clone();
                        m[p] = b;
                        mutants.push(m);
                        positions.push(p as i64);
                    }
                }
            }
            let refs: Vec<&[u8]> = mutants.iter().map(Vec::as_slice).collect();
            let x = crate::features::onehot::one_hot(&refs, len, NEncoding::Zeros);
            let reference = crate::features::onehot::one_hot(&[&seq], len, NEncoding::Zeros);
            let columns: Vec<&[u8]> = refs
                .iter()
                .zip(&positions)
                .map(|(m, &p)| &m[p as usize..p as usize + 1])
                .collect();
            let columns = crate::features::onehot::one_hot(&columns, 1, NEncoding::Zeros);
            let _guard = tch::no_grad_guard();
            let full = cnn.forward(&x, false, Kind::Float);
            let fast = cnn.substitution_logits(&reference, &columns, &positions, Kind::Float);
            let diff = (full - fast).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{text}: max difference {diff}");
        }
    }

    #[test]
    fn test_configs_that_cannot_build_are_refused() {
        let err = config("input_len = 10\n[[conv]]\nfilters = 4\nkernel = 12\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.conv[0]") && err.contains("longer than its input of 10"),
            "{err}"
        );
        let err = config("input_len = 10\n[[conv]]\nfilters = 4\nkernel = 3\npool = 16\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("shrinks the length to 0"), "{err}");
        assert!(config("input_len = 10\nconv = []\n").validate().is_err());
    }

    #[test]
    fn test_frozen_batch_norm_keeps_its_statistics() {
        let c = config("input_len = 20\nreduce = \"global_avg\"\n[[conv]]\nfilters = 3\nkernel = 3\nbatch_norm = true\n");
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut cnn = Cnn::new(&vs.root(), &c, 2);
        let x = Tensor::randn([8, 4, 20], (Kind::Float, tch::Device::Cpu)) + 3.0;
        let mean = || vs.variables()["conv1.bn.running_mean"].copy();
        let before = mean();
        cnn.set_frozen(&[true, false]);
        let _ = cnn.forward(&x, true, Kind::Float);
        assert!(mean().equal(&before), "frozen: running mean unchanged");
        cnn.set_frozen(&[false, false]);
        let _ = cnn.forward(&x, true, Kind::Float);
        assert!(!mean().equal(&before), "trainable: running mean moves");
    }
}
