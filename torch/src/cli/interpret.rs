//! `genolm interpret ism` and `genolm interpret saliency`: in-silico mutagenesis and gradient
//! attributions of each sequence of a FASTA.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::variants::Strands;
use crate::infer::predict::ensemble_of;
use crate::infer::Predictor;
use crate::interpret::attribution::{AttributionOptions, Method};
use crate::interpret::ism::{ism, plot, tsv_rows, IsmOptions, TSV_HEADER};
use genolm::fsutil::StagingDir;

/// What both interpret commands read and write.
#[derive(Args)]
pub struct InterpretIo {
    #[command(flatten)]
    models: super::ModelArgs,
    /// Sequences (FASTA, plain or gzip), each of a length the model reads.
    #[arg(long)]
    fasta: PathBuf,
    /// Output directory (what it holds: the command's help).
    #[arg(long)]
    out: PathBuf,
    /// The class followed (default: the positive class, the second of two; the first otherwise).
    #[arg(long)]
    class: Option<String>,
    /// `both`: the mean over the sequence and its reverse complement (read back onto it).
    #[arg(long, value_enum, default_value_t = Strands::Plus)]
    strand: Strands,
    /// A 1-based position drawn on every plot, and the profile's origin (e.g. 61, the TSS of the
    /// 81 bp promoter sets).
    #[arg(long)]
    mark: Option<usize>,
    /// The legend of --mark.
    #[arg(long, default_value = "TSS")]
    mark_label: String,
    /// Plots for the first N sequences.
    #[arg(long, default_value_t = 5)]
    max_plots: usize,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
}

/// In-silico mutagenesis. Out: ism.tsv (one row per substitution), ism-N.svg/png and
/// ism-heatmap-N.svg/png per plotted sequence, run.json.
#[derive(Args)]
pub struct IsmArgs {
    #[command(flatten)]
    io: InterpretIo,
    /// Mutants per forward pass (the fast CNN path reads only each one's receptive field, so
    /// large batches stay small in memory).
    #[arg(long, default_value_t = 512, value_parser = super::at_least_one)]
    batch_size: usize,
    /// Predict every mutant whole instead of the family's fast path (CNN receptive field, LSTM
    /// state cache); for checking and timing.
    #[arg(long)]
    naive: bool,
}

pub fn ism_command(a: IsmArgs, stop: &AtomicBool) -> Result<()> {
    let models = ensemble_of(a.io.models.load()?)?;
    if models.multi_label() {
        bail!("interpret ism follows one class of a single-label model; this one is multi-label");
    }
    let asked: Vec<String> = a.io.class.iter().cloned().collect();
    let (names, idx) = super::scan::tracked_classes(&models, &asked)?;
    let (class_name, class) = (names[0].clone(), idx[0]);
    let o = IsmOptions {
        class,
        both_strands: matches!(a.io.strand, Strands::Both),
        batch_size: a.batch_size,
        naive: a.naive,
    };
    let staging = StagingDir::create(&a.io.out, a.io.force)?;
    let mut tsv = create_tsv(&staging, "ism.tsv", TSV_HEADER.as_bytes())?;
    let (mut stream, tap, bar) = open_with_progress(&a.io.fasta, "interpret ism")?;
    let started = std::time::Instant::now();
    let (mut sequences, mut mutants) = (0usize, 0usize);
    while let Some((id, seq)) = genolm::genome::fasta::read_batch(&mut *stream, 1, usize::MAX)?
        .into_iter()
        .next()
    {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted: {} not written", a.io.out.display());
        }
        check_record(&models, &a.io.fasta, &id, &seq)?;
        let r = ism(&models, &seq, &o).with_context(|| format!("record {id:?}"))?;
        tsv.write_all(&tsv_rows(&id, &class_name, &r))?;
        if sequences < a.io.max_plots {
            let title = format!(
                "{id}: P({class_name}) = {:.3}; each substitution's change",
                r.p_ref
            );
            let y_label = format!("change in P({class_name})");
            let mark = a.io.mark.map(|m| (m, a.io.mark_label.as_str()));
            let figure = plot(&r, &title, &y_label, mark);
            genolm::plot::render(staging.path(), &format!("ism-{}", sequences + 1), &figure)?;
            let changes = crate::interpret::ism::changes(&seq, &r);
            let heatmap = genolm::motif::plot::IsmHeatmap {
                title: format!("{id}: change in P({class_name}) per substitution"),
                bases: &seq,
                changes: &changes,
            };
            genolm::plot::render(
                staging.path(),
                &format!("ism-heatmap-{}", sequences + 1),
                &heatmap,
            )?;
        }
        sequences += 1;
        mutants += r.substitutions.len();
        bar.set_bytes(
            tap.bytes.load(Ordering::Relaxed),
            format!(
                "{sequences} sequences, {:.0} substitutions/s",
                mutants as f64 / started.elapsed().as_secs_f64().max(1e-9)
            ),
        );
    }
    finish_tsv(&bar, tsv, sequences, &a.io.fasta)?;
    let seconds = started.elapsed().as_secs_f64();
    let run = serde_json::json!({
        "sequences": sequences,
        "substitutions": mutants,
        "seconds": seconds,
        "substitutions_per_s": mutants as f64 / seconds.max(1e-9),
    });
    let out = commit_run(staging, &a.io, &class_name, run)?;
    eprintln!(
        "interpret ism: {sequences} sequences, {mutants} substitutions in {seconds:.1} s ({:.0}/s) -> {}",
        mutants as f64 / seconds.max(1e-9),
        out.display()
    );
    Ok(())
}

