use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use clap::Args;

use crate::infer::predict::{ensemble_of, predict_file, PredictOptions};

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    models: super::ModelArgs,
    /// Sequences to classify (FASTA or GenBank, plain or gzip).
    #[arg(long)]
    fasta: PathBuf,
    /// Output TSV: id, one probability column per class, predicted class.
    #[arg(long)]
    out: PathBuf,
    /// Average each sequence's probabilities with its reverse complement's.
    #[arg(long)]
    rc_average: bool,
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    batch_size: usize,
    /// Print a one-line JSON summary on stdout: sequences, seconds, sequences per second (of the
    /// whole run, and of the prediction alone: compute_sequences_per_s).
    #[arg(long)]
    json: bool,
    /// Sequences read and predicted at a time: memory stays flat however large the input.
    #[arg(long, default_value_t = 2048, value_parser = super::at_least_one)]
    chunk: usize,
}

pub fn run(a: PredictArgs, stop: &AtomicBool) -> Result<()> {
    let models = ensemble_of(a.models.load()?)?;
    let opts = PredictOptions {
        rc_average: a.rc_average,
        batch_size: a.batch_size.max(1),
        chunk_sequences: a.chunk,
        progress: !a.json,
    };
    let s = predict_file(&models, &a.fasta, &a.out, &opts, stop)?;
    if let Some(id) = &s.first_short {
        eprintln!(
            "warning: {} sequence(s) shorter than k hold no k-mer, so their probabilities mean \
             nothing (first: '{id}')",
            s.shorter_than_k
        );
    }
    let rate = s.sequences as f64 / s.seconds.max(1e-9);
    if a.json {
        let mut summary = serde_json::to_value(&s)?;
        summary["sequences_per_s"] = rate.into();
        summary["compute_sequences_per_s"] =
            (s.sequences as f64 / s.compute_seconds.max(1e-9)).into();
        println!("{summary}");
    } else {
        eprintln!(
            "predict: {} sequences in {:.2} s ({rate:.0}/s) -> {}",
            s.sequences,
            s.seconds,
            a.out.display()
        );
    }
    Ok(())
}
