//! Helpers shared by genolm-torch's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `genolm-torch`, the model commands.
pub fn torch_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_genolm-torch"))
}

/// The front `genolm` binary, built beside it.
pub fn front_bin() -> Command {
    Command::new(PathBuf::from(env!("CARGO_BIN_EXE_genolm-torch")).with_file_name("genolm"))
}

/// Asserts success and returns stdout.
pub fn check(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `bin pretrain --config cfg --out out`, for more arguments to be added.
pub fn pretrain_cmd(mut bin: Command, cfg: &Path, out: &Path) -> Command {
    bin.arg("pretrain")
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out);
    bin
}

/// `classify train --config CFG --out OUT` plus `extra` arguments; returns stdout.
pub fn train_classifier(cfg: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "classify",
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    run_torch(&args)
}

pub fn run_torch(args: &[&str]) -> String {
    check(
        torch_bin().args(args).output().unwrap(),
        &format!("{args:?}"),
    )
}

/// A copy of model dir `src` at `dst` whose config.json says it reads forwards: the same weights,
/// the other direction.
pub fn forward_copy(src: &Path, dst: &Path) {
    std::fs::create_dir(dst).unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let (from, to) = ("\"backwards\": true", "\"backwards\": false");
    let text = std::fs::read_to_string(src.join("config.json")).unwrap();
    assert!(
        text.contains(from),
        "config.json of a backward model: {text}"
    );
    std::fs::write(dst.join("config.json"), text.replace(from, to)).unwrap();
}

pub fn run_front(args: &[&str]) -> String {
    check(
        front_bin().args(args).output().unwrap(),
        &format!("genolm {args:?}"),
    )
}

/// Waits until `log` has `lines` lines (training has started and logged), then sends Ctrl-C (SIGINT)
/// to the child, as a user at the terminal would.
pub fn interrupt_after_lines(child: &mut std::process::Child, log: &Path, lines: usize) {
    signal_after_lines(child, log, lines, libc::SIGINT);
}

