//! `genolm merge` (shards of a scan into its tracks) and `genolm plot track`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::genome::Region;
use crate::track::plot::{self, TrackFigure, TrackSeries};
use crate::track::shard::open_shards;
use crate::track::truth::TruthSet;
use crate::track::{ScanStats, ScoredWindow, TrackSink, WindowSink};

#[derive(Args)]
pub struct MergeArgs {
    /// Every shard file of one scan (PREFIX.shard-I-of-N.windows.tsv), in any order.
    #[arg(long, num_args = 1.., required = true)]
    shards: Vec<PathBuf>,
    /// Output prefix: the same files an unsharded `genolm scan --out PREFIX` writes.
    #[arg(long)]
    out: PathBuf,
    /// Print the summary as one line of JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// A sink that stops at Ctrl-C, so the outputs' temporary files are removed (dropped) on the way out.
struct StopOnInterrupt<'a>(&'a mut TrackSink);

impl WindowSink for StopOnInterrupt<'_> {
    fn accept(&mut self, w: &ScoredWindow) -> crate::track::Result<()> {
        if super::INTERRUPTED.load(Ordering::Relaxed) {
            return Err(crate::track::Error::Invalid(
                "interrupted: nothing was written".into(),
            ));
        }
        self.0.accept(w)
    }
}

pub fn run_merge(a: MergeArgs) -> Result<()> {
    let started = Instant::now();
    let shards = open_shards(&a.shards)?;
    let header = shards[0].header.clone();
    let mut sink = TrackSink::new(&header.layout, &a.out, &header.sink)?;
    let mut shard_seconds = 0.0;
    let mut shard_rss = 0u64;
    for s in shards {
        let end = s.replay(&mut StopOnInterrupt(&mut sink))?;
        shard_seconds += end.seconds;
        shard_rss = shard_rss.max(end.peak_rss_bytes);
    }
    let report = sink.finish()?;
    let stats = ScanStats::new(
        report.windows_scored,
        report.windows_skipped,
        header.layout.bases(),
        shard_seconds,
        shard_rss,
    );
    let mut stats_v = serde_json::to_value(&stats)?;
    stats_v["shards"] = header.shard.1.into();
    stats_v["merge_seconds"] = started.elapsed().as_secs_f64().into();
    let (path, v) = crate::track::sink::write_summary(
        &a.out,
        &header.layout,
        &header.sink,
        &header.run,
        stats_v,
        &report,
    )?;
    if a.json {
        println!("{v}");
    } else {
        eprintln!(
            "merge: {} shards, {} windows -> {} files; summary {}",
            header.shard.1,
            stats.windows,
            report.files.len(),
            path.display()
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum PlotCommand {
    /// Score tracks of a region with called regions, known sites and genes, as PNG and SVG.
    Track(PlotTrackArgs),
    /// Classifier MCC against LM pretraining compute, from scripts/pretraining-curve.sh's
    /// results.jsonl: each split a dot, the mean a line, the naive baseline dashed.
    PretrainingCurve(PlotCurveArgs),
}

#[derive(Args)]
pub struct PlotCurveArgs {
    /// One JSON row per classifier (task, series, split, pretrain_cpu_s, mcc, naive_mcc).
    #[arg(long)]
    results: PathBuf,
    /// Output image: FILE.png or FILE.svg (both are written).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct PlotTrackArgs {
    /// BigWig tracks to draw (e.g. PREFIX.CLASS.plus.bw and PREFIX.CLASS.minus.bw).
    #[arg(long, num_args = 1..)]
    bigwig: Vec<PathBuf>,
    /// bedGraph tracks to draw.
    #[arg(long, num_args = 1..)]
    bedgraph: Vec<PathBuf>,
    /// Called regions (PREFIX.CLASS.calls.bed).
    #[arg(long, num_args = 1..)]
    calls: Vec<PathBuf>,
    /// Known sites (BED, or TSV with pos/tss, chrom, strand columns).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Genes drawn as arrows: GenBank, or GFF3 (.gff/.gff3, optionally gzipped).
    #[arg(long)]
    genes: Option<PathBuf>,
    /// The region, chr:start-end (1-based, inclusive).
    #[arg(long)]
    region: Region,
    /// Output image: FILE.png or FILE.svg (both are written).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    title: Option<String>,
}

/// A track's legend name: its file name without the extension.
fn track_name(p: &std::path::Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.rsplit_once('.')
        .map(|(s, _)| s.to_string())
        .unwrap_or(name)
}

pub fn run_plot(cmd: PlotCommand) -> Result<()> {
    let a = match cmd {
        PlotCommand::Track(a) => a,
        PlotCommand::PretrainingCurve(a) => return plot_pretraining_curve(&a),
    };
    let Some(end) = a.region.end else {
        bail!("--region {}: give chr:start-end", a.region);
    };
    let region = a.region.to_interval(end);
    if a.bigwig.is_empty() && a.bedgraph.is_empty() {
        bail!("give at least one --bigwig or --bedgraph track");
    }
    let mut tracks = Vec::new();
    for p in &a.bigwig {
        tracks.push(TrackSeries {
            name: track_name(p),
            segments: plot::read_bigwig(p, &region)?,
        });
    }
    for p in &a.bedgraph {
        tracks.push(TrackSeries {
            name: track_name(p),
            segments: plot::read_bedgraph(p, &region)?,
        });
    }
    let mut calls = Vec::new();
    for p in &a.calls {
        calls.extend(plot::read_calls(p, &region)?);
    }
    let sites = match &a.truth {
        Some(p) => plot::truth_features(&TruthSet::load(p, Some(&region.name))?, &region),
        None => Vec::new(),
    };
    let genes = match &a.genes {
        Some(p) => plot::read_genes(p, &region)?,
        None => Vec::new(),
    };
    let fig = TrackFigure {
        title: a.title.clone().unwrap_or_else(|| format!("{}", a.region)),
        chrom: region.name.clone(),
        start: region.start,
        end: region.end,
        tracks,
        calls,
        sites,
        genes,
    };
    let (dir, stem) = image_target(&a.out)?;
    let files = plot::track_figure(&dir, &stem, &fig)?;
    for f in files {
        eprintln!("plot track: {}", f.display());
    }
    Ok(())
}

/// The directory (created) and file stem of an --out FILE.png|svg.
fn image_target(out: &std::path::Path) -> Result<(PathBuf, String)> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .context("--out needs a file name")?;
    Ok((dir, stem))
}

fn plot_pretraining_curve(a: &PlotCurveArgs) -> Result<()> {
    use crate::eval::pretraining_curve;
    let rows = pretraining_curve::read_rows(&a.results)?;
    let (dir, stem) = image_target(&a.out)?;
    for f in pretraining_curve::draw(&rows, &dir, &stem)? {
        eprintln!("plot pretraining-curve: {}", f.display());
    }
    Ok(())
}
