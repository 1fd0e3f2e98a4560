//! PyTorch users load genolm's weights: scripts/genolm_fastai.py maps a classifier's
//! model.safetensors into fastai's get_text_classifier(AWD_LSTM, ...), whose probabilities on random
//! sequences must equal `genolm predict`'s within 1e-4 (fp32).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The benchmark venv's Python (fastai 2.8 over .venv's torch; scripts/bench-venv.sh makes it, and
/// scripts/test.sh runs that first). None with a SKIPPED line where it is missing; a failure in CI.
fn fastai_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = root.join(".cache/bench-venv/bin/python");
    let present = py.exists()
        && Command::new(&py)
            .args(["-c", "import fastai.text.models.awdlstm, tokenizers"])
            .status()
            .is_ok_and(|s| s.success());
    required(
        py,
        present,
        "with fastai: scripts/test.sh sources scripts/bench-venv.sh",
    )
}

fn probs(tsv: &str) -> Vec<(String, Vec<f64>)> {
    tsv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let p = f[1..]
                .iter()
                .filter_map(|v| v.parse::<f64>().ok())
                .collect();
            (f[0].to_string(), p)
        })
        .collect()
}

/// Random bases, GC-rich (70 %) or AT-rich (30 %).
fn skewed_bases(n: usize, seed: u64, gc_rich: bool) -> String {
    let mut rng = genolm::rng::SplitMix64::new(seed);
    let gc = if gc_rich { 70 } else { 30 };
    (0..n)
        .map(|_| {
            let strong = rng.below(100) < gc;
            let pick = rng.below(2) as usize;
            let base = if strong {
                [b'G', b'C'][pick]
            } else {
                [b'A', b'T'][pick]
            };
            base as char
        })
        .collect()
}

#[test]
fn test_fastai_with_genolm_weights_predicts_what_genolm_predicts() {
    let Some(py) = fastai_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // Stride 2: genolm averages two k-mer frames, which the mapping must do too. The classes differ
    // in GC content, which even a small model learns in a few epochs, so the probabilities spread.
    let mut table = String::from("sequence\tlabel\n");
    for i in 0..240u64 {
        table.push_str(&format!(
            "{}\t{}\n",
            skewed_bases(48, 100 + i, i % 2 == 0),
            i % 2
        ));
    }
    std::fs::write(tmp.path().join("t.tsv"), table).unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "k = 4\nstride = 2\ndrop_mult = 0.1\n[data]\nformat = \"table\"\npath = \"{}\"\n[split]\nvalid_frac = 0.2\ntest_frac = 0.2\n\
             [model]\nemb_size = 24\nhidden_size = 40\nn_layers = 3\n[head]\nlin_size = 12\nbptt = 9\n\
             [train]\nbatch_size = 16\nthreads = 1\nstages = [{{ unfreeze = 0, epochs = 20, lr = 2e-2 }}]\n",
            tmp.path().join("t.tsv").display()
        ),
    )
    .unwrap();
    let model = tmp.path().join("clf");
    train_classifier(&cfg, &model, &["-q"]);
    // Random sequences of many lengths: BPTT chunks of 9 tokens, so several chunks each.
    let mut fasta = String::new();
    for i in 0..40u64 {
        let s = skewed_bases(20 + (i as usize * 7) % 90, 900 + i, i % 2 == 0);
        fasta.push_str(&format!(">r{i}\n{s}\n"));
    }
    let fa = tmp.path().join("q.fa");
    std::fs::write(&fa, fasta).unwrap();
    let out = tmp.path().join("p.tsv");
    predict_tsv(
        &model,
        &fa,
        &out,
        &["--precision", "fp32", "--batch-size", "16"],
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/genolm_fastai.py");
    let o = Command::new(&py)
        .arg(&script)
        .arg(&model)
        .arg("--fasta")
        .arg(&fa)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs = probs(&String::from_utf8_lossy(&o.stdout));
    let ours = probs(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(ours.len(), 40);
    assert_eq!(theirs.len(), 40);
    let mut worst = 0.0f64;
    for ((a, p), (b, q)) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
        for (x, y) in p.iter().zip(q) {
            worst = worst.max((x - y).abs());
        }
    }
    eprintln!("largest probability difference genolm vs fastai: {worst:.2e}");
    assert!(worst < 1e-4, "genolm and fastai differ by {worst}");
    // The probabilities are not all alike (a model that says the same thing everywhere proves nothing).
    let spread = ours.iter().map(|(_, p)| p[1]).fold(f64::NAN, f64::max)
        - ours.iter().map(|(_, p)| p[1]).fold(f64::NAN, f64::min);
    assert!(spread > 0.1, "spread {spread}");
}
