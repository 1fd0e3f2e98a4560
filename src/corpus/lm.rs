//! Language-model batches over a corpus, as fastai's LanguageModelPreLoader makes them: the split's
//! documents concatenated (shuffled per epoch for training), cut into `batch_size` parallel streams,
//! read in BPTT windows whose length varies (bptt with p = 0.95, else bptt/2, jittered by N(0, 5)),
//! so the model's hidden state carries from one window to the next.
//!
//! Tokens are read with positional reads, not through a memory map: a map's pages would stay
//! resident and RSS would grow with the corpus, while here memory is a few batches whatever its size.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::format::{Corpus, Split, TOKENS_FILE};
use crate::rng::SplitMix64;

#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the {split} documents hold {tokens} tokens: too few for {batch_size} streams (need at least 2 per stream)"
    )]
    TooSmall {
        split: String,
        tokens: u64,
        batch_size: usize,
    },
    #[error("a BPTT window of 0 tokens: it must be at least 1")]
    ZeroBptt,
}

/// One batch: `x` and `y` (the next tokens) as row-major [batch_size, seq_len] ids.
#[derive(Debug, Clone, PartialEq)]
pub struct LmBatch {
    pub x: Vec<i64>,
    pub y: Vec<i64>,
    pub batch_size: usize,
    pub seq_len: usize,
}

pub struct LmStreams {
    file: File,
    path: PathBuf,
    wide: bool,
    docs: Vec<(u64, u64)>,
    tokens: u64,
    pub batch_size: usize,
    /// The streams this process reads (all of them, or a data-parallel rank's share).
    first_stream: usize,
    n_streams: usize,
    pub bptt: usize,
    seed: u64,
    /// Training: shuffle documents each epoch and jitter window lengths.
    train: bool,
    /// Read the concatenated documents from the end (a backward language model).
    backwards: bool,
    /// Per epoch: documents in reading order and the stream position where each starts.
    order: Vec<usize>,
    starts: Vec<u64>,
    stream_len: u64,
    pos: u64,
    rng: SplitMix64,
    buf: Vec<u8>,
}