/// Waits until `log` has `lines` lines, then sends the child `signal`.
pub fn signal_after_lines(child: &mut std::process::Child, log: &Path, lines: usize, signal: i32) {
    signal_when(child, "training", signal, || {
        std::fs::read_to_string(log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            >= lines
    });
}

/// Waits until `ready()` (the child is at work), then sends it Ctrl-C (SIGINT).
pub fn interrupt_when(child: &mut std::process::Child, what: &str, ready: impl Fn() -> bool) {
    signal_when(child, what, libc::SIGINT, ready);
}

/// Waits until `ready()` (the child is at work), then sends it `signal`.
pub fn signal_when(
    child: &mut std::process::Child,
    what: &str,
    signal: i32,
    ready: impl Fn() -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        assert!(child.try_wait().unwrap().is_none(), "{what} exited early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
}

#[path = "../../../tests/common/skip.rs"]
mod skip;

/// `path` when `present`; otherwise None after a SKIPPED line saying `why` it is needed and where
/// it comes from (a failure in CI, which must always have it).
pub fn required(path: PathBuf, present: bool, why: &str) -> Option<PathBuf> {
    if present {
        return Some(path);
    }
    skip::missing(&path.display().to_string(), why);
    None
}

/// `../shared/data`, or None with a SKIPPED line (a failure in CI, which must have it).
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let present = dir.is_dir();
    required(dir, present, "the project's shared real data")
}

pub fn random_bases(n: usize, seed: u64) -> String {
    let mut rng = genolm::rng::SplitMix64::new(seed);
    (0..n)
        .map(|_| b"ACGT"[rng.below(4) as usize] as char)
        .collect()
}

/// The primer's motif, which the motif tasks plant.
pub const MOTIF: &str = "CGACCGAACTCC";

/// `n` random 40 bp sequences (`sequence`, `label` TSV at DIR/motif.tsv); every other one carries
/// [`MOTIF`] at a random place and is labelled `motif`, the others `background`.
pub fn motif_table(dir: &Path, n: usize) -> PathBuf {
    let mut rng = genolm::rng::SplitMix64::new(5);
    let mut text = String::from("sequence\tlabel\n");
    for i in 0..n {
        let mut s: Vec<u8> = (0..40).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        let label = if i % 2 == 0 {
            let at = rng.below(28) as usize;
            s[at..at + 12].copy_from_slice(MOTIF.as_bytes());
            "motif"
        } else {
            "background"
        };
        text.push_str(&format!("{}\t{label}\n", String::from_utf8(s).unwrap()));
    }
    let p = dir.join("motif.tsv");
    std::fs::write(&p, text).unwrap();
    p
}

/// A corpus of random bases (3-mers, stride 3) and a dropout-free LM config over it.
pub fn tiny_lm(dir: &Path, max_steps: u64, extra: &str) -> PathBuf {
    let fa = dir.join("g.fa");
    std::fs::write(&fa, format!(">g\n{}\n", random_bases(60_000, 11))).unwrap();
    let corpus = dir.join("corpus");
    let o = front_bin()
        .args(["corpus", "build", "--fasta"])
        .arg(&fa)
        .args([
            "--k",
            "3",
            "--stride",
            "3",
            "--doc-len",
            "1000",
            "--valid-frac",
            "0.1",
            "--quiet",
            "--out",
        ])
        .arg(&corpus)
        .output()
        .unwrap();
    check(o, "corpus build");
    let cfg = dir.join("lm.toml");
    std::fs::write(
        &cfg,
        format!(
            "corpus = \"{}\"\n[model]\nemb_size = 16\nhidden_size = 32\nn_layers = 2\ndrop_mult = 0.0\n\
             [train]\nbatch_size = 8\nbptt = 20\nepochs = 2\nmax_steps = {max_steps}\nlr = 1e-2\nseed = 5\n\
             threads = 1\nprecision = \"fp32\"\nlog_every = 1\ncheckpoint_every = 10\nvalid_max_batches = 4\n{extra}",
            corpus.display()
        ),
    )
    .unwrap();
    cfg
}

/// `genolm launch --nproc N --threads 1 -- CMD --config CFG --out OUT EXTRA...` (30 s collective
/// timeout).
pub fn launch(
    nproc: u32,
    cmd: &[&str],
    cfg: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    front_bin()
        .env("GENOLM_DIST_TIMEOUT", "30")
        .args([
            "launch",
            "--nproc",
            &nproc.to_string(),
            "--threads",
            "1",
            "--",
        ])
        .args(cmd)
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// The `train_loss` of each row of DIR/metrics.jsonl.
pub fn losses(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"].as_f64()
        })
        .collect()
}

/// The largest difference between two model directories' weights.
pub fn max_weight_diff(a: &Path, b: &Path) -> f64 {
    max_weight_diff_where(a, b, |_| true)
}

