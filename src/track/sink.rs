//! The one consumer of a scan's scored windows: tracks, calls, truth metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::calls::{CallParams, Caller};
use super::coverage::{format_value, Coverage, Runs};
use super::layout::{ScanLayout, Target, TrackMode, Window};
use super::truth::{TruthEval, TruthReport, TruthSet};
use super::{file_stem_of, io_err, Result};
use crate::fsutil::{AtomicFile, StagedPath};
use crate::genome::Strand;

/// A window and its class scores (the layout's classes, in order); `None`: skipped (N policy).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredWindow {
    pub window: Window,
    pub scores: Option<Vec<f32>>,
}

/// Where scored windows go, in the layout's canonical order.
pub trait WindowSink {
    fn accept(&mut self, w: &ScoredWindow) -> Result<()>;
}

/// How tracks become files; recorded in shard files, so a merge writes what the scan would have.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SinkOptions {
    pub calls: CallParams,
    pub bigwig: bool,
    /// BigWig zoom levels at most (bigtools' default: 10).
    pub zooms: u32,
    pub truth: Option<PathBuf>,
    pub truth_distance: u64,
}

/// What the sink wrote and measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SinkReport {
    pub files: Vec<String>,
    pub windows_scored: u64,
    pub windows_skipped: u64,
    /// Called regions per class.
    pub calls: BTreeMap<String, u64>,
    /// Tracks without a value (every window skipped): no BigWig is written for them.
    pub empty_tracks: Vec<String>,
    pub truth: Option<TruthReport>,
}

struct TrackFile {
    path: PathBuf,
    file: AtomicFile,
    runs: Runs,
}

/// Turns scored windows into `PREFIX.CLASS.{plus,minus,max}.bedGraph` (and `.bw`), per-class
/// `PREFIX.CLASS.calls.bed`, and with `--truth` the summit-distance table and plot. Everything
/// is written under temporary names and renamed by [`TrackSink::finish`].
pub struct TrackSink {
    layout: ScanLayout,
    opts: SinkOptions,
    prefix: PathBuf,
    strands: Vec<Strand>,
    /// Per class: one track per strand, then the strands' max when there are two.
    tracks: Vec<TrackFile>,
    per_class: usize,
    calls_files: Vec<(PathBuf, AtomicFile)>,
    /// Per (class, strand).
    callers: Vec<Caller>,
    calls_written: Vec<u64>,
    current: Option<(u32, Coverage)>,
    truth: Option<TruthEval>,
    windows_scored: u64,
    windows_skipped: u64,
}

fn strand_name(s: Strand) -> &'static str {
    match s {
        Strand::Forward => "plus",
        Strand::Reverse => "minus",
    }
}

impl TrackSink {
    pub fn new(layout: &ScanLayout, prefix: &Path, opts: &SinkOptions) -> Result<Self> {
        layout.validate()?;
        if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let strands = layout.strands.strands().to_vec();
        let both = strands.len() > 1;
        let mut tracks = Vec::new();
        let mut calls_files = Vec::new();
        for class in &layout.classes {
            let stem = file_stem_of(class);
            let mut names: Vec<&str> = strands.iter().map(|&s| strand_name(s)).collect();
            if both {
                names.push("max");
            }
            for name in names {
                let path = with_ext(prefix, &format!("{stem}.{name}.bedGraph"));
                let mut file = AtomicFile::create(&path).map_err(io_err(&path))?;
                writeln!(
                    file,
                    "track type=bedGraph name=\"{class} {name}\" description=\"genolm scan: {class}, \
                     {name} strand{}, window {} step {}\"",
                    if name == "max" { "s (max)" } else { "" },
                    layout.window,
                    layout.step
                )
                .map_err(io_err(&path))?;
                tracks.push(TrackFile {
                    path,
                    file,
                    runs: Runs::default(),
                });
            }
            let path = with_ext(prefix, &format!("{stem}.calls.bed"));
            let file = AtomicFile::create(&path).map_err(io_err(&path))?;
            calls_files.push((path, file));
        }
        let callers = layout
            .classes
            .iter()
            .flat_map(|_| strands.iter().map(|&s| Caller::new(opts.calls, s)))
            .collect();
        let truth = match &opts.truth {
            Some(p) => {
                let only = match layout.targets.first() {
                    Some(t) if layout.targets.iter().all(|u| u.name == t.name) => {
                        Some(t.name.as_str())
                    }
                    _ => None,
                };
                Some(TruthEval::new(
                    TruthSet::load(p, only)?,
                    opts.truth_distance,
                    &strands,
                ))
            }
            None => None,
        };
        Ok(Self {
            layout: layout.clone(),
            opts: opts.clone(),
            prefix: prefix.to_path_buf(),
            per_class: strands.len() + usize::from(both),
            strands,
            tracks,
            calls_files,
            callers,
            calls_written: vec![0; layout.classes.len()],
            current: None,
            truth,
            windows_scored: 0,
            windows_skipped: 0,
        })
    }