/// Gradient attributions. Out: saliency.tsv (one row per base), saliency-N.svg/png for the first
/// sequences, profile.tsv/svg/png (the mean per position, when all sequences have one length),
/// run.json.
#[derive(Args)]
pub struct SaliencyArgs {
    #[command(flatten)]
    io: InterpretIo,
    #[arg(long, value_enum, default_value_t = Method::GradXInput)]
    method: Method,
    /// Integrated gradients: points on each path.
    #[arg(long, default_value_t = 32, value_parser = super::at_least_one)]
    steps: usize,
    /// Integrated gradients: dinucleotide-shuffled references per sequence.
    #[arg(long, default_value_t = 4, value_parser = super::at_least_one)]
    references: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Rows (sequences, or path points of integrated gradients) per forward and backward pass.
    #[arg(long, default_value_t = 128, value_parser = super::at_least_one)]
    batch_size: usize,
}

pub fn saliency_command(a: SaliencyArgs, stop: &AtomicBool) -> Result<()> {
    let models = ensemble_of(a.io.models.load()?)?;
    let asked: Vec<String> = a.io.class.iter().cloned().collect();
    let (names, idx) = super::scan::tracked_classes(&models, &asked)?;
    let (class_name, class) = (names[0].clone(), idx[0]);
    let o = AttributionOptions {
        class,
        method: a.method,
        steps: a.steps,
        references: a.references,
        seed: a.seed,
        batch_size: a.batch_size,
    };
    let staging = StagingDir::create(&a.io.out, a.io.force)?;
    let mut tsv = create_tsv(&staging, "saliency.tsv", b"id\tposition\tbase\tscore\n")?;
    let (mut stream, tap, bar) = open_with_progress(&a.io.fasta, "interpret saliency")?;
    let started = std::time::Instant::now();
    let mut sequences = 0usize;
    // Time in the attributions themselves (the rest: reading, writing, plots).
    let mut compute_seconds = 0.0f64;
    // Per-position sums for the profile while every sequence has the first one's length.
    let mut profile: Option<(Vec<f64>, usize)> = None;
    let mut one_length = true;
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted: {} not written", a.io.out.display());
        }
        let chunk = genolm::genome::fasta::read_batch(&mut *stream, a.batch_size, 64 << 20)?;
        if chunk.is_empty() {
            break;
        }
        for (id, seq) in &chunk {
            check_record(&models, &a.io.fasta, id, seq)?;
        }
        let seqs: Vec<&[u8]> = chunk.iter().map(|(_, s)| s.as_slice()).collect();
        let computing = std::time::Instant::now();
        let scores = strand_attributions(&models, &seqs, &o, matches!(a.io.strand, Strands::Both))?;
        compute_seconds += computing.elapsed().as_secs_f64();
        for ((id, seq), sc) in chunk.iter().zip(&scores) {
            tsv.write_all(&saliency_rows(id, seq, sc))?;
            match &mut profile {
                None if one_length => {
                    profile = Some((sc.iter().map(|&v| f64::from(v)).collect(), 1))
                }
                Some((sum, n)) if sum.len() == sc.len() => {
                    for (s, &v) in sum.iter_mut().zip(sc) {
                        *s += f64::from(v);
                    }
                    *n += 1;
                }
                _ => {
                    one_length = false;
                    profile = None;
                }
            }
            if sequences < a.io.max_plots {
                let figure = genolm::motif::plot::SaliencyBars {
                    title: format!("{id}: {} for {class_name}", method_name(a.method)),
                    bases: seq,
                    scores: sc,
                    y_label: format!("{} (log-odds)", method_name(a.method)),
                    mark: a.io.mark.map(|m| (m, a.io.mark_label.clone())),
                };
                genolm::plot::render(
                    staging.path(),
                    &format!("saliency-{}", sequences + 1),
                    &figure,
                )?;
            }
            sequences += 1;
        }
        bar.set_bytes(
            tap.bytes.load(Ordering::Relaxed),
            format!(
                "{sequences} sequences, {:.0}/s",
                sequences as f64 / started.elapsed().as_secs_f64().max(1e-9)
            ),
        );
    }
    finish_tsv(&bar, tsv, sequences, &a.io.fasta)?;
    if let Some((sum, n)) = &profile {
        write_profile(staging.path(), sum, *n, &a, &class_name)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let run = serde_json::json!({
        "method": a.method,
        "score": "the class's log-odds (logit for a multi-label model)",
        "steps": a.steps,
        "references": a.references,
        "seed": a.seed,
        "sequences": sequences,
        "seconds": seconds,
        "sequences_per_s": sequences as f64 / seconds.max(1e-9),
        "compute_seconds": compute_seconds,
        "compute_sequences_per_s": sequences as f64 / compute_seconds.max(1e-9),
    });
    let out = commit_run(staging, &a.io, &class_name, run)?;
    eprintln!(
        "interpret saliency: {sequences} sequences in {seconds:.1} s ({:.0}/s) -> {}",
        sequences as f64 / seconds.max(1e-9),
        out.display()
    );
    Ok(())
}

