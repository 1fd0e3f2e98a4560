//! `genolm interpret ism`: in-silico mutagenesis of each sequence of a FASTA.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::variants::Strands;
use crate::infer::predict::ensemble_of;
use crate::infer::Predictor;
use crate::interpret::ism::{ism, plot, tsv_rows, IsmOptions, TSV_HEADER};
use genolm::fsutil::StagingDir;

#[derive(Args)]
pub struct IsmArgs {
    #[command(flatten)]
    models: super::ModelArgs,
    /// Sequences to mutate (FASTA, plain or gzip), each of a length the model reads.
    #[arg(long)]
    fasta: PathBuf,
    /// Output directory: ism.tsv (one row per substitution), ism-N.svg/png per sequence, run.json.
    #[arg(long)]
    out: PathBuf,
    /// The class followed (default: the positive class, the second of two; the first otherwise).
    #[arg(long)]
    class: Option<String>,
    #[arg(long, value_enum, default_value_t = Strands::Plus)]
    strand: Strands,
    /// A 1-based position drawn on every plot (e.g. 61, the TSS of the 81 bp promoter sets).
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
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
}

pub fn ism_command(a: IsmArgs, stop: &AtomicBool) -> Result<()> {
    if a.batch_size < 1 {
        bail!("--batch-size must be at least 1");
    }
    let models = ensemble_of(a.models.load()?)?;
    if models.multi_label() {
        bail!("interpret ism follows one class of a single-label model; this one is multi-label");
    }
    let asked: Vec<String> = a.class.iter().cloned().collect();
    let (names, idx) = super::scan::tracked_classes(&models, &asked)?;
    let (class_name, class) = (names[0].clone(), idx[0]);
    let o = IsmOptions {
        class,
        both_strands: matches!(a.strand, Strands::Both),
        batch_size: a.batch_size,
    };
    let staging = StagingDir::create(&a.out, a.force)?;
    let tsv_path = staging.path().join("ism.tsv");
    let mut tsv = std::io::BufWriter::new(
        std::fs::File::create(&tsv_path).with_context(|| tsv_path.display().to_string())?,
    );
    tsv.write_all(TSV_HEADER.as_bytes())?;
    let (_, mut stream) = genolm::genome::open_records(&a.fasta, None)?;
    let started = std::time::Instant::now();
    let (mut sequences, mut mutants) = (0usize, 0usize);
    while let Some((id, seq)) = genolm::genome::fasta::read_batch(&mut *stream, 1, usize::MAX)?
        .into_iter()
        .next()
    {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted: {} not written", a.out.display());
        }
        if let Some(f) = models.fixed_len().filter(|&f| f != seq.len()) {
            bail!(
                "{}: record {:?} has {} bases; the model reads exactly {f}",
                a.fasta.display(),
                id,
                seq.len()
            );
        }
        let r = ism(&models, &seq, &o).with_context(|| format!("record {id:?}"))?;
        tsv.write_all(tsv_rows(&id, &class_name, &r).as_bytes())?;
        if sequences < a.max_plots {
            let title = format!(
                "{id}: P({class_name}) = {:.3}; each substitution's change",
                r.p_ref
            );
            let y_label = format!("change in P({class_name})");
            let mark = a.mark.map(|m| (m, a.mark_label.as_str()));
            let figure = plot(&r, &title, &y_label, mark);
            genolm::plot::render(staging.path(), &format!("ism-{}", sequences + 1), &figure)?;
        }
        sequences += 1;
        mutants += r.substitutions.len();
        eprint!("\rinterpret ism: {sequences} sequences, {mutants} substitutions");
    }
    eprintln!();
    if sequences == 0 {
        bail!("{}: no sequences", a.fasta.display());
    }
    tsv.into_inner()?.sync_all()?;
    let seconds = started.elapsed().as_secs_f64();
    let run = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "models": a.models.model,
        "fasta": a.fasta,
        "fasta_sha256": genolm::genome::open::sha256_file(&a.fasta)?,
        "class": class_name,
        "strand": format!("{:?}", a.strand).to_lowercase(),
        "sequences": sequences,
        "substitutions": mutants,
        "seconds": seconds,
        "substitutions_per_s": mutants as f64 / seconds.max(1e-9),
    });
    std::fs::write(
        staging.path().join("run.json"),
        serde_json::to_string_pretty(&run)? + "\n",
    )?;
    let out = staging.commit()?;
    eprintln!(
        "interpret ism: {sequences} sequences, {mutants} substitutions in {seconds:.1} s ({:.0}/s) -> {}",
        mutants as f64 / seconds.max(1e-9),
        out.display()
    );
    Ok(())
}
