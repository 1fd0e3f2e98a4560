//! `genolm cnn train`: one-hot CNNs (configs/cnn-*.toml), from scratch or from a trained CNN.

use std::sync::atomic::AtomicBool;

use anyhow::Result;
use clap::Args;

use super::run::RunArgs;
use crate::config::cnn::{CnnRunConfig, CnnSpec};
use crate::train::fit::FitOptions;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn train(args: TrainArgs, interrupted: &AtomicBool) -> Result<()> {
    let run = &args.run;
    let cfg: CnnRunConfig = run.config(|dir| Ok(CnnSpec::read(dir)?.config))?;
    let out = run.out_dir(cfg.output.dir.as_ref())?;
    let opts = FitOptions {
        resume: run.resume.is_some(),
        interrupted,
        stop_after: run.stop_after,
        progress: !args.quiet && !run.json,
    };
    let r = crate::train::cnn::train(&cfg, &out, &opts)?;
    super::classify::report("cnn", &out, run.json, r)
}

#[derive(Args)]
pub struct CompareArgs {
    /// The pretrained CNN directory: binary for base and tl0; any classes (e.g. a multi-label
    /// CNN over many TFs) for self, tl and ft.
    #[arg(long)]
    pretrained: std::path::PathBuf,
    /// Labelled data: HDF5 one-hot (x, y), a TSV/CSV with sequence and label columns, or a TOML
    /// file with a [data] section as in configs. Several: one comparison each (e.g. per TF), and
    /// the gain over self plotted against their positives.
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<std::path::PathBuf>,
    /// The two classes, negative then positive (default: the pretrained CNN's if binary, else 0 1).
    #[arg(long, num_args = 2)]
    classes: Option<Vec<String>>,
    /// base: the pretrained CNN as is; self: from scratch; tl: frozen through --freeze-through,
    /// layers above re-initialised; tl0: frozen, layers above fine-tuned; ft: all layers from the
    /// pretrained CNN but the output layer, all trained at --ft-lr.
    #[arg(long, value_enum, num_args = 1.., default_values = ["base", "self", "tl", "tl0"])]
    methods: Vec<crate::train::compare::Method>,
    /// Fractions of the training pool each run trains on.
    #[arg(long, num_args = 1.., default_values_t = [0.1, 0.3, 1.0])]
    frac_trains: Vec<f64>,
    #[arg(long, default_value_t = 0.2)]
    frac_test: f64,
    /// Part of each run's training data held out for early stopping.
    #[arg(long, default_value_t = 0.2)]
    frac_val: f64,
    #[arg(long, default_value_t = 5)]
    nrep: u64,
    /// The layer group frozen (with all below it) for tl and tl0.
    #[arg(long, default_value = "conv2")]
    freeze_through: String,
    /// Most epochs per run; each run keeps its epoch with the best validation loss.
    #[arg(long, default_value_t = 50)]
    epochs: u64,
    /// Epochs without a better validation loss before a run stops (0: never).
    #[arg(long, default_value_t = 5)]
    patience: u64,
    /// Learning rate of self, tl and tl0.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Learning rate of ft (Novakovsky et al.: 3e-4, against 3e-3 from scratch).
    #[arg(long, default_value_t = 1e-4)]
    ft_lr: f64,
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    batch_size: usize,
    /// Output directory: compare.tsv, wilcoxon.tsv, compare-auroc/auprc.svg/png, runs/.
    #[arg(long)]
    out: std::path::PathBuf,
}

/// The labelled source a path names, by its extension.
fn data_source(path: &std::path::Path) -> Result<genolm::corpus::labelled::LabelledSource> {
    use genolm::corpus::labelled::LabelledSource;
    let name = path.to_string_lossy().to_ascii_lowercase();
    Ok(if name.ends_with(".h5") || name.ends_with(".hdf5") {
        LabelledSource::Hdf5 {
            path: path.to_path_buf(),
            x: "x".into(),
            y: "y".into(),
        }
    } else if name.ends_with(".toml") {
        #[derive(serde::Deserialize)]
        struct DataFile {
            data: LabelledSource,
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str::<DataFile>(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            .data
    } else {
        LabelledSource::Table {
            path: path.to_path_buf(),
            sequence_column: "sequence".into(),
            label_column: "label".into(),
            label_columns: None,
            split_column: None,
        }
    })
}

pub fn compare(a: CompareArgs, interrupted: &AtomicBool) -> Result<()> {
    if !(0.0..1.0).contains(&a.frac_test) || !(0.0..1.0).contains(&a.frac_val) {
        anyhow::bail!("--frac-test and --frac-val must be in [0, 1)");
    }
    if let Some(f) = a.frac_trains.iter().find(|f| !(**f > 0.0 && **f <= 1.0)) {
        anyhow::bail!("--frac-trains {f}: each fraction must be in (0, 1]");
    }
    if !(a.lr > 0.0 && a.ft_lr > 0.0) {
        anyhow::bail!("--lr and --ft-lr must be positive");
    }
    let o = crate::train::compare::CompareOptions {
        data: a
            .data
            .iter()
            .map(|d| data_source(d))
            .collect::<Result<Vec<_>>>()?,
        classes: a.classes,
        pretrained: a.pretrained,
        methods: a.methods,
        frac_trains: a.frac_trains,
        frac_test: a.frac_test,
        frac_val: a.frac_val,
        nrep: a.nrep,
        freeze_through: a.freeze_through,
        epochs: a.epochs,
        patience: a.patience,
        lr: a.lr,
        ft_lr: a.ft_lr,
        batch_size: a.batch_size,
        out: a.out,
    };
    crate::train::compare::compare(&o, interrupted)?;
    eprintln!(
        "cnn compare: {} and {} (each transfer method > self, one-sided Wilcoxon), box plots \
         compare-auroc/auprc.png",
        o.out.join("compare.tsv").display(),
        o.out.join("wilcoxon.tsv").display()
    );
    Ok(())
}
