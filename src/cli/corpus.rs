use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::INTERRUPTED;
use crate::config;
use crate::corpus::{self, stats, Corpus, CorpusConfig};

#[derive(Subcommand)]
pub enum CorpusCommand {
    /// Tokenize genomes into a memory-mapped token corpus (from a config, flags, or both).
    Build(Box<BuildArgs>),
    /// Tokens, documents, vocabulary coverage, unk fraction, GC and a per-source table.
    Stats(StatsArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// TOML config (configs/corpus-*.toml); flags and --set override its values.
    #[arg(long)]
    config: Option<PathBuf>,
    /// FASTA inputs (plain, gzip or bgzf).
    #[arg(long, num_args = 1..)]
    fasta: Vec<PathBuf>,
    /// GenBank inputs (plain or gzip).
    #[arg(long, num_args = 1..)]
    genbank: Vec<PathBuf>,
    /// k-mer length (1..=12).
    #[arg(long)]
    k: Option<usize>,
    /// Step between k-mers (1..=k).
    #[arg(long)]
    stride: Option<usize>,
    /// Bases per document; 0 = one document per record.
    #[arg(long)]
    doc_len: Option<u64>,
    /// Runs of at least this many N/ambiguous bases split documents (0 = never).
    #[arg(long)]
    n_run_split: Option<u64>,
    /// Fraction of documents held out for validation.
    #[arg(long)]
    valid_frac: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    min_freq: Option<u64>,
    /// Most k-mers in the vocabulary (0 = all).
    #[arg(long)]
    max_vocab: Option<usize>,
    /// Reuse this tokenizer (tokenizer.json, or a corpus/model dir) instead of building a vocabulary.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// auto | u16 | u32
    #[arg(long)]
    token_width: Option<String>,
    /// Output directory (written under a temporary name, renamed when complete).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
    /// Override any config value: --set section.key=value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Print a one-line JSON summary {documents, tokens, bp, vocab_size, seconds} on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
pub struct StatsArgs {
    dir: PathBuf,
    #[arg(long)]
    json: bool,
}

fn path_list(paths: &[PathBuf]) -> toml::Value {
    toml::Value::Array(
        paths
            .iter()
            .map(|p| toml::Value::String(p.display().to_string()))
            .collect(),
    )
}

/// Every flag given becomes a typed override of its config key.
fn flag_values(a: &BuildArgs) -> Vec<(String, toml::Value)> {
    let mut v: Vec<(String, toml::Value)> = Vec::new();
    let int = |x: u64| toml::Value::Integer(x as i64);
    if !a.fasta.is_empty() {
        v.push(("inputs.fasta".into(), path_list(&a.fasta)));
    }
    if !a.genbank.is_empty() {
        v.push(("inputs.genbank".into(), path_list(&a.genbank)));
    }
    let ints = [
        ("tokenizer.k", a.k.map(|x| x as u64)),
        ("tokenizer.stride", a.stride.map(|x| x as u64)),
        ("tokenizer.min_freq", a.min_freq),
        ("tokenizer.max_vocab", a.max_vocab.map(|x| x as u64)),
        ("documents.doc_len", a.doc_len),
        ("documents.n_run_split", a.n_run_split),
        ("split.seed", a.seed),
    ];
    for (key, value) in ints {
        if let Some(x) = value {
            v.push((key.into(), int(x)));
        }
    }
    if let Some(f) = a.valid_frac {
        v.push(("split.valid_frac".into(), toml::Value::Float(f)));
    }
    if let Some(t) = &a.tokenizer {
        v.push((
            "tokenizer.from".into(),
            toml::Value::String(t.display().to_string()),
        ));
    }
    if let Some(w) = &a.token_width {
        v.push((
            "tokenizer.token_width".into(),
            toml::Value::String(w.clone()),
        ));
    }
    if let Some(o) = &a.out {
        v.push((
            "output.dir".into(),
            toml::Value::String(o.display().to_string()),
        ));
    }
    v
}

fn build(args: BuildArgs) -> Result<()> {
    let cfg: CorpusConfig =
        config::load_with(args.config.as_deref(), &flag_values(&args), &args.sets)?;
    let Some(out) = cfg.output.dir.clone() else {
        bail!("no output directory: give --out DIR (or output.dir in the config)");
    };
    let show = !args.quiet && !args.json;
    let report = corpus::build_corpus(&cfg, &out, args.force, &INTERRUPTED, show)?;
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    if report.valid_documents == 0 && cfg.split.valid_frac > 0.0 {
        // One document per record (doc_len 0) leaves a one-chromosome genome a single document,
        // which cannot be split: say so here rather than as "valid loss n/a" in pretraining.
        eprintln!(
            "genolm: warning: no validation split: {} document(s), {}; cut records into documents with \
             --doc-len 1000 (documents.doc_len) so that --valid-frac {} can hold some out",
            report.documents,
            if cfg.documents.doc_len == 0 {
                "one per record (documents.doc_len = 0)".to_string()
            } else {
                format!("of {} bp", cfg.documents.doc_len)
            },
            cfg.split.valid_frac
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "corpus: {} documents, {} tokens from {} bp in {:.2} s -> {}",
            report.documents,
            report.tokens,
            report.bp,
            report.seconds,
            report.dir.display()
        );
    }
    Ok(())
}

fn show_stats(args: StatsArgs) -> Result<()> {
    let corpus = Corpus::open(&args.dir)
        .with_context(|| format!("cannot open corpus {}", args.dir.display()))?;
    let s = stats::compute(&corpus);
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        print!("{}", stats::render(&s));
    }
    Ok(())
}

pub fn run(cmd: CorpusCommand) -> Result<()> {
    match cmd {
        CorpusCommand::Build(a) => build(*a),
        CorpusCommand::Stats(a) => show_stats(a),
    }
}
