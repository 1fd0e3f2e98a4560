//! Fuzzes what the model commands read (issue #24) with the engine of `genolm::fuzz`: the
//! pretraining, classifier and CNN TOML configs (parsed and checked as the commands check them
//! before reading data), and whole model directories, one file damaged per input: a ULMFiT
//! classifier and a CNN (loaded as `predict` loads them, then asked for a prediction) and a
//! language model (evaluated on its corpus as `lm eval` does).
//!
//!   cargo run --release -p genolm-torch --example fuzz_models -- [--inputs N] [--target NAME] [--seed S]

use std::path::Path;
use std::sync::atomic::AtomicBool;

use genolm_torch::config::classify::ClassifyConfig;
use genolm_torch::config::cnn::CnnRunConfig;
use genolm_torch::config::lm::PretrainConfig;
use genolm_torch::train::fit::FitOptions;

const PRETRAIN_TOML: &str = "corpus = \"out/corpus\"\n[model]\nemb_size = 32\nhidden_size = 64\n\
n_layers = 2\ndrop_mult = 0.5\n[train]\nbatch_size = 16\nbptt = 35\nepochs = 2\nlr = 1e-2\n\
weight_decay = 0.01\nmoms = [0.95, 0.85]\npct_start = 0.25\nclip = 0.25\nprecision = \"fp32\"\n\
seed = 7\nlog_every = 5\ncheckpoint_every = 10\n[output]\ndir = \"out/lm\"\n";

const CLASSIFY_TOML: &str = "k = 3\nstride = 1\ndrop_mult = 0.2\n[data]\nformat = \"lines\"\n\
sequences = \"s.txt\"\nlabels = \"l.txt\"\n[split]\nvalid_frac = 0.1\ntest_frac = 0.25\nseed = 42\n\
[model]\nemb_size = 32\nhidden_size = 64\nn_layers = 2\n[head]\nlin_size = 32\nbptt = 20\n\
[train]\nbatch_size = 8\nstages = [{ unfreeze = 0, epochs = 2, lr = 1e-2 }]\nmetric = \"mcc\"\nseed = 1\n";

const CNN_TOML: &str = "[data]\nformat = \"table\"\npath = \"t.tsv\"\n[model]\ninput_len = 50\n\
[[model.conv]]\nfilters = 8\nkernel = 5\nactivation = \"relu\"\npool = 2\nbatch_norm = true\n\
[[model.conv]]\nfilters = 8\nkernel = 3\ndilation = 2\npool = 2\n[[model.dense]]\nunits = 16\n\
activation = \"relu\"\ndropout = 0.2\n[train]\nbatch_size = 8\nschedule = \"one_cycle\"\n\
stages = [{ epochs = 1, lr = 1e-2 }]\nmetric = \"valid_loss\"\nseed = 3\n";

fn parse_then<T: serde::de::DeserializeOwned>(
    b: &[u8],
    scratch: &Path,
    check: impl Fn(&T) -> bool,
) -> bool {
    let path = scratch.join("fuzz.toml");
    std::fs::write(&path, b).expect("scratch file");
    match genolm::config::load::<T>(Some(&path), &[]) {
        Ok(cfg) => check(&cfg),
        Err(_) => false,
    }
}

fn pretrain_toml(b: &[u8], scratch: &Path) -> bool {
    parse_then::<PretrainConfig>(b, scratch, |c| genolm_torch::train::lm::validate(c).is_ok())
}

fn classify_toml(b: &[u8], scratch: &Path) -> bool {
    parse_then::<ClassifyConfig>(b, scratch, |c| {
        genolm_torch::train::classify::validate_config(c).is_ok()
    })
}

fn cnn_toml(b: &[u8], scratch: &Path) -> bool {
    parse_then::<CnnRunConfig>(b, scratch, |c| {
        genolm_torch::train::cnn::validate_config(c).is_ok()
    })
}

const ULMFIT_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
];
const CNN_FILES: &[&str] = &["config.json", "model.safetensors"];
const LM_FILES: &[&str] = ULMFIT_FILES;

