//! Data-parallel training on c10d (Gloo over loopback): two ranks at batch B/2 follow one rank at
//! batch B; a killed rank makes the other exit with a clear error, not hang; a two-rank checkpoint
//! resumes on one rank; `genolm launch` stops its ranks when one fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// This build's c10d backends (`genolm-torch info`); None with a SKIPPED line if it has none.
fn c10d() -> Option<()> {
    let info = run_torch(&["info", "--device", "cpu", "--json"]);
    let v: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    let present = v["data_parallel"]
        .as_str()
        .is_some_and(|b| b.contains("gloo"));
    required(
        PathBuf::from(".cache/gloo"),
        present,
        "Gloo headers for the c10d shim: scripts/setup.sh unpacks Debian's libgloo-dev there",
    )
    .map(|_| ())
}

#[test]
fn test_two_ranks_follow_one_rank_and_resume_on_one() {
    let Some(()) = c10d() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_lm(tmp.path(), 60, "");
    let one = tmp.path().join("one");
    check(
        pretrain_cmd(torch_bin(), &cfg, &one)
            .arg("--quiet")
            .output()
            .unwrap(),
        "one rank",
    );
    let two = tmp.path().join("two");
    let o = launch(2, &["pretrain"], &cfg, &two, &["--quiet", "--json"]);
    let stdout = check(o, "two ranks");
    assert_eq!(stdout.lines().count(), 1, "rank 0 alone reports: {stdout}");
    assert_close(&losses(&one), &losses(&two), 1e-4, "one rank vs two");
    let d = max_weight_diff(&one, &two);
    assert!(d < 1e-4, "the two runs' weights differ by {d}");
    // A two-rank run stopped at step 25 (a checkpoint), then resumed by one rank.
    let split = tmp.path().join("split");
    let o = launch(
        2,
        &["pretrain"],
        &cfg,
        &split,
        &["--quiet", "--stop-after", "25"],
    );
    check(o, "two ranks, stopped");
    let o = torch_bin()
        .args(["pretrain", "--resume", split.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    check(o, "resume on one rank");
    let d = max_weight_diff(&one, &split);
    assert!(d < 1e-4, "resumed on one rank, the weights differ by {d}");
}

#[test]
fn test_a_killed_rank_stops_the_other_with_an_error() {
    let Some(()) = c10d() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_lm(tmp.path(), 1_000_000, "");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tmp.path().join("m");
    let rank = |r: u32| {
        let mut c: Command = pretrain_cmd(torch_bin(), &cfg, &out);
        c.arg("--quiet")
            .env("RANK", r.to_string())
            .env("WORLD_SIZE", "2")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .env("GENOLM_DIST_TIMEOUT", "20")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut r0 = rank(0);
    let mut r1 = rank(1);
    signal_after_lines(&mut r1, &out.join("metrics.jsonl"), 15, libc::SIGKILL);
    r1.wait().unwrap();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(60);
    while r0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "rank 0 still running 60 s after rank 1 died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = r0.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "rank 0 must fail");
    assert!(err.contains("c10d") && err.contains("rank 0 of 2"), "{err}");
    // The last checkpoint is whole: one rank resumes it.
    let o = torch_bin()
        .args([
            "pretrain",
            "--resume",
            out.to_str().unwrap(),
            "--quiet",
            "--set",
            "train.max_steps=30",
        ])
        .output()
        .unwrap();
    check(o, "resume after a rank died");
}

#[test]
fn test_launch_stops_the_ranks_when_one_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.toml");
    let o = launch(2, &["pretrain"], &missing, Path::new("x"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("launch: failed: rank"), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
}

/// A ULMFiT classifier trained by 2 ranks (each half of every batch) learns the motif as one
/// rank does, and rank 0 alone writes the model directory and reports.
#[test]
fn test_two_ranks_train_a_classifier() {
    let Some(()) = c10d() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = motif_ulmfit(tmp.path(), 240, 0.1, MOTIF_TRAIN);
    let out = tmp.path().join("clf");
    let o = launch(
        2,
        &["classify", "train"],
        &cfg,
        &out,
        &["--json", "--quiet"],
    );
    let stdout = check(o, "two-rank classifier");
    assert_eq!(stdout.lines().count(), 1, "rank 0 alone reports: {stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.9, "{v}");
    assert!(out.join("model.safetensors").exists() && !out.join("train_state").exists());
}

/// One rank and two run `cmd train` (`classify`, `cnn`) on `cfg`: with BatchNorm layers and no
/// dropout, two ranks at B/2 normalise with the whole batch's statistics (SyncBatchNorm) and
/// follow one rank at B, in their losses and weights.
fn one_and_two_ranks_agree(cmd: &str, cfg: &Path, dir: &Path) {
    let (one, two) = one_and_two_ranks(&[cmd, "train"], cfg, dir, 1e-5);
    // Weights, but not the biases of layers a BatchNorm follows (and the running means that
    // track them): their gradient is zero but for rounding, which Adam scales up to steps of lr,
    // differently in any two runs that round differently.
    let d = max_weight_diff_where(&one, &two, |name| {
        name.ends_with("weight") || name.ends_with("running_var")
    });
    assert!(d < 1e-4, "{cmd}: the two runs' weights differ by {d}");
}

#[test]
fn test_two_ranks_follow_one_rank_through_batch_norm() {
    let Some(()) = c10d() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 240 rows: 144 train, 9 whole batches of 16 (8 per rank).
    let ulmfit = motif_ulmfit(
        tmp.path(),
        240,
        0.0,
        "[head]\nps = [0.0, 0.0]\n[train]\nbatch_size = 16\nthreads = 1\nprecision = \"fp32\"\n\
         stages = [{ unfreeze = 1, epochs = 2, lr = 1e-2 }, { unfreeze = 0, epochs = 2, lr = 1e-3 }]\n",
    );
    one_and_two_ranks_agree("classify", &ulmfit, tmp.path());
    let cnn = motif_cnn(tmp.path(), 240, 3);
    one_and_two_ranks_agree("cnn", &cnn, tmp.path());
}
