//! Genome tracks from scored windows: what `genolm scan` and `genolm merge` write.
//!
//! A scan is a [`ScanLayout`] (the chromosomes or regions scanned, window, step, strands, classes)
//! and the stream of [`ScoredWindow`]s it enumerates, in one canonical order. [`TrackSink`] turns
//! that stream into per-base tracks (bedGraph, then BigWig), called regions (BED) and a summary,
//! holding only a window's worth of bases per strand in memory. A sharded scan writes its part of
//! the stream to a shard file instead ([`shard`]); `genolm merge` feeds the shards, in order, to the
//! same sink, so merged outputs are the unsharded run's bytes.

pub mod bigwig;
pub mod calls;
pub mod coverage;
pub mod layout;
pub mod plot;
pub mod shard;
pub mod sink;
pub mod truth;

use std::path::PathBuf;

pub use layout::{NPolicy, ScanLayout, StrandSet, Target, TrackMode, Window};
pub use sink::{ScoredWindow, SinkOptions, TrackSink, WindowSink};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}", path = path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Genome(#[from] crate::genome::Error),
    #[error(transparent)]
    Plot(#[from] crate::plot::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// A class name as it appears in a file name: letters, digits, '-' and '_' kept, the rest '_'.
pub fn file_stem_of(class: &str) -> String {
    class
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What a scan, or the merge of its shards, did: windows, time, rates and peak memory (the shards'
/// largest, for a merge).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanStats {
    pub windows: u64,
    pub windows_scored: u64,
    pub windows_skipped: u64,
    /// Bases scanned (one strand).
    pub bases: u64,
    pub seconds: f64,
    pub windows_per_s: f64,
    pub bp_per_s: f64,
    pub peak_rss_bytes: u64,
}

impl ScanStats {
    pub fn new(scored: u64, skipped: u64, bases: u64, seconds: f64, peak_rss_bytes: u64) -> Self {
        let windows = scored + skipped;
        let per_s = |n: u64| n as f64 / seconds.max(1e-9);
        Self {
            windows,
            windows_scored: scored,
            windows_skipped: skipped,
            bases,
            seconds,
            windows_per_s: per_s(windows),
            bp_per_s: per_s(bases),
            peak_rss_bytes,
        }
    }
}
