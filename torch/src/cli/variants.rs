//! `genolm variants score`: per-variant effects on a model's (or an ensemble's) prediction.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use crate::infer::predict::ensemble_of;
use crate::infer::variants::{score_vcf, ScoreOptions};
use crate::infer::Predictor;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Strands {
    /// The forward strand only.
    Plus,
    /// The mean of the forward and reverse-complement predictions.
    Both,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    models: super::ModelArgs,
    /// Variants (VCF, plain, gzip or bgzf); multi-allelic records give one row set per ALT.
    #[arg(long)]
    vcf: PathBuf,
    /// Reference genome (FASTA; bgzf with .fai/.gzi for random access).
    #[arg(long)]
    genome: PathBuf,
    /// Output TSV: one row per variant and class (written whole or not at all).
    #[arg(long)]
    out: PathBuf,
    /// Window length (default: the model's input length, or the length it was trained on).
    #[arg(long)]
    window: Option<u64>,
    #[arg(long, value_enum, default_value_t = Strands::Plus)]
    strand: Strands,
    /// Classes scored (default: the positive class, the second of two; all of more; every label
    /// of a multi-label model).
    #[arg(long, num_args = 1..)]
    classes: Vec<String>,
    #[arg(long, default_value_t = 128, value_parser = super::at_least_one)]
    batch_size: usize,
    /// Variants read and scored at a time: memory stays flat however large the VCF.
    #[arg(long, default_value_t = 4096, value_parser = super::at_least_one)]
    chunk: usize,
    /// Print the summary as one line of JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn score(a: ScoreArgs, stop: &AtomicBool) -> Result<()> {
    let models = ensemble_of(a.models.load()?)?;
    let (_, classes) = super::scan::tracked_classes(&models, &a.classes)?;
    let window = match (a.window, models.fixed_len(), models.train_len()?) {
        (Some(w), Some(f), _) if w as usize != f => {
            bail!("--window {w}: the model reads exactly {f} bases")
        }
        (Some(w), _, _) => w,
        (None, Some(f), _) => f as u64,
        (None, None, Some(t)) => t,
        (None, None, None) => bail!("the model records no input length: give --window"),
    };
    if window < 1 {
        bail!("--window must be at least 1");
    }
    let o = ScoreOptions {
        window,
        both_strands: matches!(a.strand, Strands::Both),
        classes,
        batch_size: a.batch_size.max(1),
        chunk: a.chunk.max(1),
        progress: !a.json,
    };
    let s = score_vcf(&models, &a.genome, &a.vcf, &a.out, &o, stop)?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        eprintln!(
            "variants score: {} variants ({} records; {} symbolic ALTs and {} near a sequence end \
             skipped; {} REF mismatches flagged) in {:.1} s ({:.0}/s) -> {}",
            s.variants_scored,
            s.records,
            s.symbolic_alts,
            s.near_chromosome_end,
            s.ref_mismatches,
            s.seconds,
            s.variants_per_s,
            a.out.display()
        );
    }
    Ok(())
}
