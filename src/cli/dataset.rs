use std::path::{Path, PathBuf};

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
    /// TF-binding windows from site annotations (RegulonDB TF-RISet or BED): a multi-label table
    /// of the TFs with many sites and a single-task table per TF, GC-matched negatives.
    TfSites(TfSitesArgs),
}

#[derive(Args)]
pub struct TfSitesArgs {
    /// Binding sites: RegulonDB's TF-RISet (.tsv[.gz]) or BED (TF name in column 4).
    #[arg(long)]
    sites: PathBuf,
    /// The genome the sites are on (FASTA; bgzf with .fai/.gzi for large genomes).
    #[arg(long)]
    genome: PathBuf,
    /// Window length (bases), centred on each site.
    #[arg(long, default_value_t = 200)]
    length: u64,
    /// BED of intervals background windows must not touch either (e.g. gene bodies, for
    /// intergenic negatives).
    #[arg(long)]
    exclude: Option<PathBuf>,
    /// Sequence the RegulonDB sites are on (default: the genome's only sequence).
    #[arg(long)]
    chrom: Option<String>,
    /// Background windows per positive window, per 10 % GC bin.
    #[arg(long, default_value_t = 1.0)]
    negative_ratio: f64,
    /// TFs with at least this many windows are the multi-label table's labels (the rest are held
    /// out of it, for fine-tuning).
    #[arg(long, default_value_t = 40)]
    multi_min_windows: usize,
    /// TFs with at least this many windows get a single-task table.
    #[arg(long, default_value_t = 5)]
    single_min_windows: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory (multi-label.tsv, single-task/TF.tsv, tfs.tsv, run.json).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
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

/// `dataset tf-sites`: builds every table into a staging directory, moved into place when whole.
fn run_tf_sites(a: TfSitesArgs) -> Result<()> {
    use crate::dataset::tf_sites::{self, TfSitesParams};
    use crate::fsutil::{write_atomic, StagingDir};
    let mut genome = crate::genome::indexed::Genome::open(&a.genome)?;
    let chrom = match (&a.chrom, genome.sequences()) {
        (Some(c), _) => {
            genome.length(c)?;
            c.clone()
        }
        (None, [(only, _)]) => only.clone(),
        (None, seqs) => anyhow::bail!(
            "{}: {} sequences; name the one RegulonDB's sites are on with --chrom",
            a.genome.display(),
            seqs.len()
        ),
    };
    let read = tf_sites::read_sites(&a.sites, &chrom)?;
    if let Some(first) = &read.first_skipped {
        eprintln!(
            "genolm: warning: {} site rows skipped; the first: {first}",
            read.skipped
        );
    }
    let sites = read.sites;
    let params = TfSitesParams {
        length: a.length,
        negative_ratio: a.negative_ratio,
        multi_min_windows: a.multi_min_windows,
        single_min_windows: a.single_min_windows,
        seed: a.seed,
    };
    let exclude = match &a.exclude {
        Some(path) => tf_sites::read_intervals(path)?,
        None => Vec::new(),
    };
    let d = tf_sites::build(&sites, &exclude, &mut genome, &params)?;
    let staging = StagingDir::create(&a.out, a.force)?;
    let dir = staging.path().to_path_buf();
    let write = |name: &Path, text: &str| {
        write_atomic(&dir.join(name), text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(name).display()))
    };
    let (multi, labels) = tf_sites::multi_label_tsv(&d, a.multi_min_windows);
    write(Path::new("multi-label.tsv"), &multi)?;
    std::fs::create_dir(dir.join("single-task"))?;
    let per_tf = tf_sites::windows_per_tf(&d);
    let mut summary = String::from("tf\twindows\tin_multi_label\tsingle_task\n");
    let mut single = 0;
    for (t, name) in d.tfs.iter().enumerate() {
        let file = if per_tf[t] >= a.single_min_windows {
            let f = format!("single-task/{}.tsv", tf_sites::file_stem(name));
            write(Path::new(&f), &tf_sites::single_task_tsv(&d, t, a.seed))?;
            single += 1;
            f
        } else {
            "-".into()
        };
        let in_multi = if labels.contains(name) { "yes" } else { "no" };
        summary.push_str(&format!("{name}\t{}\t{in_multi}\t{file}\n", per_tf[t]));
    }
    write(Path::new("tfs.tsv"), &summary)?;
    let record = serde_json::json!({
        "command": "genolm dataset tf-sites",
        "version": env!("CARGO_PKG_VERSION"),
        "params": params,
        "chrom": chrom,
        "inputs_sha256": {
            a.sites.display().to_string(): crate::genome::open::sha256_file(&a.sites)?,
            a.genome.display().to_string(): crate::genome::open::sha256_file(&a.genome)?,
        },
        "counts": d.counts,
        "site_rows_skipped": read.skipped,
        "multi_label_tfs": labels.len(),
        "single_task_tfs": single,
    });
    write(
        Path::new("run.json"),
        &(serde_json::to_string_pretty(&record)? + "\n"),
    )?;
    staging.commit()?;
    if a.json {
        println!("{record}");
    } else {
        let c = &d.counts;
        eprintln!(
            "dataset tf-sites: {} sites of {} TFs ({} on sequences the genome lacks) -> {} windows \
             ({} with N, {} off the sequence dropped), {} background ({} short); {} TFs in \
             multi-label.tsv, {single} single-task tables -> {}",
            c.sites,
            c.tfs,
            c.sites_off_genome,
            c.positive_windows,
            c.dropped_with_n,
            c.dropped_off_sequence,
            c.negatives,
            c.negatives_short,
            labels.len(),
            a.out.display()
        );
    }
    Ok(())
}

pub fn run(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Sites(a) => run_sites(a),
        DatasetCommand::TfSites(a) => run_tf_sites(a),
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