/// A standard normal sample (Box-Muller) from the stream's generator.
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl LmStreams {
    /// Streams over one split, or every document when `split` is None. Training streams (the train
    /// split) shuffle documents per epoch and jitter window lengths; the others read in order.
    pub fn new(
        corpus: &Corpus,
        split: Option<Split>,
        batch_size: usize,
        bptt: usize,
        seed: u64,
    ) -> Result<Self, LmError> {
        if bptt == 0 {
            return Err(LmError::ZeroBptt);
        }
        let path = corpus.dir.join(TOKENS_FILE);
        let file = File::open(&path).map_err(|source| LmError::Io {
            path: path.clone(),
            source,
        })?;
        let docs: Vec<(u64, u64)> = corpus
            .documents
            .iter()
            .filter(|d| split.is_none_or(|s| d.split == s))
            .map(|d| (d.offset, d.n_tokens as u64))
            .collect();
        let tokens: u64 = docs.iter().map(|d| d.1).sum();
        if batch_size == 0 || tokens < 2 * batch_size as u64 {
            let split = split
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_else(|| "corpus".into());
            return Err(LmError::TooSmall {
                split,
                tokens,
                batch_size,
            });
        }
        let mut s = Self {
            file,
            path,
            wide: corpus.manifest.tokenizer.token_dtype == "u32",
            docs,
            tokens,
            batch_size,
            first_stream: 0,
            n_streams: batch_size,
            bptt,
            seed,
            train: split == Some(Split::Train),
            backwards: false,
            order: Vec::new(),
            starts: Vec::new(),
            stream_len: 0,
            pos: 0,
            rng: SplitMix64::new(seed),
            buf: Vec::new(),
        };
        s.start_epoch(0);
        Ok(s)
    }

    /// Streams for a backward language model: every document read from its last token to its
    /// first (as fastai's `backwards=True` does), so `y` is the token *before* `x` in the genome.
    pub fn backwards(mut self, backwards: bool) -> Self {
        self.backwards = backwards;
        self
    }

    /// Only the streams of data-parallel rank `rank` of `world`: a contiguous `batch_size / world`
    /// of them, so the ranks' batches together are exactly the one-process batch (same windows,
    /// same positions). `batch_size` must be a multiple of `world`.
    pub fn shard(mut self, rank: usize, world: usize) -> Self {
        assert!(
            world > 0 && self.batch_size.is_multiple_of(world) && rank < world,
            "a batch of {} streams cannot be shared by rank {rank} of {world}",
            self.batch_size
        );
        self.n_streams = self.batch_size / world;
        self.first_stream = rank * self.n_streams;
        self
    }

    pub fn total_tokens(&self) -> u64 {
        self.tokens
    }

    /// Resets to the start of `epoch`: the document order and window lengths depend only on
    /// (seed, epoch), so a resumed run sees exactly the batches an uninterrupted one would.
    pub fn start_epoch(&mut self, epoch: u64) {
        let mut rng = SplitMix64::new(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.order = (0..self.docs.len()).collect();
        if self.train {
            for i in (1..self.order.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                self.order.swap(i, j);
            }
        }
        self.starts.clear();
        let mut at = 0;
        for &d in &self.order {
            self.starts.push(at);
            at += self.docs[d].1;
        }
        self.stream_len = at / self.batch_size as u64;
        self.pos = 0;
        self.rng = rng;
    }

    /// Length of the next window, drawn as fastai does for training; `bptt` for validation.
    fn next_seq_len(&mut self) -> usize {
        if !self.train {
            return self.bptt;
        }
        let base = if (self.rng.next_u64() >> 11) as f64 / ((1u64 << 53) as f64) < 0.95 {
            self.bptt as f64
        } else {
            self.bptt as f64 / 2.0
        };
        ((base + 5.0 * normal(&mut self.rng)) as i64).max(5) as usize
    }

    /// The next window's length, or None at the end of the epoch.
    fn advance(&mut self) -> Option<(u64, usize)> {
        if self.pos + 1 >= self.stream_len {
            return None;
        }
        let want = self.next_seq_len();
        let len = want.min((self.stream_len - 1 - self.pos) as usize);
        let at = self.pos;
        self.pos += len as u64;
        Some((at, len))
    }

    /// Skips `n` batches without reading them (for resuming mid-epoch).
    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            if self.advance().is_none() {
                break;
            }
        }
    }

    /// Batches left in this epoch if windows were all `bptt` long (for progress estimates).
    pub fn approx_batches_per_epoch(&self) -> u64 {
        self.stream_len.saturating_sub(1).div_ceil(self.bptt as u64)
    }

    /// Reads concatenated-stream tokens [start, start + out.len()) into `out`; backwards, the
    /// stream is the forward one reversed (documents and the tokens in each).
    fn read_stream(&mut self, start: u64, out: &mut [i64]) -> Result<(), LmError> {
        if !self.backwards {
            return self.read_forward(start, out);
        }
        let total = self.total_tokens();
        self.read_forward(total - start - out.len() as u64, out)?;
        out.reverse();
        Ok(())
    }

    fn read_forward(&mut self, mut start: u64, out: &mut [i64]) -> Result<(), LmError> {
        let width = if self.wide { 4 } else { 2 };
        let mut filled = 0;
        while filled < out.len() {
            let i = self.starts.partition_point(|&s| s <= start) - 1;
            let (offset, n) = self.docs[self.order[i]];
            let within = start - self.starts[i];
            let take = ((n - within) as usize).min(out.len() - filled);
            self.buf.resize(take * width, 0);
            self.file
                .read_exact_at(&mut self.buf, (offset + within) * width as u64)
                .map_err(|source| LmError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            for (o, b) in out[filled..filled + take]
                .iter_mut()
                .zip(self.buf.chunks_exact(width))
            {
                *o = if self.wide {
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                } else {
                    u16::from_le_bytes([b[0], b[1]]) as i64
                };
            }
            filled += take;
            start += take as u64;
        }
        Ok(())
    }

    /// The next batch, or None at the end of the epoch.
    pub fn next_batch(&mut self) -> Result<Option<LmBatch>, LmError> {
        let Some((at, len)) = self.advance() else {
            return Ok(None);
        };
        let bs = self.n_streams;
        let mut window = vec![0i64; len + 1];
        let mut x = Vec::with_capacity(bs * len);
        let mut y = Vec::with_capacity(bs * len);
        for stream in self.first_stream..self.first_stream + bs {
            self.read_stream(stream as u64 * self.stream_len + at, &mut window)?;
            x.extend_from_slice(&window[..len]);
            y.extend_from_slice(&window[1..]);
        }
        Ok(Some(LmBatch {
            x,
            y,
            batch_size: bs,
            seq_len: len,
        }))
    }
}
