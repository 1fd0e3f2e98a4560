use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::infer::predict::{ensemble_of, load_classifiers};
use crate::infer::scan::{regions_of, scan, GenomeInfo};
use crate::infer::Predictor;
use crate::train::Precision;
use genolm::genome::Region;
use genolm::track::calls::CallParams;
use genolm::track::shard::{ShardHeader, ShardWriter};
use genolm::track::{NPolicy, ScanLayout, SinkOptions, StrandSet, TrackMode, TrackSink};

#[derive(Args)]
pub struct ScanArgs {
    /// A classifier directory; repeat to average several (an ensemble sharing its classes).
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Genome: FASTA (plain, gzip, bgzf) or GenBank. With a .fai (and .gzi for bgzf) beside it,
    /// regions are read by random access; otherwise records are streamed.
    #[arg(long)]
    genome: PathBuf,
    /// A region to scan, chr:start-end (1-based, inclusive); repeat for more. Default: everything.
    #[arg(long)]
    region: Vec<Region>,
    /// Regions to scan from a BED file (0-based, half-open).
    #[arg(long)]
    regions: Option<PathBuf>,
    /// Window length in bases (default: the length the model was trained on).
    #[arg(long)]
    window: Option<u64>,
    /// Bases between window starts (default: window / 2).
    #[arg(long)]
    step: Option<u64>,
    /// Strand(s) to score: '+', '-' or both (a track per strand and their max).
    #[arg(long, default_value = "+")]
    strand: StrandSet,
    /// Windows with a base other than A/C/G/T: skip them, or score them (such k-mers as <unk>).
    #[arg(long, value_enum, default_value_t = NPolicyArg::Skip)]
    n_policy: NPolicyArg,
    /// Wrap windows across the origin of each sequence (bacterial chromosomes, plasmids); holds
    /// each whole sequence in memory.
    #[arg(long)]
    circular: bool,
    /// Classes to write tracks for (default: the positive class, the second of two; all of more;
    /// every label of a multi-label model).
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// mean: each base gets the mean of the windows covering it; centre: each window's score on a
    /// step-wide bin around its centre.
    #[arg(long, value_enum, default_value_t = TrackArg::Mean)]
    track: TrackArg,
    /// Windows per prediction batch.
    #[arg(long, default_value_t = 256, value_parser = super::at_least_one)]
    batch: usize,
    #[arg(long, default_value = "auto")]
    device: String,
    /// auto: bf16 where the device computes it natively, else fp32.
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    precision: Precision,
    /// Scan part i of n (1-based; whole batches) into PREFIX.shard-i-of-n.windows.tsv; join the
    /// parts with `genolm merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Output prefix: PREFIX.CLASS.STRAND.bedGraph/.bw, PREFIX.CLASS.calls.bed, PREFIX.summary.json.
    #[arg(long)]
    out: PathBuf,
    /// Call regions where the track is at least this.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Join called regions at most this many bases apart.
    #[arg(long, default_value_t = 0)]
    merge_gap: u64,
    /// Drop called regions shorter than this.
    #[arg(long, default_value_t = 1)]
    min_length: u64,
    /// Known sites (BED, or a TSV with a header naming pos/tss, chrom, strand): precision, recall
    /// and F1 of the calls, per-window AUPRC, summit distances.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// A call matches a known site within this many bases.
    #[arg(long, default_value_t = 100)]
    truth_distance: u64,
    /// BigWig zoom levels at most.
    #[arg(long, default_value_t = 10)]
    zooms: u32,
    /// Write bedGraph only.
    #[arg(long)]
    no_bigwig: bool,
    /// Print the summary as one line of JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum NPolicyArg {
    Skip,
    Score,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TrackArg {
    Mean,
    Centre,
}

/// `i/n` (1-based) as a 0-based shard index and count.
fn parse_shard(s: &str) -> Result<(u32, u32)> {
    let parsed = s
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok((i - 1, n)),
        _ => bail!("--shard {s:?}: give i/n with 1 <= i <= n, e.g. 2/4"),
    }
}

/// The classes a command reports (`--classes`, or by default the positive class of a binary model,
/// every class of others and every label of a multi-label one), with their indices.
pub(crate) fn tracked_classes(
    p: &dyn Predictor,
    asked: &[String],
) -> Result<(Vec<String>, Vec<usize>)> {
    let classes = p.classes();
    let names: Vec<String> = match asked {
        // A binary model's positive class; every label of a multi-label one.
        [] if classes.len() == 2 && !p.multi_label() => vec![classes[1].clone()],
        [] => classes.to_vec(),
        asked => asked.to_vec(),
    };
    let idx = names
        .iter()
        .map(|n| {
            classes.iter().position(|c| c == n).with_context(|| {
                format!("--classes: {n:?} is not one of the model's classes {classes:?}")
            })
        })
        .collect::<Result<_>>()?;
    Ok((names, idx))
}

fn model_checksums(dirs: &[PathBuf]) -> Result<Vec<serde_json::Value>> {
    dirs.iter()
        .map(|d| {
            let f = d.join(crate::modeldir::MODEL_FILE);
            Ok(serde_json::json!({
                "dir": d.display().to_string(),
                "model_sha256": genolm::genome::open::sha256_file(&f)?,
            }))
        })
        .collect()
}

