//! `genolm classify train`: from scratch and from a pretrained language model's encoder.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;

const TRAIN: &str = MOTIF_TRAIN;

#[test]
fn test_naive_classifier_learns_a_motif() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = motif_ulmfit(tmp.path(), 240, 0.1, TRAIN);
    let table = tmp.path().join("motif.tsv");
    let out = tmp.path().join("clf");
    let line = train_classifier(&cfg, &out, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    for key in [
        "accuracy",
        "precision",
        "recall",
        "specificity",
        "f1",
        "mcc",
        "auroc",
        "auprc",
        "n_test",
        "seconds",
    ] {
        assert!(v.get(key).is_some(), "{key} in {line}");
    }
    assert_eq!(v["n_test"], 60);
    assert!(v["accuracy"].as_f64().unwrap() >= 0.9, "{line}");
    for f in [
        "model.safetensors",
        "config.json",
        "test_metrics.json",
        "metrics.jsonl",
        "roc.png",
        "pr.png",
        "tokenizer.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // classify eval on the whole table reproduces the kind of numbers train reported.
    let e: serde_json::Value = serde_json::from_str(
        run_torch(&[
            "classify",
            "eval",
            "--model",
            out.to_str().unwrap(),
            "--table",
            table.to_str().unwrap(),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(e["n"], 240);
    assert!(e["accuracy"].as_f64().unwrap() > 0.85, "{e}");
    // The test split again, as training drew it: the same accuracy; the per-sequence table training
    // wrote agrees with it; an ensemble of a model with itself changes nothing.
    let tsv = std::fs::read_to_string(out.join("test_predictions.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        ["id", "label", "p_motif", "p_background", "predicted"]
    );
    assert_eq!(rows.len(), 61);
    let right = rows[1..].iter().filter(|r| r[1] == r[4]).count();
    assert!((right as f64 / 60.0 - v["accuracy"].as_f64().unwrap()).abs() < 1e-9);
    let m = out.to_str().unwrap();
    let ens_tsv = tmp.path().join("ens.tsv");
    for models in [vec!["--model", m], vec!["--model", m, "--model", m]] {
        let mut args = vec!["classify", "eval", "--split", "test", "--json"];
        args.extend(&models);
        args.extend(["--out", ens_tsv.to_str().unwrap()]);
        let e: serde_json::Value = serde_json::from_str(run_torch(&args).trim()).unwrap();
        assert_eq!(e["n"], 60);
        assert_eq!(e["models"], models.len() / 2);
        assert!(
            (e["mcc"].as_f64().unwrap() - v["mcc"].as_f64().unwrap()).abs() < 1e-6,
            "{e}"
        );
        let again = std::fs::read_to_string(&ens_tsv).unwrap();
        assert_eq!(again.lines().count(), 61);
        assert_eq!(again.lines().next(), tsv.lines().next());
    }
    // A model trained on another split cannot join an ensemble on "the" test split.
    let other = tmp.path().join("other-split");
    std::fs::create_dir(&other).unwrap();
    for f in std::fs::read_dir(&out).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, other.join(f.file_name().unwrap())).unwrap();
        }
    }
    let saved = std::fs::read_to_string(other.join("config.json")).unwrap();
    let mut saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    saved["config"]["split"]["seed"] = serde_json::json!(7);
    std::fs::write(other.join("config.json"), saved.to_string()).unwrap();
    let args = [
        "classify", "eval", "--split", "test", "--model", m, "--model",
    ];
    let o = torch_bin().args(args).arg(&other).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("model 2 was trained on other data or another split"),
        "{err}"
    );
    let bad = tmp.path().join("bad.tsv");
    std::fs::write(
        &bad,
        "sequence\tlabel\nACGTACGT\tmotif\nGGGGCCCC\tunknown\n",
    )
    .unwrap();
    let o = torch_bin()
        .args([
            "classify",
            "eval",
            "--model",
            out.to_str().unwrap(),
            "--table",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr)
                .contains("label \"unknown\": not one of the model's classes")
    );
    // predict: probabilities per class for a FASTA, with and without reverse-complement averaging.
    let fa = tmp.path().join("q.fa");
    let bg = random_bases(40, 77);
    let with_motif = format!("{}CGACCGAACTCC{}", &bg[..14], &bg[26..]);
    std::fs::write(&fa, format!(">hit\n{with_motif}\n>miss\n{bg}\n")).unwrap();
    // The second reading also averages the model with itself, which must not change the columns.
    for extra in [vec![], vec!["--rc-average", "--model", m]] {
        let text = predict_tsv(&out, &fa, &tmp.path().join("preds.tsv"), &extra);
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows[0], vec!["id", "p_motif", "p_background", "predicted"]);
        assert_eq!((rows[1][0], rows[2][0]), ("hit", "miss"));
        let p_motif = |r: &Vec<&str>| r[1].parse::<f64>().unwrap();
        assert!(
            p_motif(&rows[1]) > p_motif(&rows[2]),
            "the motif raises p_motif:\n{text}"
        );
        assert!(["motif", "background"].contains(&rows[1][3]));
        let p: f64 = rows[1][1].parse::<f64>().unwrap() + rows[1][2].parse::<f64>().unwrap();
        assert!((p - 1.0).abs() < 1e-4, "probabilities sum to 1");
    }
    predict_streams_in_chunks(&out, tmp.path(), &table);
}

