//! `genolm pretrain` / `lm eval` end to end on small corpora: learning, resume, Ctrl-C, bad configs.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A corpus from FASTA text; returns its directory.
fn corpus(dir: &Path, name: &str, fasta: &str, k: usize, stride: usize, doc_len: usize) -> PathBuf {
    let fa = dir.join(format!("{name}.fa"));
    std::fs::write(&fa, fasta).unwrap();
    let out = dir.join(name);
    let o = front_bin()
        .args([
            "corpus",
            "build",
            "--fasta",
            fa.to_str().unwrap(),
            "--k",
            &k.to_string(),
            "--stride",
            &stride.to_string(),
            "--doc-len",
            &doc_len.to_string(),
            "--valid-frac",
            "0.1",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    check(o, "corpus build");
    out
}

/// A small-model config; `extra` lines are appended to [train].
/// A corpus of one record of `bases` random bases (seeded), in 1000 bp documents.
fn random_corpus(
    dir: &Path,
    name: &str,
    bases: usize,
    seed: u64,
    k: usize,
    stride: usize,
) -> PathBuf {
    let fasta = format!(">{name}\n{}\n", random_bases(bases, seed));
    corpus(dir, name, &fasta, k, stride, 1000)
}

fn config(dir: &Path, name: &str, corpus: &Path, model: &str, extra: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    let mut train = String::new();
    for (key, value) in [
        ("threads", "1"),
        ("log_every", "10"),
        ("checkpoint_every", "0"),
    ] {
        if !extra.lines().any(|l| l.starts_with(key)) {
            train.push_str(&format!("{key} = {value}\n"));
        }
    }
    let text = format!(
        "corpus = \"{}\"\n[model]\n{model}\n[train]\n{train}{extra}\n",
        corpus.display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn pretrain(cfg: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = pretrain_cmd(torch_bin(), cfg, out)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let stdout = check(o, "pretrain");
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// `lm eval --model model --corpus corpus --json` plus `extra`: its JSON summary.
fn lm_eval(model: &Path, corpus: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["lm", "eval", "--model", model.to_str().unwrap()];
    args.extend(["--corpus", corpus.to_str().unwrap(), "--json"]);
    args.extend(extra);
    serde_json::from_str(run_torch(&args).trim()).unwrap()
}

const TINY: &str = "emb_size = 16\nhidden_size = 32\nn_layers = 2";

#[test]
fn test_periodic_corpus_reaches_near_zero_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = random_bases(29, 1);
    let c = corpus(
        tmp.path(),
        "periodic",
        &format!(">p\n{}\n", unit.repeat(1500)),
        3,
        1,
        1500,
    );
    let cfg = config(
        tmp.path(),
        "p",
        &c,
        TINY,
        "batch_size = 8\nbptt = 30\nepochs = 3\nlr = 2e-2",
    );
    let r = pretrain(&cfg, &tmp.path().join("m"), &[]);
    let valid = r["valid_loss"].as_f64().unwrap();
    assert!(
        valid < 0.15,
        "a 29-base repeat is predictable: valid loss {valid}"
    );
    assert!(r["valid_accuracy"].as_f64().unwrap() > 0.97);
    for f in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "metrics.jsonl",
        "training.svg",
        "training.png",
        "train_state",
    ] {
        assert!(
            tmp.path().join("m").join(f).exists(),
            "{f} in the model dir"
        );
    }
}

#[test]
fn test_real_genome_slice_beats_the_kmer_baseline() {
    let Some(shared) = shared_data() else { return };
    let data = shared.join("ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna");
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&data).unwrap();
    let seq: String = text.lines().skip(1).collect::<String>()[..300_000].to_string();
    let c = corpus(tmp.path(), "ecoli", &format!(">slice\n{seq}\n"), 3, 1, 1000);
    let model = "emb_size = 32\nhidden_size = 96\nn_layers = 2\ndrop_mult = 0.2";
    let cfg = config(
        tmp.path(),
        "e",
        &c,
        model,
        "batch_size = 32\nbptt = 40\nepochs = 8\nlr = 2e-2",
    );
    let r = pretrain(&cfg, &tmp.path().join("m"), &[]);
    let (valid, baseline) = (
        r["valid_loss"].as_f64().unwrap(),
        r["baseline_loss"].as_f64().unwrap(),
    );
    assert!((baseline - 4f64.ln()).abs() < 1e-9);
    assert!(
        valid < baseline,
        "E. coli is not uniform random: valid {valid} vs ln 4 = {baseline}"
    );
}

#[test]
fn test_resumed_run_ends_with_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let c = random_corpus(tmp.path(), "r", 40_000, 2, 4, 2);
    let cfg = config(
        tmp.path(),
        "r",
        &c,
        TINY,
        "batch_size = 8\nbptt = 20\nepochs = 2\nmax_steps = 160\nlr = 1e-2",
    );
    let whole = tmp.path().join("whole");
    let split = tmp.path().join("split");
    pretrain(&cfg, &whole, &[]);
    // Stops mid-epoch 2 (an epoch is ~120 steps): position, optimizer moments and hidden state must all come back.
    let first = pretrain(&cfg, &split, &["--stop-after", "130"]);
    assert_eq!(first["completed"], false);
    let o = torch_bin()
        .args(["pretrain", "--resume", split.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let r: serde_json::Value =
        serde_json::from_str(check(o, "resume").lines().last().unwrap()).unwrap();
    assert_eq!(r["steps"], 160);
    let a = tch::Tensor::read_safetensors(whole.join("model.safetensors")).unwrap();
    let b: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(split.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let diff = (t - &b[name]).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{name} differs by {diff}");
    }
    let lines = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(
        lines(&whole),
        lines(&split),
        "metrics continue, not restart"
    );
}

/// kill -9 (no chance to save anything) twice mid-run: each restart resumes from the last periodic
/// checkpoint, and the run ends with the weights and metrics of an uninterrupted one.
#[test]
fn test_killed_runs_resume_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let c = random_corpus(tmp.path(), "k", 40_000, 5, 4, 2);
    let cfg = config(
        tmp.path(),
        "k",
        &c,
        TINY,
        "batch_size = 8\nbptt = 20\nepochs = 2\nmax_steps = 200\nlr = 1e-2\nlog_every = 1\ncheckpoint_every = 7",
    );
    let whole = tmp.path().join("whole");
    pretrain(&cfg, &whole, &[]);
    let out = tmp.path().join("killed");
    let mut child = pretrain_cmd(torch_bin(), &cfg, &out)
        .arg("--quiet")
        .spawn()
        .unwrap();
    let metrics = out.join("metrics.jsonl");
    signal_after_lines(&mut child, &metrics, 40, libc::SIGKILL);
    child.wait().unwrap();
    let mut child = torch_bin()
        .args(["pretrain", "--resume", out.to_str().unwrap(), "--quiet"])
        .spawn()
        .unwrap();
    signal_after_lines(&mut child, &metrics, 110, libc::SIGKILL);
    child.wait().unwrap();
    let pos: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("train_state/position.json")).unwrap(),
    )
    .unwrap();
    assert!(pos["step"].as_u64().unwrap() >= 35, "{pos}");
    let o = torch_bin()
        .args(["pretrain", "--resume", out.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    check(o, "resume after kill -9");
    let a = std::fs::read(whole.join("model.safetensors")).unwrap();
    let b = std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(
        a == b,
        "the resumed run's weights differ from the uninterrupted run's"
    );
    let steps = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&whole), steps(&out), "each step logged once");
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

/// A `train_state/` copied from another run (same config, so every shape agrees) is refused as
/// the other run's, not silently continued.
#[test]
fn test_a_checkpoint_from_another_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = random_corpus(tmp.path(), "o", 20_000, 8, 4, 2);
    let cfg = config(
        tmp.path(),
        "o",
        &c,
        TINY,
        "batch_size = 8\nbptt = 20\nmax_steps = 40\ncheckpoint_every = 5",
    );
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let first = pretrain(&cfg, out, &["--stop-after", "10"]);
        assert_eq!(first["completed"], false);
    }
    std::fs::remove_dir_all(b.join("train_state")).unwrap();
    copy_dir(&a.join("train_state"), &b.join("train_state"));
    let o = torch_bin()
        .args(["pretrain", "--resume", b.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("from another run's directory"), "{err}");
    // Its own run's checkpoint resumes.
    let o = torch_bin()
        .args(["pretrain", "--resume", a.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    check(o, "resume of the checkpoint's own run");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn test_ctrl_c_saves_a_checkpoint_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let c = random_corpus(tmp.path(), "c", 200_000, 3, 4, 2);
    let cfg = config(
        tmp.path(),
        "c",
        &c,
        TINY,
        "batch_size = 8\nbptt = 20\nepochs = 50\nlog_every = 1",
    );
    let out = tmp.path().join("m");
    let mut child = pretrain_cmd(torch_bin(), &cfg, &out)
        .arg("--quiet")
        .spawn()
        .unwrap();
    interrupt_after_lines(&mut child, &out.join("metrics.jsonl"), 3);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let pos: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("train_state/position.json")).unwrap(),
    )
    .unwrap();
    assert!(pos["step"].as_u64().unwrap() >= 3);
    let o = torch_bin()
        .args([
            "pretrain",
            "--resume",
            out.to_str().unwrap(),
            "--json",
            "--set",
            "train.max_steps=8",
        ])
        .output()
        .unwrap();
    check(o, "resume after Ctrl-C");
}

