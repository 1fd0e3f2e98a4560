use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use crate::genome::{self, bed, indexed::Genome, Region};
use crate::tokenize::hf;

#[derive(Args)]
pub struct TokenizeArgs {
    /// A tokenizer.json, or a corpus/model directory holding one.
    #[arg(long)]
    tokenizer: PathBuf,
    /// A sequence to tokenize.
    #[arg(long, conflicts_with = "fasta")]
    seq: Option<String>,
    /// Tokenize every record of this FASTA/GenBank file (one output line per record).
    #[arg(long)]
    fasta: Option<PathBuf>,
    /// Print k-mer strings beside the ids.
    #[arg(long)]
    kmers: bool,
    /// One JSON object per line: {"name", "ids"[, "kmers"]}.
    #[arg(long)]
    json: bool,
}

fn emit(
    out: &mut impl Write,
    name: &str,
    ids: &[u32],
    kmers: Option<Vec<String>>,
    json: bool,
) -> Result<()> {
    if json {
        let mut obj = serde_json::json!({ "name": name, "ids": ids });
        if let Some(k) = kmers {
            obj["kmers"] = serde_json::json!(k);
        }
        writeln!(out, "{obj}")?;
    } else {
        let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
        write!(out, "{name}\t{}", ids.join(" "))?;
        if let Some(k) = kmers {
            write!(out, "\t{}", k.join(" "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

pub fn run_tokenize(args: TokenizeArgs) -> Result<()> {
    let tok = hf::load(&args.tokenizer)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let records: Vec<(String, Vec<u8>)> = match (&args.seq, &args.fasta) {
        (Some(seq), _) => {
            let mut bases = Vec::new();
            if let Err(i) = genome::nucleotide::push_sequence_line(seq.as_bytes(), &mut bases) {
                bail!(
                    "--seq: {} at position {} is not a nucleotide",
                    genome::nucleotide::describe_byte(seq.as_bytes()[i]),
                    i + 1
                );
            }
            vec![("seq".to_string(), bases)]
        }
        (None, Some(path)) => genome::open::read_sequences(path)?,
        (None, None) => bail!("give --seq SEQUENCE or --fasta FILE"),
    };
    for (name, seq) in records {
        let ids = tok.encode(&seq);
        let kmers = args.kmers.then(|| tok.kmer_strings(&seq));
        emit(&mut out, &name, &ids, kmers, args.json)?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Args)]
pub struct ExtractArgs {
    /// Reference: FASTA (bgzf + .fai/.gzi for random access, or any FASTA/GenBank loaded whole).
    #[arg(long)]
    fasta: PathBuf,
    /// Regions chr:start-end (1-based, inclusive); append :- for the reverse strand.
    #[arg(long)]
    region: Vec<String>,
    /// BED intervals (0-based, half-open); column 6 strand, column 4 name.
    #[arg(long)]
    bed: Option<PathBuf>,
    /// Bases per FASTA line (0 = one line).
    #[arg(long, default_value_t = 60)]
    width: usize,
}

pub fn run_extract(args: ExtractArgs) -> Result<()> {
    let mut genome = Genome::open(&args.fasta)?;
    let mut intervals = Vec::new();
    for text in &args.region {
        let region: Region = text.parse()?;
        let len = genome.length(&region.name)?;
        intervals.push(region.to_interval(len));
    }
    if let Some(path) = &args.bed {
        intervals.extend(bed::read_bed(path, bed::BedColumns::default())?);
    }
    if intervals.is_empty() {
        bail!("give --region chr:start-end and/or --bed FILE");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for iv in &intervals {
        let seq = genome.fetch(iv)?;
        let mut header = format!(">{}", iv.to_region());
        if let Some(label) = &iv.label {
            header.push_str(&format!(" {label}"));
        }
        writeln!(out, "{header}")?;
        let width = if args.width == 0 {
            seq.len().max(1)
        } else {
            args.width
        };
        for line in seq.chunks(width) {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}