/// `predict` reads its input chunk by chunk: any chunk size gives the same table, in input order,
/// and sequences too short for one k-mer are reported.
fn predict_streams_in_chunks(model: &Path, dir: &Path, table: &Path) {
    let text = std::fs::read_to_string(table).unwrap();
    let mut fasta: String = text
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, l)| format!(">s{i}\n{}\n", l.split('\t').next().unwrap()))
        .collect();
    fasta.push_str(">tiny\nAC\n");
    let fa = dir.join("many.fa");
    std::fs::write(&fa, fasta).unwrap();
    let predict = |chunk: &str| {
        let preds = dir.join(format!("chunk{chunk}.tsv"));
        let o = torch_bin()
            .args(["predict", "--json", "--chunk", chunk, "--model"])
            .arg(model)
            .arg("--fasta")
            .arg(&fa)
            .arg("--out")
            .arg(&preds)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        let line = check(o, "predict");
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        (std::fs::read_to_string(preds).unwrap(), v, stderr)
    };
    let (whole, v, stderr) = predict("100000");
    let n = text.lines().count(); // the sequences plus "tiny"
    assert_eq!(
        whole.lines().count(),
        n + 1,
        "header + one row per sequence"
    );
    assert_eq!(
        (v["sequences"].as_u64(), v["shorter_than_k"].as_u64()),
        (Some(n as u64), Some(1))
    );
    // The prediction alone is part of the whole run, so its rate is at least the run's.
    let (whole_rate, compute_rate) = (
        v["sequences_per_s"].as_f64().unwrap(),
        v["compute_sequences_per_s"].as_f64().unwrap(),
    );
    assert!(compute_rate >= whole_rate && whole_rate > 0.0, "{v}");
    assert!(
        stderr.contains("shorter than k") && stderr.contains("'tiny'"),
        "{stderr}"
    );
    // Batches of other sizes may round the last digit differently (other GEMM blockings).
    let rows = |t: &str| -> Vec<(String, f64)> {
        t.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].parse().unwrap())
            })
            .collect()
    };
    for chunk in ["1", "7"] {
        let (chunked, _, _) = predict(chunk);
        assert_eq!(chunked.lines().next(), whole.lines().next());
        for ((id_a, a), (id_b, b)) in rows(&chunked).into_iter().zip(rows(&whole)) {
            assert_eq!(id_a, id_b, "--chunk {chunk} keeps the input order");
            assert!((a - b).abs() < 1e-5, "--chunk {chunk}: {id_a} {a} vs {b}");
        }
        assert_eq!(rows(&chunked).len(), n);
    }
    // Ctrl-C between chunks: exit 130 with neither the table nor its temporary file left behind.
    let many = dir.join("more.fa");
    std::fs::write(&many, std::fs::read_to_string(&fa).unwrap().repeat(20)).unwrap();
    let stopped = dir.join("stopped.tsv");
    let mut child = torch_bin()
        .args(["predict", "--chunk", "1", "--model"])
        .arg(model)
        .args([OsStr::new("--fasta"), many.as_os_str(), OsStr::new("--out")])
        .arg(&stopped)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let litter = || {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".stopped.tsv")
            })
            .count()
    };
    interrupt_when(&mut child, "predict", || litter() > 0);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("nothing written"), "{stderr}");
    assert!(!stopped.exists() && litter() == 0, "partial output left");
}