/// [`max_weight_diff`] over the tensors whose name passes `compared`.
pub fn max_weight_diff_where(a: &Path, b: &Path, compared: impl Fn(&str) -> bool) -> f64 {
    let a = tch::Tensor::read_safetensors(a.join("model.safetensors")).unwrap();
    let b: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(b.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    a.iter()
        .filter(|(name, _)| compared(name))
        .map(|(name, t)| (t - &b[name]).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

/// A CNN config (conv and dense blocks with BatchNorm, no dropout, batch 16, `epochs` epochs) over
/// [`motif_table`]'s `n` rows as `lines` data (DIR/seqs.txt, DIR/labels.txt): DIR/cnn.toml.
pub fn motif_cnn(dir: &Path, n: usize, epochs: u32) -> PathBuf {
    let text = std::fs::read_to_string(motif_table(dir, n)).unwrap();
    let (mut seqs, mut labels) = (String::new(), String::new());
    for line in text.lines().skip(1) {
        let (s, l) = line.split_once('\t').unwrap();
        seqs.push_str(&format!("{s}\n"));
        labels.push_str(if l == "motif" { "1\n" } else { "0\n" });
    }
    std::fs::write(dir.join("seqs.txt"), seqs).unwrap();
    std::fs::write(dir.join("labels.txt"), labels).unwrap();
    let cnn = dir.join("cnn.toml");
    std::fs::write(
        &cnn,
        format!(
            "[data]\nformat = \"lines\"\nsequences = \"{0}/seqs.txt\"\nlabels = \"{0}/labels.txt\"\n\
             [split]\nvalid_frac = 0.15\ntest_frac = 0.25\n[model]\ninput_len = 40\n\
             [[model.conv]]\nfilters = 8\nkernel = 7\nbatch_norm = true\nactivation = \"relu\"\npool = 2\n\
             [[model.dense]]\nunits = 8\nbatch_norm = true\nactivation = \"relu\"\n\
             [train]\nbatch_size = 16\nthreads = 1\nprecision = \"fp32\"\nrc_augment = false\n\
             rc_average = false\nstages = [{{ epochs = {epochs}, lr = 1e-2 }}]\n",
            dir.display()
        ),
    )
    .unwrap();
    cnn
}

/// The [train] section of the motif classifiers: batch 16, one thread, 8 epochs of all groups.
pub const MOTIF_TRAIN: &str =
    "[train]\nbatch_size = 16\nthreads = 1\nstages = [{ unfreeze = 0, epochs = 8, lr = 1e-2 }]\n";

/// DIR/c.toml: a tiny ULMFiT classifier (3-mers, emb 16, hidden 32, 2 layers, `drop_mult`; 15 %
/// validation, 25 % test) over [`motif_table`]'s `n` rows (DIR/motif.tsv), `rest` ([head],
/// [train]) after it.
pub fn motif_ulmfit(dir: &Path, n: usize, drop_mult: f64, rest: &str) -> PathBuf {
    let table = motif_table(dir, n);
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "k = 3\nstride = 1\ndrop_mult = {drop_mult}\n[data]\nformat = \"table\"\npath = \"{}\"\n[split]\n\
             valid_frac = 0.15\ntest_frac = 0.25\n[model]\nemb_size = 16\nhidden_size = 32\nn_layers = 2\n{rest}",
            table.display()
        ),
    )
    .unwrap();
    cfg
}

/// Relative agreement of two loss curves, row by row.
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert!(
        !a.is_empty() && a.len() == b.len(),
        "{what}: {a:?} vs {b:?}"
    );
    for (row, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * x.abs().max(1.0),
            "{what}, row {row}: {x} vs {y}"
        );
    }
}

/// `cmd` (e.g. `pretrain`, `cnn train`) on `cfg`, by one rank and by two under `genolm launch`:
/// their logged losses agree within `tol` (relative). Returns the two model directories.
pub fn one_and_two_ranks(cmd: &[&str], cfg: &Path, dir: &Path, tol: f64) -> (PathBuf, PathBuf) {
    let run = |ranks: u32| {
        let out = dir.join(format!("{}-{ranks}", cmd.join("-")));
        let o = launch(ranks, cmd, cfg, &out, &["--quiet"]);
        check(o, &format!("{cmd:?} on {ranks} rank(s)"));
        out
    };
    let (one, two) = (run(1), run(2));
    assert_close(
        &losses(&one),
        &losses(&two),
        tol,
        &format!("{cmd:?}, one rank vs two"),
    );
    (one, two)
}

/// `genolm-torch predict --model MODEL --fasta FASTA --out OUT EXTRA...`: the TSV it wrote.
pub fn predict_tsv(model: &Path, fasta: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--fasta",
        fasta.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    run_torch(&args);
    std::fs::read_to_string(out).unwrap()
}
