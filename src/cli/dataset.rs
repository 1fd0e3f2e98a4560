use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::dataset::promoters::{write_promoter_tsv, PromoterParams};

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Promoter windows around CDS starts vs windows inside CDS bodies (Genomic-ULMFiT's E. coli task).
    Promoters(PromoterArgs),
    /// Start sites of annotated features (CDS, gene, ...) as 1-bp BED6 on their strand: known
    /// sites for `genolm scan --truth`.
    Sites(SitesArgs),
}

#[derive(Args)]
pub struct SitesArgs {
    /// Annotated genome (GenBank, plain or gzip).
    #[arg(long)]
    genbank: PathBuf,
    /// Feature kind whose starts are written.
    #[arg(long, default_value = "CDS")]
    feature: String,
    /// Output BED (chrom, start, start + 1, name, 0, strand), sorted.
    #[arg(long)]
    out: PathBuf,
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

/// The first base of each feature on its strand (its last base on '-'), sorted.
fn run_sites(a: SitesArgs) -> Result<()> {
    let records = crate::genome::genbank::read_annotated(&a.genbank, &[a.feature.as_str()])?;
    let mut rows = Vec::new();
    for r in &records {
        for f in &r.features {
            let start = match f.strand {
                crate::genome::Strand::Forward => f.start,
                crate::genome::Strand::Reverse => f.end - 1,
            };
            let name = if f.name.is_empty() {
                &f.locus_tag
            } else {
                &f.name
            };
            rows.push((r.name.clone(), start, name.clone(), f.strand));
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1, a.3.as_byte()).cmp(&(&b.0, b.1, b.3.as_byte())));
    let text: String = rows
        .iter()
        .map(|(c, s, n, st)| format!("{c}\t{s}\t{}\t{n}\t0\t{st}\n", s + 1))
        .collect();
    crate::fsutil::write_atomic(&a.out, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.out.display()))?;
    eprintln!(
        "dataset sites: {} {} starts -> {}",
        rows.len(),
        a.feature,
        a.out.display()
    );
    Ok(())
}

pub fn run(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Sites(a) => run_sites(a),
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