#[test]
fn test_classifier_starts_from_a_language_model() {
    let tmp = tempfile::tempdir().unwrap();
    let table = motif_table(tmp.path(), 240);
    // An LM over the same sequences (as one FASTA), then a classifier from its encoder and tokenizer.
    let text = std::fs::read_to_string(&table).unwrap();
    let fasta: String = text
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, l)| format!(">s{i}\n{}\n", l.split('\t').next().unwrap()))
        .collect();
    let fa = tmp.path().join("all.fa");
    std::fs::write(&fa, fasta).unwrap();
    let corpus = tmp.path().join("corpus");
    run_front(&[
        "corpus",
        "build",
        "--fasta",
        fa.to_str().unwrap(),
        "--k",
        "3",
        "--stride",
        "1",
        "--doc-len",
        "0",
        "--out",
        corpus.to_str().unwrap(),
        "--quiet",
    ]);
    let lm_cfg = tmp.path().join("lm.toml");
    std::fs::write(
        &lm_cfg,
        format!(
            "corpus = \"{}\"\n[model]\nemb_size = 16\nhidden_size = 32\nn_layers = 2\n\
        [train]\nbatch_size = 8\nbptt = 20\nmax_steps = 30\nthreads = 1\ncheckpoint_every = 0\n",
            corpus.display()
        ),
    )
    .unwrap();
    let lm = tmp.path().join("lm");
    check(
        pretrain_cmd(torch_bin(), &lm_cfg, &lm)
            .arg("--quiet")
            .output()
            .unwrap(),
        "pretrain",
    );
    let cfg = tmp.path().join("c.toml");
    // Head only (the first stage of gradual unfreezing): the encoder must stay the LM's, bit for bit.
    let head_only = "[train]\nbatch_size = 16\nthreads = 1\nstages = [{ unfreeze = 1, epochs = 4, lr = 1e-2 }]\n";
    std::fs::write(
        &cfg,
        format!(
            "lm = \"{}\"\n[data]\nformat = \"table\"\npath = \"{}\"\n{head_only}",
            lm.display(),
            table.display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("clf");
    let line = train_classifier(&cfg, &out, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["n_test"], 36, "{line}");
    let lm_w: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(lm.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let clf_w: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(out.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let encoder: Vec<&String> = clf_w.keys().filter(|k| k.starts_with("encoder.")).collect();
    assert_eq!(
        encoder.len(),
        1 + 4 * 2,
        "embedding + 4 tensors per LSTM layer"
    );
    for name in encoder {
        assert!(
            clf_w[name].equal(&lm_w[name]),
            "{name}: frozen encoder changed or was not loaded from the LM"
        );
    }
    assert!(clf_w.keys().any(|k| k == "head.6.weight"));
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["classes"], serde_json::json!(["motif", "background"]));
    let o = torch_bin()
        .args(["predict", "--model"])
        .arg(&lm)
        .arg("--fasta")
        .arg(&fa)
        .arg("--out")
        .arg(tmp.path().join("p.tsv"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && stderr.contains("an AWD-LSTM language model")
            && stderr.contains("needs a ULMFiT classifier"),
        "{stderr}"
    );
    // ULMFiT's middle step: the LM fine-tuned on the task's sequences, never its test split.
    let ft = tmp.path().join("ft");
    run_torch(&[
        "finetune-lm",
        "--model",
        lm.to_str().unwrap(),
        "--task",
        cfg.to_str().unwrap(),
        "--out",
        ft.to_str().unwrap(),
        "--set",
        "train.max_steps=5",
        "--quiet",
    ]);
    let fa = std::fs::read_to_string(ft.join("task_sequences.fa")).unwrap();
    assert_eq!(fa.matches('>').count(), 240 - 36, "train + valid only");
    assert!(ft.join("model.safetensors").exists());
}

fn naive_config(dir: &Path, table: &Path, train: &str) -> PathBuf {
    let cfg = dir.join("naive.toml");
    std::fs::write(
        &cfg,
        format!(
            "k = 3\nstride = 1\n[data]\nformat = \"table\"\npath = \"{}\"\n[split]\nvalid_frac = 0.15\ntest_frac = 0.25\n\
             [model]\nemb_size = 16\nhidden_size = 32\nn_layers = 2\n[train]\nbatch_size = 16\nthreads = 1\n{train}",
            table.display()
        ),
    )
    .unwrap();
    cfg
}

fn weights(dir: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn test_resumed_classifier_ends_with_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let table = motif_table(tmp.path(), 240);
    // 144 training sequences, 9 batches per epoch: stage 1 is steps 0-17, the stop falls in stage 2.
    let cfg = naive_config(
        tmp.path(),
        &table,
        "stages = [{ unfreeze = 1, epochs = 2, lr = 1e-2 }, { unfreeze = 0, epochs = 2, lr = 5e-3 }]",
    );
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    train_classifier(&cfg, &whole, &[]);
    train_classifier(&cfg, &split, &["--stop-after", "22"]);
    assert!(split.join("train_state").is_dir() && !split.join("model.safetensors").exists());
    // Starting over into a directory that holds a checkpoint is refused, not silently overwritten.
    let o = torch_bin()
        .args([
            "classify",
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
        ])
        .arg(&split)
        .output()
        .unwrap();
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("continue it with --resume")
    );
    run_torch(&["classify", "train", "--resume", split.to_str().unwrap()]);
    assert!(
        !split.join("train_state").exists(),
        "a finished run drops its checkpoint"
    );
    let (a, b) = (weights(&whole), weights(&split));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let diff = (t.to_kind(tch::Kind::Double) - b[name].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "{name} differs by {diff}");
    }
    let epochs = |d: &Path| -> Vec<(f64, f64)> {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["train_loss"].as_f64().unwrap(),
                    v["valid_loss"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (ea, eb) = (epochs(&whole), epochs(&split));
    assert_eq!(ea.len(), 4);
    for (x, y) in ea.iter().zip(&eb) {
        assert!(
            (x.0 - y.0).abs() < 1e-5 && (x.1 - y.1).abs() < 1e-5,
            "{ea:?} vs {eb:?}"
        );
    }
    for f in [
        "confusion.png",
        "confusion.svg",
        "training.png",
        "training.svg",
    ] {
        assert!(split.join(f).exists(), "{f}");
    }
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(split.join("config.json")).unwrap()).unwrap();
    let sums = c["inputs_sha256"].as_object().unwrap();
    assert_eq!(sums.len(), 1);
    assert_eq!(sums.values().next().unwrap().as_str().unwrap().len(), 64);
}

#[test]
fn test_early_stopping_ends_a_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let table = motif_table(tmp.path(), 240);
    // The motif is learnt within a few epochs; after that the validation MCC cannot keep rising.
    let cfg = naive_config(
        tmp.path(),
        &table,
        "patience = 2\nstages = [{ unfreeze = 0, epochs = 30, lr = 1e-2 }]",
    );
    let out = tmp.path().join("clf");
    train_classifier(&cfg, &out, &[]);
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let scores: Vec<f64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["score"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(scores.len() < 30, "stopped early: {} epochs", scores.len());
    // A naive encoder's dropouts come from the top-level drop_mult; [model] ones are refused.
    let bad = naive_config(tmp.path(), &table, "");
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(
        &bad,
        text.replace("n_layers = 2\n", "n_layers = 2\ndrop_mult = 0.1\n"),
    )
    .unwrap();
    let o = torch_bin()
        .args([
            "classify",
            "train",
            "--config",
            bad.to_str().unwrap(),
            "--out",
        ])
        .arg(tmp.path().join("bad"))
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("set that instead"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let best = scores.iter().cloned().fold(f64::MIN, f64::max);
    let at = scores.iter().position(|&s| s == best).unwrap();
    assert_eq!(
        scores.len(),
        at + 3,
        "stops 2 epochs after the best: {scores:?}"
    );
}

/// `DIR/c.toml`: a tiny k=3 AWD-LSTM classifier (16/32, 2 layers) trained with [`TRAIN`] on the
/// given `[data]` section.
fn tiny_config(dir: &Path, data_section: &str) -> PathBuf {
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "k = 3\nstride = 1\ndrop_mult = 0.1\n[data]\n{data_section}\n\
             [model]\nemb_size = 16\nhidden_size = 32\nn_layers = 2\n{TRAIN}"
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn test_three_classes_get_macro_and_per_class_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    // Two motifs and a background: a class per kind of sequence, as in splice donor/acceptor/decoy.
    let mut rng = genolm::rng::SplitMix64::new(9);
    let mut fa = String::new();
    for i in 0..300 {
        let mut s: Vec<u8> = (0..40).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        let at = rng.below(28) as usize;
        let label = match i % 3 {
            0 => {
                s[at..at + 12].copy_from_slice(b"CGACCGAACTCC");
                "first"
            }
            1 => {
                s[at..at + 12].copy_from_slice(b"TTAGGGATTACA");
                "second"
            }
            _ => "background",
        };
        fa.push_str(&format!(
            ">s{i} label={label}\n{}\n",
            String::from_utf8(s).unwrap()
        ));
    }
    let data = tmp.path().join("three.fa");
    std::fs::write(&data, fa).unwrap();
    let cfg = tiny_config(
        tmp.path(),
        &format!("format = \"fasta_header\"\nfasta = \"{}\"", data.display()),
    );
    let out = tmp.path().join("clf");
    train_classifier(&cfg, &out, &[]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test_metrics.json")).unwrap())
            .unwrap();
    assert_eq!(
        r["classes"],
        serde_json::json!(["first", "second", "background"])
    );
    let per_class = r["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 3);
    let confusion = r["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 3);
    let total: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(total, r["n"].as_u64().unwrap());
    let mean_auroc: f64 = per_class
        .iter()
        .map(|m| m["auroc"].as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    assert!((r["summary"]["auroc"].as_f64().unwrap() - mean_auroc).abs() < 1e-9);
    assert!(r["accuracy"].as_f64().unwrap() > 0.8, "{r}");
    for f in ["roc.png", "pr.png", "confusion.png", "training.png"] {
        assert!(out.join(f).exists(), "{f}");
    }
}

#[test]
fn test_multi_label_head_learns_two_motifs_that_co_occur() {
    let tmp = tempfile::tempdir().unwrap();
    // Each motif planted on its own coin flip: rows with both, either or neither label.
    let mut rng = genolm::rng::SplitMix64::new(11);
    let mut table = String::from("id\tsequence\tfirst\tsecond\n");
    for i in 0..400 {
        let mut s: Vec<u8> = (0..48).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        let (first, second) = (rng.below(2) == 1, rng.below(2) == 1);
        if first {
            s[2..14].copy_from_slice(b"CGACCGAACTCC");
        }
        if second {
            s[30..42].copy_from_slice(b"TTAGGGATTACA");
        }
        table.push_str(&format!(
            "s{i}\t{}\t{}\t{}\n",
            String::from_utf8(s).unwrap(),
            u8::from(first),
            u8::from(second)
        ));
    }
    let data = tmp.path().join("two.tsv");
    std::fs::write(&data, table).unwrap();
    let cfg = tiny_config(
        tmp.path(),
        &format!(
            "format = \"table\"\npath = \"{}\"\nlabel_columns = [\"*\"]",
            data.display()
        ),
    );
    let out = tmp.path().join("clf");
    train_classifier(&cfg, &out, &[]);
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["multi_label"], true);
    assert_eq!(spec["classes"], serde_json::json!(["first", "second"]));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test_metrics.json")).unwrap())
            .unwrap();
    assert_eq!(r["multi_label"], true, "{r}");
    for m in r["per_class"].as_array().unwrap() {
        assert!(m["auroc"].as_f64().unwrap() > 0.8, "{r}");
    }
    assert!(out.join("test_per_label.tsv").exists());
    // Sigmoid outputs: a sequence with both motifs is likely for both labels at once.
    let fa = tmp.path().join("both.fa");
    std::fs::write(
        &fa,
        ">both\nACCGACCGAACTCCATAGCATGCATTGCAATTAGGGATTACAGGCATC\n",
    )
    .unwrap();
    let text = predict_tsv(&out, &fa, &tmp.path().join("p.tsv"), &[]);
    let row: Vec<&str> = text.lines().nth(1).unwrap().split('\t').collect();
    let (p1, p2): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
    assert!(p1 > 0.5 && p2 > 0.5, "{text}");
}

#[test]
fn test_ctrl_c_saves_a_classifier_checkpoint_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let table = motif_table(tmp.path(), 240);
    let cfg = naive_config(
        tmp.path(),
        &table,
        "stages = [{ unfreeze = 0, epochs = 200, lr = 1e-3 }]",
    );
    let out = tmp.path().join("clf");
    let mut child = torch_bin()
        .args([
            "classify",
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    interrupt_after_lines(&mut child, &out.join("metrics.jsonl"), 2);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let pos: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("train_state/position.json")).unwrap(),
    )
    .unwrap();
    assert!(pos["step"].as_u64().unwrap() >= 18, "{pos}");
    assert!(!out.join("model.safetensors").exists());
    // The rest of the run, shortened: the resumed run finishes and leaves a model.
    run_torch(&[
        "classify",
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--set",
        "train.patience=1",
    ]);
    assert!(out.join("model.safetensors").exists() && !out.join("train_state").exists());
}

/// `id -> p_motif` from a predictions TSV (test_predictions.tsv or `genolm predict`'s output).
fn motif_probs(path: &Path) -> std::collections::HashMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = header.iter().position(|&h| h == "p_motif").unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[col].parse().unwrap())
        })
        .collect()
}

#[test]
fn test_backward_classifier_reads_sequences_last_to_first() {
    let tmp = tempfile::tempdir().unwrap();
    let table = motif_table(tmp.path(), 240);
    let cfg = naive_config(
        tmp.path(),
        &table,
        "stages = [{ unfreeze = 0, epochs = 8, lr = 1e-2 }]\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace("[model]\n", "[model]\nbackwards = true\n");
    std::fs::write(&cfg, format!("drop_mult = 0.1\n{text}")).unwrap();
    let out = tmp.path().join("clf");
    let line = train_classifier(&cfg, &out, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let mcc = v["mcc"].as_f64().unwrap();
    assert!(mcc > 0.8, "a backward reader finds the motif too: {line}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        saved["encoder"]["backwards"], true,
        "the direction is part of the saved encoder"
    );
    // Every table row as FASTA, with the ids the table reader gives them (row2 = first data line).
    let fasta: String = std::fs::read_to_string(&table)
        .unwrap()
        .lines()
        .skip(1)
        .enumerate()
        .map(|(i, l)| format!(">row{}\n{}\n", i + 2, l.split('\t').next().unwrap()))
        .collect();
    let fa = tmp.path().join("all.fa");
    std::fs::write(&fa, fasta).unwrap();
    let predict = |model: &Path, name: &str| {
        let p = tmp.path().join(name);
        predict_tsv(model, &fa, &p, &[]);
        motif_probs(&p)
    };
    let back = predict(&out, "back.tsv");
    let test = motif_probs(&out.join("test_predictions.tsv"));
    assert_eq!(test.len(), 60);
    for (id, p) in &test {
        assert!(
            (back[id] - p).abs() < 1e-4,
            "{id}: predict {} vs training's test prediction {p}",
            back[id]
        );
    }
    // The same weights told to read forwards give other probabilities.
    let fwd = tmp.path().join("fwd");
    forward_copy(&out, &fwd);
    let forward = predict(&fwd, "fwd.tsv");
    let moved = test
        .keys()
        .filter(|id| (forward[*id] - back[*id]).abs() > 1e-3)
        .count();
    assert!(
        moved > 30,
        "only {moved} of 60 predictions depend on the direction"
    );
}