    /// The bases `[a, b)` a window's score goes to, in chromosome coordinates (two parts when it
    /// wraps a circular origin).
    fn spread(&self, t: &Target, w: &Window) -> Vec<(u64, u64)> {
        match self.layout.track {
            TrackMode::Mean => {
                let end = w.start + w.len;
                if end <= t.length {
                    vec![(w.start, end)]
                } else {
                    vec![(w.start, t.length), (0, end - t.length)]
                }
            }
            TrackMode::Centre => {
                // A step-wide bin around the centre, kept inside the target.
                let centre = (w.start + w.len / 2) % t.length.max(1);
                let first = centre.saturating_sub(self.layout.step / 2);
                let a = first.clamp(t.start, t.end - 1);
                let b = (first + self.layout.step).clamp(a + 1, t.end);
                vec![(a, b)]
            }
        }
    }

    fn begin_target(&mut self, target: u32) {
        let t = &self.layout.targets[target as usize];
        let horizon = 2 * (self.layout.window + self.layout.step);
        let lanes = self.layout.classes.len() * self.strands.len();
        self.current = Some((target, Coverage::new(lanes, t.start, horizon)));
    }

    fn flush(&mut self, to: Option<u64>) -> Result<()> {
        let Some((target, mut cov)) = self.current.take() else {
            return Ok(());
        };
        let t = self.layout.targets[target as usize].clone();
        let mut failed = None;
        let mut on_base = |b: u64, v: &[Option<f64>]| {
            if failed.is_none() {
                if let Err(e) = self.base(&t.name, b, v) {
                    failed = Some(e);
                }
            }
        };
        match to {
            Some(p) => cov.flush_to(p, &mut on_base),
            None => cov.finish(t.end, &mut on_base),
        }
        if let Some(e) = failed {
            return Err(e);
        }
        self.current = Some((target, cov));
        Ok(())
    }

    /// One base's values (one per (class, strand) lane) to the tracks and callers.
    fn base(&mut self, chrom: &str, b: u64, values: &[Option<f64>]) -> Result<()> {
        let ns = self.strands.len();
        for c in 0..self.layout.classes.len() {
            let lanes = &values[c * ns..(c + 1) * ns];
            for (j, &v) in lanes.iter().enumerate() {
                let ti = c * self.per_class + j;
                if let Some(seg) = self.tracks[ti].runs.push(b, v) {
                    write_segment(&mut self.tracks[ti], chrom, seg)?;
                    self.callers[c * ns + j].segment(seg.0, seg.1, seg.2);
                }
            }
            if ns > 1 {
                let max = lanes.iter().flatten().copied().reduce(f64::max);
                let ti = c * self.per_class + ns;
                if let Some(seg) = self.tracks[ti].runs.push(b, max) {
                    write_segment(&mut self.tracks[ti], chrom, seg)?;
                }
            }
        }
        Ok(())
    }

