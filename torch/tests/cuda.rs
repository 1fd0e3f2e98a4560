//! The GPU checks: training and prediction on CUDA agree with the CPU, bf16 trains, and two GPUs
//! (NCCL) follow one. Ignored by default (CI has no GPU); `scripts/gpu-check.sh` runs them with
//! `--ignored` on a GPU machine. GENOLM_TEST_DEVICE picks the device under test (default `cuda`;
//! `cpu` checks the tests themselves on a machine without one, against Gloo for the two-rank one).

mod common;

use std::path::Path;

use common::*;

fn device() -> String {
    std::env::var("GENOLM_TEST_DEVICE").unwrap_or_else(|_| "cuda".into())
}

fn pretrain_on(cfg: &Path, out: &Path, device: &str, extra: &[&str]) -> Vec<f64> {
    let dev = format!("train.device={device}");
    let o = pretrain_cmd(torch_bin(), cfg, out)
        .args(["--quiet", "--set", &dev])
        .args(extra)
        .output()
        .unwrap();
    check(o, &format!("pretrain on {device}"));
    losses(out)
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn test_gpu_pretraining_follows_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_lm(tmp.path(), 40, "");
    let cpu = pretrain_on(&cfg, &tmp.path().join("cpu"), "cpu", &[]);
    let gpu = pretrain_on(&cfg, &tmp.path().join("gpu"), &device(), &[]);
    assert_close(&cpu, &gpu, 2e-3, "fp32 losses, CPU vs device");
}

#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn test_gpu_bf16_pretraining_tracks_fp32() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_lm(tmp.path(), 60, "");
    let d = device();
    let fp32 = pretrain_on(&cfg, &tmp.path().join("fp32"), &d, &[]);
    let bf16 = pretrain_on(
        &cfg,
        &tmp.path().join("bf16"),
        &d,
        &["--set", "train.precision=bf16"],
    );
    let (first, last) = (bf16[0], *bf16.last().unwrap());
    assert!(last.is_finite() && last < first, "bf16 losses {bf16:?}");
    assert_close(
        &fp32[fp32.len() - 1..],
        &bf16[bf16.len() - 1..],
        0.02,
        "final loss, fp32 vs bf16",
    );
}

/// A CNN trained on the device learns the motif; its predictions on the device and on the CPU
/// agree (fp32).
#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn test_gpu_cnn_trains_and_predicts_as_the_cpu_does() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = motif_cnn(tmp.path(), 1200, 8);
    let d = device();
    let model = tmp.path().join("cnn");
    let out = run_torch(&[
        "cnn",
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--set",
        &format!("train.device={d}"),
        "--json",
        "-q",
    ]);
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let acc = r["accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "CNN test accuracy on {d}: {acc}");
    let seqs = std::fs::read_to_string(tmp.path().join("seqs.txt")).unwrap();
    let fasta: String = seqs
        .lines()
        .take(300)
        .enumerate()
        .map(|(i, s)| format!(">s{i}\n{s}\n"))
        .collect();
    let fa = tmp.path().join("s.fa");
    std::fs::write(&fa, fasta).unwrap();
    let predict = |device: &str| {
        let tsv = tmp.path().join(format!("p-{device}.tsv"));
        predict_tsv(&model, &fa, &tsv, &["--device", device])
            .lines()
            .skip(1)
            .map(|l| l.split('\t').nth(1).unwrap().parse::<f64>().unwrap())
            .collect::<Vec<f64>>()
    };
    let (cpu, gpu) = (predict("cpu"), predict(&d));
    assert_eq!(cpu.len(), 300);
    for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
        assert!((a - b).abs() < 1e-4, "sequence {i}: CPU {a}, {d} {b}");
    }
}

/// A ULMFiT classifier (AWD-LSTM encoder, BatchNorm head) trains on the device.
#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn test_gpu_ulmfit_classifier_learns_the_motif() {
    let tmp = tempfile::tempdir().unwrap();
    let train = format!(
        "[train]\nbatch_size = 16\ndevice = \"{}\"\nstages = [{{ unfreeze = 0, epochs = 8, lr = 1e-2 }}]\n",
        device()
    );
    let cfg = motif_ulmfit(tmp.path(), 400, 0.1, &train);
    let r = train_classifier(&cfg, &tmp.path().join("clf"), &["--json", "-q"]);
    let v: serde_json::Value = serde_json::from_str(r.lines().last().unwrap()).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.9, "{v}");
}

/// Two GPUs (NCCL), each at B/2, follow one GPU at B. Needs 2 GPUs; on one, says so and checks
/// nothing (gpu-check.sh reports it as not run).
#[test]
#[ignore = "needs 2 CUDA GPUs: scripts/gpu-check.sh"]
fn test_two_gpus_follow_one() {
    let d = device();
    if d != "cpu" {
        let info = run_torch(&["info", "--device", &d, "--json"]);
        let v: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
        let gpus = v["cuda_devices"].as_u64().unwrap_or(0);
        assert!(
            v["data_parallel"].as_str().unwrap_or("").contains("nccl"),
            "this build has no NCCL: {info}"
        );
        if gpus < 2 {
            eprintln!("NOT RUN: 2-GPU NCCL check needs 2 GPUs, this machine has {gpus}");
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_lm(tmp.path(), 40, &format!("device = \"{d}\"\n"));
    one_and_two_ranks(&["pretrain"], &cfg, tmp.path(), 1e-3);
}
