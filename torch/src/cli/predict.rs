use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::infer::predict::{ensemble_probs, load_classifiers};
use crate::train::classify::predictions_tsv;
use crate::train::Precision;

#[derive(Args)]
pub struct PredictArgs {
    /// A classifier directory (from genolm classify train); repeat to average several (an
    /// ensemble), which must share their classes.
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Sequences to classify (FASTA or GenBank, plain or gzip).
    #[arg(long)]
    fasta: PathBuf,
    /// Output TSV: id, one probability column per class, predicted class.
    #[arg(long)]
    out: PathBuf,
    /// Average each sequence's probabilities with its reverse complement's.
    #[arg(long)]
    rc_average: bool,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Compute precision: bf16 is faster on CPUs with AVX-512 BF16 and on GPUs.
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    precision: Precision,
    /// Print a one-line JSON summary (sequences, seconds, sequences per second) on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: PredictArgs) -> Result<()> {
    let device = crate::device::resolve(a.device.parse()?)?;
    let models = load_classifiers(&a.model, device)?;
    let records = genolm::genome::open::read_sequences(&a.fasta)?;
    let (ids, seqs): (Vec<String>, Vec<Vec<u8>>) = records.into_iter().unzip();
    let started = std::time::Instant::now();
    let probs = ensemble_probs(&models, &seqs, a.rc_average, a.batch_size, a.precision)?;
    let seconds = started.elapsed().as_secs_f64();
    let text = predictions_tsv(&ids, &models[0].saved.classes, None, &probs);
    genolm::fsutil::write_atomic(&a.out, text.as_bytes())
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let rate = ids.len() as f64 / seconds.max(1e-9);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"sequences": ids.len(), "seconds": seconds, "sequences_per_s": rate})
        );
    } else {
        eprintln!(
            "predict: {} sequences in {seconds:.2} s ({rate:.0}/s) -> {}",
            ids.len(),
            a.out.display()
        );
    }
    Ok(())
}
