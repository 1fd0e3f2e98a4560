//! `genolm variants windows`: genome windows centred on variants (VCF or BED), as a TSV that
//! classifier and CNN configs read directly (`sequence`, `label`) and as FASTA.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::fsutil::AtomicFile;
use crate::genome::indexed::Genome;
use crate::variants::{self, Skip};

#[derive(Subcommand)]
pub enum VariantsCommand {
    /// Windows centred on each variant: reference (and alternative, from a VCF) sequence, REF
    /// checked against the genome, labels carried from a BED column.
    Windows(WindowsArgs),
    /// `variants score` (a model command, run by genolm-torch): what each variant does to a
    /// model's prediction.
    #[command(external_subcommand)]
    Torch(Vec<OsString>),
}

#[derive(Args)]
pub struct WindowsArgs {
    /// Variants: VCF (.vcf or .vcf.gz) or BED (1-based start == end rows, as TLVar's HGMD.bed, or
    /// 0-based intervals).
    #[arg(long)]
    variants: PathBuf,
    /// Reference genome (FASTA; bgzf with .fai/.gzi for random access).
    #[arg(long)]
    genome: PathBuf,
    /// Bases on each side of the variant: windows are 2 x flank + 1 long.
    #[arg(long, default_value_t = 500)]
    flank: u64,
    /// BED column (1-based) holding the label.
    #[arg(long, default_value_t = 4)]
    label_column: usize,
    /// Drop windows that contain N (kept by default: CNNs encode N as zeros or 0.25 each).
    #[arg(long)]
    skip_n: bool,
    /// Output prefix: PREFIX.tsv and PREFIX.fa.
    #[arg(long)]
    out: PathBuf,
    /// Print the summary as one line of JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    records: u64,
    windows: u64,
    symbolic_alts: u64,
    not_in_genome: u64,
    near_chromosome_end: u64,
    ref_mismatches: u64,
    with_n: u64,
    dropped_with_n: u64,
}

pub fn run(cmd: VariantsCommand) -> Result<()> {
    match cmd {
        VariantsCommand::Torch(args) => {
            let mut all = vec![OsString::from("variants")];
            all.extend(args);
            std::process::exit(super::exec_torch(all));
        }
        VariantsCommand::Windows(a) => windows(a),
    }
}

fn is_vcf(path: &std::path::Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".vcf") || name.ends_with(".vcf.gz") || name.ends_with(".vcf.bgz")
}

fn windows(a: WindowsArgs) -> Result<()> {
    if a.flank == 0 {
        bail!("--flank 0: a window needs at least one base on each side");
    }
    let (list, counts) = if is_vcf(&a.variants) {
        variants::read_vcf(&a.variants)?
    } else {
        variants::read_bed(&a.variants, a.label_column)?
    };
    let mut genome = Genome::open(&a.genome)?;
    let tsv_path = crate::genome::indexed::with_suffix(&a.out, ".tsv");
    let fa_path = crate::genome::indexed::with_suffix(&a.out, ".fa");
    let mut tsv = AtomicFile::create(&tsv_path).with_context(|| tsv_path.display().to_string())?;
    let mut fa = AtomicFile::create(&fa_path).with_context(|| fa_path.display().to_string())?;
    writeln!(
        tsv,
        "id\tchrom\tpos\tref\talt\tlabel\tref_match\tsequence\talt_sequence"
    )?;
    let mut s = Summary {
        records: counts.records,
        symbolic_alts: counts.symbolic_alts,
        ..Default::default()
    };
    let text = variants::allele_text;
    for v in &list {
        let w = match variants::windows(&mut genome, v, a.flank)? {
            Ok(w) => w,
            Err(Skip::NotInGenome) => {
                s.not_in_genome += 1;
                continue;
            }
            Err(Skip::NearEnd) => {
                s.near_chromosome_end += 1;
                continue;
            }
            Err(Skip::BeyondEnd) => {
                return Err(variants::beyond_end(&genome, v, &a.variants).into())
            }
        };
        let has_n =
            w.reference.contains(&b'N') || w.alt.as_ref().is_some_and(|x| x.contains(&b'N'));
        if has_n {
            s.with_n += 1;
            if a.skip_n {
                s.dropped_with_n += 1;
                continue;
            }
        }
        let matches = match w.ref_matches {
            Some(true) => "yes",
            Some(false) => {
                s.ref_mismatches += 1;
                if s.ref_mismatches <= 5 {
                    eprintln!(
                        "variants: {}: line {}: REF {} is not the genome's base(s) at {}:{}",
                        a.variants.display(),
                        v.line,
                        text(&v.reference),
                        v.chrom,
                        v.pos
                    );
                }
                "no"
            }
            None => ".",
        };
        let seq = String::from_utf8_lossy(&w.reference);
        let alt_seq = text(&w.alt);
        writeln!(
            tsv,
            "{}\t{}\t{}\t{}\t{}\t{}\t{matches}\t{seq}\t{alt_seq}",
            v.id,
            v.chrom,
            v.pos,
            text(&v.reference),
            text(&v.alt),
            v.label.as_deref().unwrap_or(".")
        )?;
        writeln!(fa, ">{}\n{seq}", v.id)?;
        if let Some(alt) = &w.alt {
            writeln!(fa, ">{}_alt\n{}", v.id, String::from_utf8_lossy(alt))?;
        }
        s.windows += 1;
    }
    tsv.commit()
        .with_context(|| tsv_path.display().to_string())?;
    fa.commit().with_context(|| fa_path.display().to_string())?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        eprintln!(
            "variants: {} windows of {} bp from {} records -> {} and {} (skipped: {} not in the genome, {} near a chromosome end, {} symbolic ALT alleles; {} REF mismatches, {} windows with N{})",
            s.windows,
            2 * a.flank + 1,
            s.records,
            tsv_path.display(),
            fa_path.display(),
            s.not_in_genome,
            s.near_chromosome_end,
            s.symbolic_alts,
            s.ref_mismatches,
            s.with_n,
            if a.skip_n { ", dropped" } else { ", kept" }
        );
    }
    Ok(())
}
