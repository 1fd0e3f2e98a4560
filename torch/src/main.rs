//! `genolm-torch`: the model commands of genolm. Usually reached through `genolm <command>`.

use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use genolm_torch::cli;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[derive(Parser)]
#[command(name = "genolm", version, about = "genolm model commands (libtorch)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the build, libtorch and device.
    Info(cli::info::InfoArgs),
    /// Pretrain an AWD-LSTM language model on a token corpus.
    Pretrain(cli::lm::PretrainArgs),
    /// Fine-tune a pretrained language model on target-domain sequences (ULMFiT's second stage).
    FinetuneLm(cli::lm::FinetuneArgs),
    /// Language-model commands.
    #[command(subcommand)]
    Lm(LmCommand),
    /// Class probabilities for each sequence of a FASTA file.
    Predict(cli::predict::PredictArgs),
    /// Slide a classifier along whole chromosomes: score tracks (bedGraph, BigWig), called
    /// regions (BED), a summary; `--shard i/n` for parts that `genolm merge` joins.
    Scan(cli::scan::ScanArgs),
    /// Sequence classifiers (ULMFiT).
    #[command(subcommand)]
    Classify(ClassifyCommand),
    /// One-hot CNNs (the primer's, TLVar's, Basset-TF's: configs/cnn-*.toml).
    #[command(subcommand)]
    Cnn(CnnCommand),
    /// Variant effects on a model's prediction.
    #[command(subcommand)]
    Variants(VariantsCommand),
    /// What a model learned.
    #[command(subcommand)]
    Interpret(InterpretCommand),
}

#[derive(Subcommand)]
enum InterpretCommand {
    /// In-silico mutagenesis: every base changed to each other base, the change of a class's
    /// probability per substitution. Out: ism.tsv, ism-N and ism-heatmap-N (SVG, PNG), run.json.
    Ism(cli::interpret::IsmArgs),
    /// Per-base attributions of a class's log-odds: gradient, gradient x input or integrated
    /// gradients. Out: saliency.tsv, saliency-N (bars with the bases), profile (the mean per
    /// position), run.json.
    Saliency(cli::interpret::SaliencyArgs),
}

#[derive(Subcommand)]
enum VariantsCommand {
    /// Score every ALT allele of a VCF: ref and alt probability, diff, abs diff, logit diff,
    /// log2 fold change, per class.
    Score(cli::variants::ScoreArgs),
}

#[derive(Subcommand)]
enum CnnCommand {
    /// Train a CNN from scratch, or from a trained CNN (`[init]`, `freeze_through`).
    Train(cli::cnn::TrainArgs),
    /// TLVar's comparison: the pretrained CNN as is, from scratch, and transferred (frozen
    /// through a layer), over training fractions and repetitions; Wilcoxon tests, box plots.
    Compare(cli::cnn::CompareArgs),
}

#[derive(Subcommand)]
enum ClassifyCommand {
    /// Train a classifier from a language model (or from scratch) with gradual unfreezing.
    Train(cli::classify::TrainArgs),
    /// Metrics of a trained classifier on labelled data.
    Eval(cli::classify::EvalArgs),
}

#[derive(Subcommand)]
enum LmCommand {
    /// Loss, accuracy and perplexity of a language model on a corpus.
    Eval(cli::lm::EvalArgs),
}

fn main() {
    genolm_torch::alloc::keep_freed_memory();
    genolm::cli::default_sigpipe();
    let cli = Cli::parse();
    // Commands that poll INTERRUPTED stop cleanly (training saves a checkpoint, predict removes
    // its partial table); for the others a first Ctrl-C stops at once, as it would without a handler.
    let polls = matches!(
        cli.command,
        Command::Pretrain(_)
            | Command::FinetuneLm(_)
            | Command::Classify(ClassifyCommand::Train(_))
            | Command::Cnn(_)
            | Command::Predict(_)
            | Command::Scan(_)
            | Command::Variants(_)
            | Command::Interpret(_)
    );
    let _ = ctrlc::set_handler(move || {
        if !polls || INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ngenolm: interrupted: stopping cleanly (Ctrl-C again to stop at once)");
    });
    let result = match cli.command {
        Command::Info(args) => cli::info::run(args),
        Command::Pretrain(args) => cli::lm::pretrain(args, &INTERRUPTED),
        Command::Lm(LmCommand::Eval(args)) => cli::lm::eval(args),
        Command::Classify(ClassifyCommand::Train(args)) => cli::classify::train(args, &INTERRUPTED),
        Command::Predict(args) => cli::predict::run(args, &INTERRUPTED),
        Command::Scan(args) => cli::scan::run(args, &INTERRUPTED),
        Command::Classify(ClassifyCommand::Eval(args)) => cli::classify::eval(args),
        Command::Cnn(CnnCommand::Train(args)) => cli::cnn::train(args, &INTERRUPTED),
        Command::Cnn(CnnCommand::Compare(args)) => cli::cnn::compare(args, &INTERRUPTED),
        Command::FinetuneLm(args) => cli::lm::finetune(args, &INTERRUPTED),
        Command::Variants(VariantsCommand::Score(args)) => cli::variants::score(args, &INTERRUPTED),
        Command::Interpret(InterpretCommand::Ism(args)) => {
            cli::interpret::ism_command(args, &INTERRUPTED)
        }
        Command::Interpret(InterpretCommand::Saliency(args)) => {
            cli::interpret::saliency_command(args, &INTERRUPTED)
        }
    };
    if let Err(e) = result {
        let interrupted = e
            .downcast_ref::<genolm_torch::train::Error>()
            .is_some_and(|e| {
                matches!(
                    e,
                    genolm_torch::train::Error::Interrupted { .. }
                        | genolm_torch::train::Error::Cancelled { .. }
                )
            });
        if interrupted {
            eprintln!("genolm: {}", error_chain(&e));
            std::process::exit(130);
        }
        eprintln!("genolm: error: {}", error_chain(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, leaving out a cause whose text the message before it already shows
/// (errors like "{path}: {source}" that also expose `source`).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