    /// The current target is complete: its last bases, open segments and called regions.
    fn end_target(&mut self) -> Result<()> {
        let Some(&(target, _)) = self.current.as_ref() else {
            return Ok(());
        };
        self.flush(None)?;
        self.current = None;
        let t = self.layout.targets[target as usize].clone();
        let ns = self.strands.len();
        for ti in 0..self.tracks.len() {
            if let Some(seg) = self.tracks[ti].runs.finish() {
                write_segment(&mut self.tracks[ti], &t.name, seg)?;
                let (c, j) = (ti / self.per_class, ti % self.per_class);
                if j < ns {
                    self.callers[c * ns + j].segment(seg.0, seg.1, seg.2);
                }
            }
        }
        for c in 0..self.layout.classes.len() {
            let mut calls = Vec::new();
            for j in 0..ns {
                let caller = &mut self.callers[c * ns + j];
                caller.close();
                calls.append(&mut caller.done);
            }
            calls.sort_by_key(|k| (k.start, k.end, k.strand.as_byte()));
            if c == 0 {
                if let Some(te) = &mut self.truth {
                    te.target_done(&t, &calls);
                }
            }
            let stem = file_stem_of(&self.layout.classes[c]);
            let (path, file) = &mut self.calls_files[c];
            for call in &calls {
                self.calls_written[c] += 1;
                let name = format!("{stem}.{}", self.calls_written[c]);
                file.write_all(call.bed_line(&t.name, &name).as_bytes())
                    .map_err(io_err(path.as_path()))?;
            }
        }
        Ok(())
    }

    /// Flushes every track, writes BigWigs and the truth outputs, and renames everything into
    /// place.
    pub fn finish(mut self) -> Result<SinkReport> {
        self.end_target()?;
        let mut staged: Vec<(PathBuf, AtomicFile)> = Vec::new();
        let mut bigwigs = Vec::new();
        let mut empty_tracks = Vec::new();
        let sizes = chrom_sizes(&self.layout);
        for mut t in std::mem::take(&mut self.tracks) {
            let tmp = t.file.staged().map_err(io_err(&t.path))?.to_path_buf();
            if self.opts.bigwig {
                let bw_path = t.path.with_extension("bw");
                let bw = StagedPath::create(&bw_path).map_err(io_err(&bw_path))?;
                if super::bigwig::bedgraph_to_bigwig(&tmp, bw.tmp(), &sizes, self.opts.zooms)? {
                    bigwigs.push(bw);
                } else {
                    empty_tracks.push(t.path.display().to_string());
                }
            }
            staged.push((t.path, t.file));
        }
        staged.append(&mut self.calls_files);
        let mut extra = Vec::new();
        let truth = match &self.truth {
            Some(te) => {
                let report = te.report();
                extra = self.write_truth_outputs(te, &report)?;
                Some(report)
            }
            None => None,
        };
        let mut files: Vec<String> = Vec::new();
        for (path, file) in staged {
            file.commit().map_err(io_err(&path))?;
            files.push(path.display().to_string());
        }
        for bw in bigwigs {
            let path = bw.path().to_path_buf();
            bw.commit().map_err(io_err(&path))?;
            files.push(path.display().to_string());
        }
        files.extend(extra.iter().map(|p| p.display().to_string()));
        Ok(SinkReport {
            files,
            windows_scored: self.windows_scored,
            windows_skipped: self.windows_skipped,
            calls: self
                .layout
                .classes
                .iter()
                .cloned()
                .zip(self.calls_written.iter().copied())
                .collect(),
            empty_tracks,
            truth,
        })
    }

