use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::dataset::promoters::{write_promoter_tsv, PromoterParams};

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Promoter windows around CDS starts vs windows inside CDS bodies (Genomic-ULMFiT's E. coli task).
    Promoters(PromoterArgs),
}

#[derive(Args)]
pub struct PromoterArgs {
    /// Annotated genome (GenBank, plain or gzip).
    #[arg(long)]
    genbank: PathBuf,
    /// Bases before the CDS start.
    #[arg(long, default_value_t = 100)]
    upstream: u64,
    /// Bases from the CDS start on.
    #[arg(long, default_value_t = 50)]
    downstream: u64,
    /// Negatives per positive.
    #[arg(long, default_value_t = 1.0)]
    negative_ratio: f64,
    /// Only CDS bodies longer than this give negatives.
    #[arg(long, default_value_t = 250)]
    min_cds_len: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output TSV (sequence, label, id, record, start, end, strand).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Promoters(a) => {
            let p = PromoterParams {
                upstream: a.upstream,
                downstream: a.downstream,
                negative_ratio: a.negative_ratio,
                min_cds_len: a.min_cds_len,
                seed: a.seed,
            };
            let (pos, neg) = write_promoter_tsv(&a.genbank, &a.out, &p)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"positives": pos, "negatives": neg, "out": a.out})
                );
            } else {
                eprintln!(
                    "dataset: {pos} promoter and {neg} non-promoter windows -> {}",
                    a.out.display()
                );
            }
            Ok(())
        }
    }
}