#[test]
fn test_loss_scaling_leaves_training_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let c = random_corpus(tmp.path(), "s", 20_000, 5, 4, 2);
    let cfg = config(
        tmp.path(),
        "s",
        &c,
        TINY,
        "batch_size = 8\nbptt = 20\nmax_steps = 30\nprecision = \"bf16\"",
    );
    let (plain, scaled) = (tmp.path().join("plain"), tmp.path().join("scaled"));
    pretrain(&cfg, &plain, &["--set", "train.loss_scaling=off"]);
    pretrain(&cfg, &scaled, &["--set", "train.loss_scaling=dynamic"]);
    let weights = |d: &Path| -> std::collections::BTreeMap<String, tch::Tensor> {
        tch::Tensor::read_safetensors(d.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .collect()
    };
    let (a, b) = (weights(&plain), weights(&scaled));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert!(
            t.equal(&b[name]),
            "{name}: scaling by 2^16 and back must be exact"
        );
    }
    // The scaler ran (no overflow in 30 steps) and its state is in the checkpoint.
    let state = |d: &Path| -> std::collections::HashMap<String, tch::Tensor> {
        tch::Tensor::read_safetensors(d.join("train_state/optimizer.safetensors"))
            .unwrap()
            .into_iter()
            .collect()
    };
    let s = state(&scaled);
    assert_eq!(s["loss_scaler.scale"].double_value(&[0]), 65536.0);
    assert_eq!(s["loss_scaler.good_steps"].int64_value(&[0]), 30);
    assert!(!state(&plain).contains_key("loss_scaler.scale"));
    // The model dir records the precision a run used: "auto" decided by the machine (bf16 where
    // the CPU computes it natively, as `genolm info` says), an explicit choice as given.
    let precision_of = |d: &Path| -> String {
        let text = std::fs::read_to_string(d.join("config.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["kind"], "awd_lstm_lm");
        v["pretrain"]["train"]["precision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(precision_of(&plain), "bf16");
    let auto = tmp.path().join("auto");
    pretrain(
        &cfg,
        &auto,
        &[
            "--set",
            "train.precision=auto",
            "--set",
            "train.max_steps=2",
        ],
    );
    let info: serde_json::Value =
        serde_json::from_str(run_torch(&["info", "--device", "cpu", "--json"]).trim()).unwrap();
    assert_eq!(
        precision_of(&auto),
        info["precision_auto"].as_str().unwrap()
    );
}

#[test]
fn test_bad_configs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let c = random_corpus(tmp.path(), "b", 20_000, 4, 3, 1);
    let cases: &[(&str, &str, &str)] = &[
        ("bptt", TINY, "bptt = 0"),
        (
            "n_layers",
            "emb_size = 16\nhidden_size = 32\nn_layers = 0",
            "",
        ),
        (
            "hidden_size",
            "emb_size = 16\nhidden_size = 32\nn_layers = 1",
            "",
        ),
        ("unknown", TINY, "learning_rate = 0.1"),
    ];
    for (i, (key, model, extra)) in cases.iter().enumerate() {
        let cfg = config(tmp.path(), &format!("bad{i}"), &c, model, extra);
        let out = tmp.path().join(format!("m{i}"));
        let o = pretrain_cmd(torch_bin(), &cfg, &out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{key}: {err}");
        let expect = if *key == "unknown" {
            "learning_rate"
        } else {
            key
        };
        assert!(err.contains(expect), "{key}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A model evaluated on a corpus with another tokenizer.
    let cfg = config(
        tmp.path(),
        "ok",
        &c,
        TINY,
        "batch_size = 4\nbptt = 10\nmax_steps = 2",
    );
    let m = tmp.path().join("m_ok");
    pretrain(&cfg, &m, &[]);
    let other = random_corpus(tmp.path(), "other", 20_000, 5, 4, 2);
    let o = torch_bin()
        .args([
            "lm",
            "eval",
            "--model",
            m.to_str().unwrap(),
            "--corpus",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("different tokenizer") && err.contains("--tokenizer"),
        "{err}"
    );
    let r = lm_eval(&m, &c, &[]);
    assert!(r["loss"].as_f64().unwrap() > 0.0 && r["tokens"].as_u64().unwrap() > 0);
    // A quick estimate: the first 3 batches (16 x 70 tokens each, the defaults), fp32 and bf16.
    let first3 = |precision| lm_eval(&m, &c, &["--max-batches", "3", "--precision", precision]);
    let (fp32, bf16) = (first3("fp32"), first3("bf16"));
    assert!(fp32["tokens"].as_u64().unwrap() <= 3 * 16 * 70);
    assert!(fp32["tokens"].as_u64().unwrap() < r["tokens"].as_u64().unwrap());
    assert_eq!(fp32["tokens"], bf16["tokens"]);
    let (a, b) = (
        fp32["loss"].as_f64().unwrap(),
        bf16["loss"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 0.01 * a, "bf16 {b} vs fp32 {a}");
}

#[test]
fn test_finetune_lm_starts_from_the_pretrained_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let a = random_corpus(tmp.path(), "a", 30_000, 6, 3, 1);
    let cfg = config(
        tmp.path(),
        "a",
        &a,
        TINY,
        "batch_size = 8\nbptt = 20\nmax_steps = 40\nlr = 1e-2",
    );
    let lm = tmp.path().join("lm");
    pretrain(&cfg, &lm, &[]);
    // The target domain: a repeat the pretrained model has never seen.
    let unit = random_bases(23, 9);
    let fa = tmp.path().join("target.fa");
    std::fs::write(&fa, format!(">t\n{}\n", unit.repeat(1500))).unwrap();
    let ft = tmp.path().join("ft");
    let out = run_torch(&[
        "finetune-lm",
        "--model",
        lm.to_str().unwrap(),
        "--fasta",
        fa.to_str().unwrap(),
        "--out",
        ft.to_str().unwrap(),
        "--json",
        "--set",
        "train.max_steps=120",
        "--set",
        "train.lr=1e-2",
    ]);
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let before = lm_eval(
        &lm,
        &ft.join("corpus"),
        &["--split", "valid", "--batch-size", "8", "--bptt", "20"],
    );
    let (after, before) = (
        r["valid_loss"].as_f64().unwrap(),
        before["loss"].as_f64().unwrap(),
    );
    assert!(
        after < before - 0.3,
        "fine-tuning learns the target domain: {before} -> {after}"
    );
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ft.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        c["pretrain"]["init_from"].as_str().unwrap(),
        lm.to_str().unwrap(),
        "provenance recorded"
    );
    // A corpus with another tokenizer is refused, naming the fix.
    let other = random_corpus(tmp.path(), "other", 20_000, 8, 4, 2);
    let o = torch_bin()
        .args([
            "finetune-lm",
            "--model",
            lm.to_str().unwrap(),
            "--corpus",
            other.to_str().unwrap(),
            "--out",
            tmp.path().join("ft2").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("different tokenizer") && err.contains("--tokenizer"),
        "{err}"
    );
}

#[test]
fn test_backward_lm_learns_the_reversed_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = random_bases(29, 3);
    let c = corpus(
        tmp.path(),
        "periodic",
        &format!(">p\n{}\n", unit.repeat(1500)),
        3,
        1,
        1500,
    );
    let model = format!("{TINY}\nbackwards = true");
    let cfg = config(
        tmp.path(),
        "b",
        &c,
        &model,
        "batch_size = 8\nbptt = 30\nepochs = 3\nlr = 2e-2",
    );
    let back = tmp.path().join("back");
    let r = pretrain(&cfg, &back, &[]);
    let valid = r["valid_loss"].as_f64().unwrap();
    assert!(
        valid < 0.15,
        "read backwards, the repeat is as predictable: {valid}"
    );
    // The same weights reading forwards predict the wrong neighbour.
    let fwd = tmp.path().join("fwd");
    forward_copy(&back, &fwd);
    let eval = |dir: &Path| -> f64 {
        let args = ["--split", "valid", "--batch-size", "4", "--bptt", "20"];
        lm_eval(dir, &c, &args)["loss"].as_f64().unwrap()
    };
    let (as_trained, reversed) = (eval(&back), eval(&fwd));
    assert!(
        as_trained < 0.15,
        "lm eval reads as the model was trained: {as_trained}"
    );
    assert!(
        reversed > 1.0,
        "a backward model is not a forward one: forward loss {reversed}"
    );
}