    /// `PREFIX.summit-distance.tsv` and its histogram plot.
    fn write_truth_outputs(&self, te: &TruthEval, report: &TruthReport) -> Result<Vec<PathBuf>> {
        let bin = 10;
        let hist = te.distance_histogram(bin);
        let path = with_ext(&self.prefix, "summit-distance.tsv");
        let mut text = String::from("bin_start\tbin_end\tcalls\n");
        for &(b, n) in &hist {
            text.push_str(&format!("{b}\t{}\t{n}\n", b + bin));
        }
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(io_err(&path))?;
        let dir = self
            .prefix
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let stem = format!(
            "{}.summit-distance",
            self.prefix
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut out = vec![path];
        out.extend(super::plot::distance_histogram(
            dir,
            &stem,
            &hist,
            bin,
            report.calls_matched,
        )?);
        Ok(out)
    }
}

impl WindowSink for TrackSink {
    fn accept(&mut self, sw: &ScoredWindow) -> Result<()> {
        let w = sw.window;
        if self.current.as_ref().map(|c| c.0) != Some(w.target) {
            self.end_target()?;
            self.begin_target(w.target);
        }
        let Some(scores) = &sw.scores else {
            self.windows_skipped += 1;
            return Ok(());
        };
        self.windows_scored += 1;
        let t = self.layout.targets[w.target as usize].clone();
        let parts = self.spread(&t, &w);
        if w.start + w.len <= t.length {
            // Windows after this one start no earlier: bases before its span are final.
            self.flush(Some(parts[0].0))?;
        }
        let ns = self.strands.len();
        let j = self
            .strands
            .iter()
            .position(|&s| s == w.strand)
            .unwrap_or(0);
        let (_, cov) = self.current.as_mut().expect("target begun");
        for (c, &score) in scores.iter().enumerate() {
            for &(a, b) in &parts {
                cov.add(c * ns + j, a, b, f64::from(score));
            }
        }
        if let (Some(te), Some(&s)) = (&mut self.truth, scores.first()) {
            te.window(&t, w.start, w.len, w.strand, f64::from(s));
        }
        Ok(())
    }
}

fn write_segment(t: &mut TrackFile, chrom: &str, (a, b, v): (u64, u64, f64)) -> Result<()> {
    writeln!(t.file, "{chrom}\t{a}\t{b}\t{}", format_value(v)).map_err(io_err(&t.path))
}

/// `PREFIX.suffix` (PREFIX may itself contain dots).
pub fn with_ext(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// Chromosome sizes for BigWig headers: every chromosome the layout touches, in layout order.
pub fn chrom_sizes(layout: &ScanLayout) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for t in &layout.targets {
        if !out.iter().any(|(n, _)| n == &t.name) {
            out.push((t.name.clone(), t.length));
        }
    }
    out
}

/// `PREFIX.summary.json`: what was scanned, how fast, with what, and what came out. `run` holds
/// the scan's own record (models, device, precision), `stats` its counts and timings.
pub fn write_summary(
    prefix: &Path,
    layout: &ScanLayout,
    sink: &SinkOptions,
    run: &serde_json::Value,
    stats: serde_json::Value,
    report: &SinkReport,
) -> Result<(PathBuf, serde_json::Value)> {
    let mut v = serde_json::json!({
        "chromosomes": layout.targets,
        "bases": layout.bases(),
        "strands": layout.strands,
        "settings": {
            "window": layout.window,
            "step": layout.step,
            "strand": layout.strands,
            "n_policy": layout.n_policy,
            "track": layout.track,
            "classes": layout.classes,
            "batch": layout.batch,
            "threshold": sink.calls.threshold,
            "merge_gap": sink.calls.merge_gap,
            "min_length": sink.calls.min_length,
            "bigwig": sink.bigwig,
            "zooms": sink.zooms,
            "truth": sink.truth,
            "truth_distance": sink.truth_distance,
        },
        "run": run,
        "files": report.files,
        "empty_tracks": report.empty_tracks,
        "calls": report.calls,
        "truth": report.truth,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), stats) {
        obj.extend(extra);
    }
    let path = with_ext(prefix, "summary.json");
    let text =
        serde_json::to_string_pretty(&v).map_err(|e| super::Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&path, format!("{text}\n").as_bytes()).map_err(io_err(&path))?;
    Ok((path, v))
}