/// 60 labelled 50 bp sequences (`sequence`, `label`), half of them carrying a motif.
fn write_task(dir: &Path) -> std::path::PathBuf {
    let mut rng = genolm::rng::SplitMix64::new(9);
    let mut text = String::from("sequence\tlabel\n");
    for i in 0..60 {
        let mut s: Vec<u8> = (0..50).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        if i % 2 == 1 {
            s[20..32].copy_from_slice(b"CGACCGAACTCC");
        }
        text.push_str(&format!("{}\t{}\n", String::from_utf8(s).unwrap(), i % 2));
    }
    let path = dir.join("task.tsv");
    std::fs::write(&path, text).expect("scratch file");
    path
}

/// Trains the three tiny models whose directories the model-dir targets damage (once, in
/// `root`): a CNN, a ULMFiT classifier, and a language model with the corpus it read.
fn train_models(root: &Path) {
    if ["cnn", "ulmfit", "lm"]
        .iter()
        .all(|m| root.join(m).join("model.safetensors").exists())
    {
        return;
    }
    std::fs::create_dir_all(root).expect("scratch dir");
    let task = write_task(root);
    let data = format!(
        "[data]\nformat = \"table\"\npath = \"{}\"\n[split]\nvalid_frac = 0.2\ntest_frac = 0.2\nseed = 1\n",
        task.display()
    );
    let stop = AtomicBool::new(false);
    let opts = FitOptions {
        resume: false,
        interrupted: &stop,
        stop_after: None,
        progress: false,
    };
    let cnn_cfg = root.join("cnn.toml");
    let cnn = format!(
        "{data}[model]\ninput_len = 50\n[[model.conv]]\nfilters = 4\nkernel = 5\npool = 2\n\
         [[model.dense]]\nunits = 8\nactivation = \"relu\"\n[train]\nbatch_size = 8\n\
         stages = [{{ epochs = 1, lr = 1e-2 }}]\nthreads = 1\n"
    );
    std::fs::write(&cnn_cfg, cnn).expect("scratch file");
    let cfg: CnnRunConfig = genolm::config::load(Some(&cnn_cfg), &[]).expect("CNN config");
    let _ = std::fs::remove_dir_all(root.join("cnn"));
    genolm_torch::train::cnn::train(&cfg, &root.join("cnn"), &opts).expect("tiny CNN");
    let clf_cfg = root.join("ulmfit.toml");
    let clf = format!(
        "k = 3\nstride = 1\n{data}[model]\nemb_size = 8\nhidden_size = 16\nn_layers = 2\n\
         [head]\nlin_size = 8\n[train]\nbatch_size = 8\n\
         stages = [{{ unfreeze = 0, epochs = 1, lr = 1e-2 }}]\nthreads = 1\n"
    );
    std::fs::write(&clf_cfg, clf).expect("scratch file");
    let cfg: ClassifyConfig = genolm::config::load(Some(&clf_cfg), &[]).expect("ULMFiT config");
    let _ = std::fs::remove_dir_all(root.join("ulmfit"));
    genolm_torch::train::classify::train(&cfg, &root.join("ulmfit"), &opts).expect("tiny ULMFiT");
    train_lm(root, &opts);
}

