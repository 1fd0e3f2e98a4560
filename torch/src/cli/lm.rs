use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::Args;

use super::run::RunArgs;
use crate::train::fit::FitOptions;
use crate::train::lm::{self, PretrainConfig};
use crate::train::Precision;
use genolm::corpus::Split;

#[derive(Args)]
pub struct PretrainArgs {
    #[command(flatten)]
    run: RunArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn pretrain(args: PretrainArgs, interrupted: &AtomicBool) -> Result<()> {
    let run = &args.run;
    let cfg: PretrainConfig = run.config(|dir| Ok(lm::load_model_config(dir)?.pretrain))?;
    let out = run.out_dir(cfg.output.dir.as_ref())?;
    let opts = FitOptions {
        resume: run.resume.is_some(),
        interrupted,
        progress: !args.quiet && !run.json,
        stop_after: run.stop_after,
    };
    let report = lm::pretrain(&cfg, &out, &opts)?;
    // A data-parallel job reports once, from rank 0.
    if !crate::dist::is_main() {
        return Ok(());
    }
    if run.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "pretrain: {} steps, train loss {:.4}, valid loss {} (baseline {:.4}), {:.0} tokens/s, {:.1} s -> {}",
            report.steps,
            report.train_loss,
            report.valid_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into()),
            report.baseline_loss,
            report.tokens_per_s,
            report.seconds,
            report.dir.display()
        );
        eprintln!(
            "  model {}/model.safetensors, curves {}/training.png",
            report.dir.display(),
            report.dir.display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A language-model directory (from genolm pretrain).
    #[arg(long)]
    model: PathBuf,
    /// A corpus built with the same tokenizer.
    #[arg(long)]
    corpus: PathBuf,
    /// Which documents of the corpus.
    #[arg(long, value_enum, default_value_t = EvalSplit::All)]
    split: EvalSplit,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 16, value_parser = super::at_least_one)]
    batch_size: usize,
    #[arg(long, default_value_t = 70, value_parser = super::at_least_one)]
    bptt: usize,
    /// Compute precision: bf16 is faster on CPUs with AVX-512 BF16 and on GPUs.
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    precision: Precision,
    /// Evaluate only the first N batches (0 = the whole split): a quick estimate on a large corpus.
    #[arg(long, default_value_t = 0)]
    max_batches: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EvalSplit {
    Train,
    Valid,
    All,
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let split = match args.split {
        EvalSplit::All => None,
        EvalSplit::Train => Some(Split::Train),
        EvalSplit::Valid => Some(Split::Valid),
    };
    let opts = lm::EvalOptions {
        split,
        device: args.device,
        batch_size: args.batch_size,
        bptt: args.bptt,
        precision: args.precision,
        max_batches: args.max_batches,
        progress: !args.json,
    };
    let r = lm::eval_command(&args.model, &args.corpus, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "loss {:.4}  accuracy {:.4}  perplexity {:.3}  ({} tokens)",
            r.loss, r.accuracy, r.perplexity, r.tokens
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct FinetuneArgs {
    /// The pretrained language-model directory.
    #[arg(long)]
    model: PathBuf,
    /// Target-domain sequences (FASTA or GenBank files); a corpus is built from them with the
    /// pretrained tokenizer (k-mers it lacks become unk) in OUT/corpus.
    #[arg(long, num_args = 1.., required_unless_present_any = ["corpus", "task"])]
    fasta: Vec<PathBuf>,
    /// Or a corpus already built with the pretrained tokenizer (`corpus build --tokenizer MODEL`).
    #[arg(long, conflicts_with = "fasta")]
    corpus: Option<PathBuf>,
    /// Or a classifier config (configs/<task>.toml): the LM learns the task's training and
    /// validation sequences (never its test split), as ULMFiT fine-tunes on the target corpus.
    #[arg(long, conflicts_with_all = ["fasta", "corpus"])]
    task: Option<PathBuf>,
    /// Training settings (an lm config); by default the pretrained run's own. The model section
    /// always comes from the pretrained model.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The fine-tuned model directory.
    #[arg(long)]
    out: PathBuf,
    /// Override any value: --set train.lr=2e-3 --set train.epochs=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    #[arg(long)]
    json: bool,
    #[arg(long, short)]
    quiet: bool,
}

pub fn finetune(args: FinetuneArgs, interrupted: &AtomicBool) -> Result<()> {
    let saved = lm::load_model_config(&args.model)?;
    let corpus = match &args.corpus {
        Some(c) => c.clone(),
        None => {
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))?;
            let mut fasta = args.fasta.clone();
            if let Some(task) = &args.task {
                let task_cfg: crate::train::classify::ClassifyConfig =
                    genolm::config::load(Some(task), &[])?;
                let path = args.out.join("task_sequences.fa");
                let n = crate::train::classify::write_lm_sequences(&task_cfg, &path)?;
                eprintln!(
                    "finetune-lm: {n} training/validation sequences of {}",
                    task.display()
                );
                fasta.push(path);
            }
            let mut cc = genolm::corpus::CorpusConfig::default();
            cc.inputs.fasta = fasta;
            cc.tokenizer.from = Some(args.model.clone());
            cc.documents.doc_len = 1000;
            cc.split.seed = saved.pretrain.train.seed;
            let dir = args.out.join("corpus");
            let show = !args.quiet && !args.json;
            genolm::corpus::build_corpus(&cc, &dir, true, interrupted, show)?;
            dir
        }
    };
    let base = match &args.config {
        Some(path) => genolm::config::load::<PretrainConfig>(Some(path), &[])?,
        None => saved.pretrain.clone(),
    };
    let mut cfg = genolm::config::reapply(&base, &args.sets)?;
    cfg.corpus = corpus;
    cfg.model = saved.pretrain.model.clone();
    cfg.init_from = Some(args.model.clone());
    let opts = FitOptions {
        resume: false,
        interrupted,
        progress: !args.quiet && !args.json,
        stop_after: None,
    };
    let report = lm::pretrain(&cfg, &args.out, &opts)?;
    if !crate::dist::is_main() {
        return Ok(());
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "finetune-lm: {} steps, valid loss {} (baseline {:.4}) -> {}",
            report.steps,
            report
                .valid_loss
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "n/a".into()),
            report.baseline_loss,
            report.dir.display()
        );
    }
    Ok(())
}
