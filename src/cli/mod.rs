//! The `genolm` command line. Library errors become one readable line and an exit code here.

mod corpus;
mod dataset;
mod launch;
mod motifs;
mod tokenize;
mod track;
mod variants;

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser)]
#[command(
    name = "genolm",
    version,
    about = "Genomic language models: k-mer corpora, AWD-LSTM pretraining, ULMFiT transfer learning",
    after_help = "Model commands (run by genolm-torch, beside this binary; `genolm <command> --help`):\n  \
                  pretrain   Pretrain an AWD-LSTM language model on a token corpus (--config configs/lm-*.toml)\n  \
                  finetune-lm  Fine-tune a pretrained LM on target-domain sequences (--model LM --fasta ...)\n  \
                  lm eval    Loss, accuracy and perplexity of a language model on a corpus\n  \
                  classify train   Train a sequence classifier (from a language model or from scratch)\n  \
                  classify eval    Metrics of a classifier on labelled data (--table or --data)\n  \
                  cnn train  Train a one-hot CNN (configs/cnn-*.toml; transfer with [init] and freeze_through)\n  \
                  predict    Class probabilities for each sequence of a FASTA (--rc-average)\n  \
                  scan       Slide a classifier along chromosomes: bedGraph/BigWig tracks, BED calls\n  \
                  variants score  Effect of each VCF variant on a model's prediction (diff, logit diff, log2 FC)\n  \
                  interpret ism   In-silico mutagenesis: every substitution's change of a prediction (TSV, plots)\n  \
                  interpret saliency  Per-base attributions: gradient, gradient x input, integrated gradients\n  \
                  motifs     Seqlets -> MEME motifs and logos (discover), compare with known motifs, logo\n  \
                  info       Show the build, libtorch and device (--device auto|cpu|cuda|cuda:N)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and inspect token corpora.
    #[command(subcommand)]
    Corpus(corpus::CorpusCommand),
    /// Derive labelled data sets from annotations.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Print the token ids of a sequence or of each FASTA record.
    Tokenize(tokenize::TokenizeArgs),
    /// Cut regions (chr:start-end, 1-based) or BED intervals from a reference, as FASTA.
    Extract(tokenize::ExtractArgs),
    /// Join the shard files of a `genolm scan --shard i/n` run into its tracks, calls and summary
    /// (the same bytes as the unsharded scan).
    Merge(track::MergeArgs),
    /// Pictures of outputs.
    #[command(subcommand)]
    Plot(track::PlotCommand),
    /// Variants: genome windows centred on them (VCF or BED).
    #[command(subcommand)]
    Variants(variants::VariantsCommand),
    /// Motifs: discovered in attributions (seqlets), compared with known ones, drawn as logos.
    #[command(subcommand)]
    Motifs(motifs::MotifsCommand),
    /// Data-parallel training on this machine: N ranks of a model command, started as torchrun
    /// starts them (`genolm launch --nproc 2 -- pretrain --config lm.toml`).
    Launch(launch::LaunchArgs),
    /// Model commands (info, and from later releases pretrain, classify, predict...) run in
    /// `genolm-torch`, the libtorch half of genolm, so data commands start instantly.
    #[command(external_subcommand)]
    Torch(Vec<OsString>),
}

/// `polls`: the command checks [`INTERRUPTED`] and stops cleanly (a corpus build removes its staging
/// dir); for the others a first Ctrl-C stops at once, as it would without a handler.
fn install_interrupt_handler(polls: bool) {
    let _ = ctrlc::set_handler(move || {
        if !polls || INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED); // a second Ctrl-C: stop now
        }
        eprintln!("\ngenolm: interrupted, cleaning up (Ctrl-C again to stop at once)");
    });
}

/// `genolm-torch`, installed beside this binary, if it is.
pub(crate) fn torch_exe() -> Option<std::path::PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("genolm-torch")))
        .filter(|p| p.exists())
}

/// Hands a model command to `genolm-torch` (installed beside this binary), replacing this process so
/// that signals and the exit code are the child's own.
pub(crate) fn exec_torch(args: Vec<OsString>) -> i32 {
    use std::os::unix::process::CommandExt;
    let Some(exe) = torch_exe() else {
        eprintln!(
            "genolm: error: '{}' is a model command, which needs genolm-torch beside the genolm binary; \
             run scripts/setup.sh (it builds both)",
            args.first().map(|a| a.to_string_lossy()).unwrap_or_default()
        );
        return 2;
    };
    let err = std::process::Command::new(&exe).args(&args).exec();
    eprintln!("genolm: error: cannot run {}: {err}", exe.display());
    1
}

/// `genolm ... | head` ends quietly, as Unix tools do: Rust ignores SIGPIPE, which turns a closed
/// pipe into an error (or a panic in `println!`) instead of the default silent exit.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    default_sigpipe();
    let cli = Cli::parse();
    install_interrupt_handler(matches!(
        cli.command,
        Command::Corpus(corpus::CorpusCommand::Build(_)) | Command::Merge(_) | Command::Launch(_)
    ));
    let result = match cli.command {
        Command::Corpus(cmd) => corpus::run(cmd),
        Command::Dataset(cmd) => dataset::run(cmd),
        Command::Tokenize(args) => tokenize::run_tokenize(args),
        Command::Extract(args) => tokenize::run_extract(args),
        Command::Merge(args) => track::run_merge(args),
        Command::Plot(cmd) => track::run_plot(cmd),
        Command::Variants(cmd) => variants::run(cmd),
        Command::Motifs(cmd) => motifs::run(cmd),
        Command::Torch(args) => return exec_torch(args),
        // The ranks' own statuses (130 after Ctrl-C, which they save a checkpoint for).
        Command::Launch(args) => launch::run(args).map(|code| {
            if code != 0 {
                std::process::exit(code);
            }
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            if INTERRUPTED.load(Ordering::SeqCst) {
                // Most commands' own error already says so ("interrupted: nothing was written").
                match e.to_string() {
                    text if text.starts_with("interrupted") => eprintln!("genolm: {text}"),
                    text => eprintln!("genolm: interrupted: {text}"),
                }
                return EXIT_INTERRUPTED;
            }
            eprintln!("genolm: error: {e}");
            let head = e.to_string();
            for cause in e.chain().skip(1) {
                let text = cause.to_string();
                if !head.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
            }
            1
        }
    }
}
