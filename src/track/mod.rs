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

pub use crate::mem::peak_rss_bytes;