/// A 3-mer corpus of 6 kbp and a tiny LM pretrained on it for 20 steps.
fn train_lm(root: &Path, opts: &FitOptions) {
    let mut rng = genolm::rng::SplitMix64::new(3);
    let seq: String = (0..6000)
        .map(|_| b"ACGT"[rng.below(4) as usize] as char)
        .collect();
    let fasta = root.join("g.fa");
    std::fs::write(&fasta, format!(">g\n{seq}\n")).expect("scratch file");
    let corpus_cfg = root.join("corpus.toml");
    std::fs::write(
        &corpus_cfg,
        format!(
            "[tokenizer]\nk = 3\nstride = 3\n[inputs]\nfasta = [\"{}\"]\n[documents]\ndoc_len = 500\n\
             [split]\nvalid_frac = 0.25\nseed = 1\n",
            fasta.display()
        ),
    )
    .expect("scratch file");
    let cfg: genolm::corpus::CorpusConfig =
        genolm::config::load(Some(&corpus_cfg), &[]).expect("corpus config");
    let stop = AtomicBool::new(false);
    genolm::corpus::build::build_corpus(&cfg, &root.join("corpus"), true, &stop, false)
        .expect("tiny corpus");
    let lm_cfg = root.join("lm.toml");
    std::fs::write(
        &lm_cfg,
        format!(
            "corpus = \"{}\"\n[model]\nemb_size = 8\nhidden_size = 16\nn_layers = 2\n[train]\n\
             batch_size = 4\nbptt = 10\nmax_steps = 20\nthreads = 1\ncheckpoint_every = 0\n",
            root.join("corpus").display()
        ),
    )
    .expect("scratch file");
    let cfg: PretrainConfig = genolm::config::load(Some(&lm_cfg), &[]).expect("LM config");
    let _ = std::fs::remove_dir_all(root.join("lm"));
    genolm_torch::train::lm::pretrain(&cfg, &root.join("lm"), opts).expect("tiny LM");
}

/// Loads the damaged copy of `which` as `predict` does and predicts two sequences.
fn model_dir(b: &[u8], scratch: &Path, which: &str, files: &[&str]) -> bool {
    let root = scratch.join("models");
    train_models(&root);
    let work = scratch.join(format!("{which}-work"));
    genolm::fuzz::lay_out(b, &root.join(which), &work, files);
    let Ok(p) = genolm_torch::infer::predict::load_predictor(
        &work,
        tch::Device::Cpu,
        genolm_torch::train::Precision::Fp32,
    ) else {
        return false;
    };
    let a = [b'A'; 50];
    let c = *b"CGACCGAACTCCACGTACGTACGTACGTACGTACGTACGTACGTACGTAC";
    p.predict(&[&a, &c], 2).is_ok()
}

fn model_dir_cnn(b: &[u8], scratch: &Path) -> bool {
    model_dir(b, scratch, "cnn", CNN_FILES)
}

fn model_dir_ulmfit(b: &[u8], scratch: &Path) -> bool {
    model_dir(b, scratch, "ulmfit", ULMFIT_FILES)
}

/// A damaged copy of the language model, evaluated on its corpus as `lm eval` does.
fn model_dir_lm(b: &[u8], scratch: &Path) -> bool {
    let root = scratch.join("models");
    train_models(&root);
    let work = scratch.join("lm-work");
    genolm::fuzz::lay_out(b, &root.join("lm"), &work, LM_FILES);
    let o = genolm_torch::train::lm::EvalOptions {
        split: None,
        device: "cpu".into(),
        batch_size: 2,
        bptt: 8,
        precision: genolm_torch::train::Precision::Fp32,
        max_batches: 3,
        progress: false,
    };
    genolm_torch::train::lm::eval_command(&work, &root.join("corpus"), &o).is_ok()
}

fn main() {
    tch::set_num_threads(1);
    let seeds_root =
        std::env::temp_dir().join(format!("genolm-fuzz-models-{}", std::process::id()));
    train_models(&seeds_root);
    let targets: Vec<genolm::fuzz::Named> = vec![
        ("pretrain-toml", pretrain_toml, vec![PRETRAIN_TOML.into()]),
        ("classify-toml", classify_toml, vec![CLASSIFY_TOML.into()]),
        ("cnn-toml", cnn_toml, vec![CNN_TOML.into()]),
        (
            "model-dir-cnn",
            model_dir_cnn,
            genolm::fuzz::dir_seeds(&seeds_root.join("cnn"), CNN_FILES),
        ),
        (
            "model-dir-ulmfit",
            model_dir_ulmfit,
            genolm::fuzz::dir_seeds(&seeds_root.join("ulmfit"), ULMFIT_FILES),
        ),
        (
            "model-dir-lm",
            model_dir_lm,
            genolm::fuzz::dir_seeds(&seeds_root.join("lm"), LM_FILES),
        ),
    ];
    let _ = std::fs::remove_dir_all(&seeds_root);
    genolm::fuzz::main(targets, &Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}