/// Rows of saliency.tsv for one sequence (positions 1-based).
fn saliency_rows(id: &str, seq: &[u8], scores: &[f32]) -> Vec<u8> {
    use genolm::numfmt::{push_fixed6, push_int};
    let mut buf = Vec::with_capacity(seq.len() * (id.len() + 20));
    for (i, (&b, &v)) in seq.iter().zip(scores).enumerate() {
        buf.extend_from_slice(id.as_bytes());
        buf.push(b'\t');
        push_int(&mut buf, i as u64 + 1);
        buf.push(b'\t');
        buf.push(b);
        buf.push(b'\t');
        push_fixed6(&mut buf, f64::from(v));
        buf.push(b'\n');
    }
    buf
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Grad => "gradient",
        Method::GradXInput => "gradient x input",
        Method::Integrated => "integrated gradients",
    }
}

/// Attributions on the strand given, or (`both`) their mean with the reverse complement's read
/// back onto it.
fn strand_attributions(
    models: &dyn Predictor,
    seqs: &[&[u8]],
    o: &AttributionOptions,
    both: bool,
) -> Result<Vec<Vec<f32>>> {
    let mut out = models.attributions(seqs, o)?;
    if both && !models.strand_symmetric() {
        let rc: Vec<Vec<u8>> = seqs
            .iter()
            .map(|s| genolm::genome::nucleotide::reverse_complement(s))
            .collect();
        let refs: Vec<&[u8]> = rc.iter().map(Vec::as_slice).collect();
        crate::infer::average_reversed(&mut out, models.attributions(&refs, o)?);
    }
    Ok(out)
}

