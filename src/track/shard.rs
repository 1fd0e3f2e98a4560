//! Shard files: one shard's part of a scan's scored windows, for `genolm merge`.
//!
//! `PREFIX.shard-I-of-N.windows.tsv`: a `#genolm-scan-shard` line with the header as JSON (layout,
//! sink options, shard, the scan's settings), then one row per window (`target start len strand
//! score...`, `NA` for a skipped window; scores in Rust's shortest exact form, so they read back to
//! the same f32), then `#end` with counts. Written atomically like every output.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::layout::{ScanLayout, Window};
use super::sink::{with_ext, ScoredWindow, SinkOptions, WindowSink};
use super::{io_err, Error, Result};
use crate::fsutil::AtomicFile;
use crate::genome::Strand;

const MAGIC: &str = "#genolm-scan-shard";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardHeader {
    pub layout: ScanLayout,
    pub sink: SinkOptions,
    /// 0-based shard index and count.
    pub shard: (u32, u32),
    /// Window indices `[first, end)` of the canonical order.
    pub windows: (u64, u64),
    /// What the scan records in its summary (models, settings).
    pub run: serde_json::Value,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ShardEnd {
    pub windows: u64,
    pub seconds: f64,
    pub peak_rss_bytes: u64,
}

pub fn shard_path(prefix: &Path, i: u32, n: u32) -> PathBuf {
    with_ext(prefix, &format!("shard-{}-of-{n}.windows.tsv", i + 1))
}

pub struct ShardWriter {
    path: PathBuf,
    file: AtomicFile,
    rows: u64,
}

impl ShardWriter {
    pub fn create(prefix: &Path, header: &ShardHeader) -> Result<Self> {
        let path = shard_path(prefix, header.shard.0, header.shard.1);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let mut file = AtomicFile::create(&path).map_err(io_err(&path))?;
        let json = serde_json::to_string(header).map_err(|e| Error::Invalid(e.to_string()))?;
        writeln!(file, "{MAGIC}\t{json}").map_err(io_err(&path))?;
        Ok(Self {
            path,
            file,
            rows: 0,
        })
    }

    pub fn finish(mut self, seconds: f64) -> Result<PathBuf> {
        let end = ShardEnd {
            windows: self.rows,
            seconds,
            peak_rss_bytes: crate::mem::peak_rss_bytes(),
        };
        let json = serde_json::to_string(&end).map_err(|e| Error::Invalid(e.to_string()))?;
        writeln!(self.file, "#end\t{json}").map_err(io_err(&self.path))?;
        self.file.commit().map_err(io_err(&self.path))?;
        Ok(self.path)
    }
}

impl WindowSink for ShardWriter {
    fn accept(&mut self, sw: &ScoredWindow) -> Result<()> {
        let w = &sw.window;
        let mut line = format!("{}\t{}\t{}\t{}", w.target, w.start, w.len, w.strand);
        match &sw.scores {
            Some(s) => {
                for v in s {
                    line.push('\t');
                    line.push_str(&v.to_string());
                }
            }
            None => line.push_str("\tNA"),
        }
        line.push('\n');
        self.rows += 1;
        self.file
            .write_all(line.as_bytes())
            .map_err(io_err(&self.path))
    }
}

/// One shard file, opened: its header, then its windows through [`ShardReader::replay`].
pub struct ShardReader {
    pub path: PathBuf,
    pub header: ShardHeader,
    reader: Box<dyn BufRead + Send>,
}

fn bad(path: &Path, line: u64, message: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

impl ShardReader {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(io_err(path))?;
        let mut reader: Box<dyn BufRead + Send> =
            Box::new(std::io::BufReader::with_capacity(1 << 20, file));
        let mut first = String::new();
        reader.read_line(&mut first).map_err(io_err(path))?;
        let json = first
            .trim_end()
            .strip_prefix(MAGIC)
            .map(str::trim_start)
            .ok_or_else(|| {
                bad(
                    path,
                    1,
                    "not a genolm scan shard (no #genolm-scan-shard line)",
                )
            })?;
        let header: ShardHeader = serde_json::from_str(json)
            .map_err(|e| bad(path, 1, format!("bad shard header: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            header,
            reader,
        })
    }

    /// Feeds every window to `sink`, checking the rows against the header; returns the end record.
    pub fn replay(mut self, sink: &mut dyn WindowSink) -> Result<ShardEnd> {
        let layout = &self.header.layout;
        let n_classes = layout.classes.len();
        let expected = self.header.windows.1 - self.header.windows.0;
        let mut line = String::new();
        let mut line_no = 1;
        let mut rows = 0u64;
        loop {
            line.clear();
            line_no += 1;
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(io_err(&self.path))?;
            if n == 0 {
                return Err(bad(
                    &self.path,
                    line_no,
                    "ends without its #end line: the shard is incomplete",
                ));
            }
            let text = line.trim_end();
            if let Some(json) = text.strip_prefix("#end") {
                let end: ShardEnd = serde_json::from_str(json.trim())
                    .map_err(|e| bad(&self.path, line_no, format!("bad #end line: {e}")))?;
                if end.windows != rows || rows != expected {
                    return Err(bad(
                        &self.path,
                        line_no,
                        format!("{rows} windows, the header promises {expected}"),
                    ));
                }
                return Ok(end);
            }
            let f: Vec<&str> = text.split('\t').collect();
            let parse = |i: usize| -> Result<u64> {
                f.get(i).and_then(|s| s.parse().ok()).ok_or_else(|| {
                    bad(
                        &self.path,
                        line_no,
                        format!("column {} is not a number", i + 1),
                    )
                })
            };
            let target = parse(0)?;
            if target >= layout.targets.len() as u64 {
                return Err(bad(
                    &self.path,
                    line_no,
                    format!("target {target} is not in the layout"),
                ));
            }
            let strand = match f.get(3) {
                Some(&"+") => Strand::Forward,
                Some(&"-") => Strand::Reverse,
                _ => return Err(bad(&self.path, line_no, "strand is not '+' or '-'")),
            };
            let scores = if f.get(4) == Some(&"NA") && f.len() == 5 {
                None
            } else {
                let s: Option<Vec<f32>> = f[4..].iter().map(|v| v.parse().ok()).collect();
                match s {
                    Some(s) if s.len() == n_classes => Some(s),
                    _ => {
                        return Err(bad(
                            &self.path,
                            line_no,
                            format!("expected {n_classes} scores"),
                        ))
                    }
                }
            };
            rows += 1;
            sink.accept(&ScoredWindow {
                window: Window {
                    target: target as u32,
                    start: parse(1)?,
                    len: parse(2)?,
                    strand,
                },
                scores,
            })?;
        }
    }
}

/// Opens shard files and puts them in order, refusing a set that is not every shard of one scan.
pub fn open_shards(paths: &[PathBuf]) -> Result<Vec<ShardReader>> {
    let mut shards: Vec<ShardReader> = paths
        .iter()
        .map(|p| ShardReader::open(p))
        .collect::<Result<_>>()?;
    shards.sort_by_key(|s| s.header.shard.0);
    let Some(first) = shards.first() else {
        return Err(Error::Invalid("no shard files given".into()));
    };
    let n = first.header.shard.1;
    for s in &shards {
        let h = &s.header;
        if h.shard.1 != n || h.layout != first.header.layout || h.sink != first.header.sink {
            return Err(Error::Invalid(format!(
                "{} is not a shard of the same scan as {} (its layout, settings or shard count differ)",
                s.path.display(),
                first.path.display()
            )));
        }
    }
    for i in 0..n {
        let problem = match shards.iter().filter(|s| s.header.shard.0 == i).count() {
            0 => "missing",
            1 => continue,
            _ => "given twice",
        };
        let given: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Invalid(format!(
            "shard {} of {n} is {problem} (given: {})",
            i + 1,
            given.join(", ")
        )));
    }
    if shards.len() != n as usize {
        return Err(Error::Invalid(format!(
            "{} shard files given for a scan of {n} shards",
            shards.len()
        )));
    }
    Ok(shards)
}
