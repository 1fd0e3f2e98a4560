use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::train::classify::{load_classifier, predict_sequences};
use crate::train::Precision;

#[derive(Args)]
pub struct PredictArgs {
    /// A classifier directory (from genolm classify train).
    #[arg(long)]
    model: PathBuf,
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
    let m = load_classifier(&a.model, device)?;
    let records = genolm::genome::open::read_sequences(&a.fasta)?;
    let seqs: Vec<Vec<u8>> = records.iter().map(|r| r.1.clone()).collect();
    let started = std::time::Instant::now();
    let probs = predict_sequences(
        &m,
        &seqs,
        a.rc_average,
        a.batch_size,
        a.precision.kind(device)?,
    );
    let seconds = started.elapsed().as_secs_f64();
    let mut text = format!(
        "id\t{}\tpredicted\n",
        m.saved
            .classes
            .iter()
            .map(|c| format!("p_{c}"))
            .collect::<Vec<_>>()
            .join("\t")
    );
    for ((name, _), p) in records.iter().zip(&probs) {
        let best = p
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let cols: Vec<String> = p.iter().map(|v| format!("{v:.6}")).collect();
        text.push_str(&format!(
            "{name}\t{}\t{}\n",
            cols.join("\t"),
            m.saved.classes[best]
        ));
    }
    genolm::fsutil::write_atomic(&a.out, text.as_bytes())
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let rate = records.len() as f64 / seconds.max(1e-9);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"sequences": records.len(), "seconds": seconds, "sequences_per_s": rate})
        );
    } else {
        eprintln!(
            "predict: {} sequences in {seconds:.2} s ({rate:.0}/s) -> {}",
            records.len(),
            a.out.display()
        );
    }
    Ok(())
}