/// The mean attribution per position over the sequences (one length), positions relative to
/// `--mark` when given: profile.tsv and its plot.
fn write_profile(
    dir: &std::path::Path,
    sum: &[f64],
    n: usize,
    a: &SaliencyArgs,
    class_name: &str,
) -> Result<()> {
    let origin = a.io.mark.unwrap_or(0) as i64;
    let mut text = String::from("position\trelative\tmean_score\n");
    let mut points = Vec::with_capacity(sum.len());
    for (i, s) in sum.iter().enumerate() {
        let rel = i as i64 + 1 - origin;
        let mean = s / n as f64;
        text.push_str(&format!("{}\t{rel}\t{mean:.6}\n", i + 1));
        points.push((rel as f64, mean));
    }
    std::fs::write(dir.join("profile.tsv"), text)?;
    let title = format!(
        "mean {} for {class_name} over {n} sequences",
        method_name(a.method)
    );
    let x_label = match a.io.mark {
        Some(_) => format!("position relative to {} (bases)", a.io.mark_label),
        None => "position (1-based)".to_string(),
    };
    let plot = genolm::plot::LinePlot {
        title: &title,
        x_label: &x_label,
        y_label: "mean attribution (log-odds)",
        series: vec![genolm::plot::Series {
            name: method_name(a.method).to_string(),
            points,
            color: genolm::plot::PALETTE[0],
            stroke: genolm::plot::Stroke::Solid,
            markers: false,
        }],
        zoom_y: None,
        log_x: false,
        legend: genolm::plot::LegendAt::UpperLeft,
    };
    genolm::plot::render(dir, "profile", &plot)?;
    Ok(())
}

/// The FASTA's records through a byte tap, and a progress bar over its size (throughput, ETA).
fn open_with_progress(
    fasta: &std::path::Path,
    label: &str,
) -> Result<(
    Box<dyn genolm::genome::RecordStream>,
    std::sync::Arc<genolm::genome::open::InputTap>,
    genolm::progress::Progress,
)> {
    let tap = std::sync::Arc::new(genolm::genome::open::InputTap::default());
    let (_, stream) = genolm::genome::open::open_records_tapped(
        fasta,
        None,
        Some(std::sync::Arc::clone(&tap)),
        genolm::genome::open::io_threads(),
    )?;
    let size = std::fs::metadata(fasta)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let bar = genolm::progress::Progress::bytes_with_bp(size, label, true);
    Ok((stream, tap, bar))
}

/// A record the models cannot read: an error naming the file, the record and what they need.
fn check_record(
    models: &dyn Predictor,
    fasta: &std::path::Path,
    id: &str,
    seq: &[u8],
) -> Result<()> {
    if let Some(f) = models.fixed_len().filter(|&f| f != seq.len()) {
        bail!(
            "{}: record {id:?} has {} bases; the model reads exactly {f}",
            fasta.display(),
            seq.len()
        );
    }
    if seq.len() < models.min_len() {
        bail!(
            "{}: record {id:?} has {} bases; the model needs at least {}",
            fasta.display(),
            seq.len(),
            models.min_len()
        );
    }
    Ok(())
}

/// `name` in the staging directory, its header written.
fn create_tsv(
    staging: &StagingDir,
    name: &str,
    header: &[u8],
) -> Result<std::io::BufWriter<std::fs::File>> {
    let path = staging.path().join(name);
    let mut tsv = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| path.display().to_string())?,
    );
    tsv.write_all(header)?;
    Ok(tsv)
}

/// After the last sequence: the bar closed, an input without sequences refused, the table on disk.
fn finish_tsv(
    bar: &genolm::progress::Progress,
    tsv: std::io::BufWriter<std::fs::File>,
    sequences: usize,
    fasta: &std::path::Path,
) -> Result<()> {
    bar.finish();
    if sequences == 0 {
        bail!("{}: no sequences", fasta.display());
    }
    tsv.into_inner()?.sync_all()?;
    Ok(())
}

/// Writes run.json (what every interpret run records: command, models, input and its checksum,
/// class, strand; then the command's own `fields`) and puts the directory in place.
fn commit_run(
    staging: StagingDir,
    io: &InterpretIo,
    class: &str,
    fields: serde_json::Value,
) -> Result<PathBuf> {
    let mut run = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "models": io.models.model,
        "fasta": io.fasta,
        "fasta_sha256": genolm::genome::open::sha256_file(&io.fasta)?,
        "class": class,
        "strand": format!("{:?}", io.strand).to_lowercase(),
    });
    if let (Some(all), serde_json::Value::Object(own)) = (run.as_object_mut(), fields) {
        all.extend(own);
    }
    std::fs::write(
        staging.path().join("run.json"),
        serde_json::to_string_pretty(&run)? + "\n",
    )?;
    Ok(staging.commit()?)
}
