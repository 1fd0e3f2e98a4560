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