pub fn run(a: ScanArgs, stop: &AtomicBool) -> Result<()> {
    let shard = a.shard.as_deref().map(parse_shard).transpose()?;
    let device = crate::device::resolve(a.device.parse()?)?;
    let precision = a.precision.resolve(device)?;
    let models = ensemble_of(load_classifiers(&a.model, device, a.precision)?)?;
    let (classes, class_idx) = tracked_classes(&models, &a.classes)?;
    let window = match a.window {
        Some(w) => w,
        None => models
            .train_len()?
            .context("the model does not record its training sequence length: give --window")?,
    };
    let min_len = models.min_len() as u64;
    if window < min_len {
        bail!("--window {window} is shorter than the model's k ({min_len}): a window must hold a k-mer");
    }
    if let Some(fixed) = models.fixed_len() {
        if window != fixed as u64 {
            bail!("--window {window}: the model reads exactly {fixed} bases (a fixed-length CNN); scan with --window {fixed}");
        }
    }
    let step = a.step.unwrap_or((window / 2).max(1));
    let info = GenomeInfo::open(&a.genome)?;
    let regions = regions_of(&a.region, a.regions.as_deref(), &info)?;
    if a.circular && !regions.is_empty() {
        bail!("--circular wraps whole sequences: it cannot be combined with --region/--regions");
    }
    let layout = ScanLayout {
        targets: info.targets(&regions, a.circular)?,
        window,
        step,
        strands: a.strand,
        n_policy: match a.n_policy {
            NPolicyArg::Skip => NPolicy::Skip,
            NPolicyArg::Score => NPolicy::Score,
        },
        track: match a.track {
            TrackArg::Mean => TrackMode::Mean,
            TrackArg::Centre => TrackMode::Centre,
        },
        classes,
        batch: a.batch,
    };
    layout.validate()?;
    let sink_opts = SinkOptions {
        calls: CallParams {
            threshold: a.threshold,
            merge_gap: a.merge_gap,
            min_length: a.min_length.max(1),
        },
        bigwig: !a.no_bigwig,
        zooms: a.zooms,
        truth: a.truth.clone(),
        truth_distance: a.truth_distance,
    };
    let run_record = serde_json::json!({
        "genome": a.genome.display().to_string(),
        "models": model_checksums(&a.model)?,
        "device": format!("{device:?}"),
        "precision": precision,
        "genolm": env!("CARGO_PKG_VERSION"),
    });
    match shard {
        Some((i, n)) => {
            let range = layout.shard_range(i, n);
            let header = ShardHeader {
                layout: layout.clone(),
                sink: sink_opts,
                shard: (i, n),
                windows: range,
                run: run_record,
            };
            let mut writer = ShardWriter::create(&a.out, &header)?;
            let mut stats = scan(
                &models,
                &layout,
                info,
                range,
                &class_idx,
                &mut writer,
                !a.json,
                stop,
                &a.out,
            )?;
            let path = writer.finish(stats.seconds)?;
            // The peak so far, now that the outputs are written too.
            stats.peak_rss_bytes = genolm::mem::peak_rss_bytes();
            let mut v = serde_json::to_value(&stats)?;
            v["shard"] = format!("{}/{n}", i + 1).into();
            v["file"] = path.display().to_string().into();
            report(
                a.json,
                &v,
                &format!("scan shard {}/{n} -> {}", i + 1, path.display()),
            );
        }
        None => {
            let mut sink = TrackSink::new(&layout, &a.out, &sink_opts)?;
            let range = (0, layout.n_windows());
            let mut stats = scan(
                &models, &layout, info, range, &class_idx, &mut sink, !a.json, stop, &a.out,
            )?;
            let sink_report = sink.finish()?;
            stats.peak_rss_bytes = genolm::mem::peak_rss_bytes();
            let stats_v = serde_json::to_value(&stats)?;
            let (path, v) = genolm::track::sink::write_summary(
                &a.out,
                &layout,
                &sink_opts,
                &run_record,
                stats_v,
                &sink_report,
            )?;
            report(a.json, &v, &human_line(&v, &path));
        }
    }
    Ok(())
}

fn report(json: bool, v: &serde_json::Value, line: &str) {
    if json {
        println!("{v}");
    } else {
        eprintln!("{line}");
    }
}

/// One readable summary line (the JSON has everything).
pub fn human_line(v: &serde_json::Value, path: &std::path::Path) -> String {
    let mut line = format!(
        "scan: {} bp, {} windows ({} skipped) in {:.1} s ({:.0} windows/s, {:.0} bp/s), peak RSS {:.0} MB; calls {}",
        v["bases"],
        v["windows"],
        v["windows_skipped"],
        v["seconds"].as_f64().unwrap_or(0.0),
        v["windows_per_s"].as_f64().unwrap_or(0.0),
        v["bp_per_s"].as_f64().unwrap_or(0.0),
        v["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        v["calls"],
    );
    if let Some(t) = v.get("truth").filter(|t| !t.is_null()) {
        line.push_str(&format!(
            "\ntruth: recall {:.3} ({}/{} sites), precision {:.3} ({}/{} calls), F1 {:.3}, window AUPRC {:.3} (baseline {:.3})",
            t["recall"].as_f64().unwrap_or(0.0),
            t["sites_found"],
            t["sites"],
            t["precision"].as_f64().unwrap_or(0.0),
            t["calls_matched"],
            t["calls"],
            t["f1"].as_f64().unwrap_or(0.0),
            t["window_auprc"].as_f64().unwrap_or(0.0),
            t["window_auprc_baseline"].as_f64().unwrap_or(0.0),
        ));
    }
    line.push_str(&format!("\nsummary: {}", path.display()));
    line
}
