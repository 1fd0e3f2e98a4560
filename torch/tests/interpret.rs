//! Interpretation end to end on the primer's real data: a CNN and a ULMFiT (k-mer LSTM) classifier
//! find the planted motif CGACCGAACTCC by their attributions, seqlets cluster into it as a MEME
//! motif that `motifs compare` names, fast mutagenesis equals the naive one, bad input is refused.

mod common;

use std::path::{Path, PathBuf};

use common::{run_front, run_torch, shared_data, torch_bin, MOTIF};

/// A repo config with its primer data paths pointed at the shared data and its epochs edited.
fn config(dir: &Path, data: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(repo.join("configs").join(name))
        .unwrap()
        .replace(
            "../shared/data/deep-learning-genomics-primer",
            data.join("deep-learning-genomics-primer").to_str().unwrap(),
        );
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// The positive test sequences of a model trained on the primer's lines (ids are 1-based lines).
fn positives(model: &Path, data: &Path, out: &Path) -> usize {
    let primer = data.join("deep-learning-genomics-primer");
    let seqs: Vec<String> = std::fs::read_to_string(primer.join("sequences.txt"))
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let table = std::fs::read_to_string(model.join("test_predictions.tsv")).unwrap();
    let mut fasta = String::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[1] == "1" {
            let i: usize = f[0].trim_start_matches("seq").parse().unwrap();
            fasta.push_str(&format!(">{}\n{}\n", f[0], seqs[i - 1]));
        }
    }
    std::fs::write(out, &fasta).unwrap();
    fasta.lines().count() / 2
}

/// Per sequence of a saliency table: does its best 12-base window match the motif in >= 10 bases?
fn planted_fraction(saliency: &Path) -> f64 {
    let text = std::fs::read_to_string(saliency).unwrap();
    let mut tracks: Vec<(String, Vec<u8>, Vec<f64>)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if tracks.last().is_none_or(|t| t.0 != f[0]) {
            tracks.push((f[0].to_string(), Vec::new(), Vec::new()));
        }
        let t = tracks.last_mut().unwrap();
        t.1.push(f[2].as_bytes()[0]);
        t.2.push(f[3].parse().unwrap());
    }
    let hits = tracks
        .iter()
        .filter(|(_, bases, scores)| {
            let best = (0..=scores.len() - 12)
                .max_by(|&a, &b| {
                    let s = |i: usize| scores[i..i + 12].iter().sum::<f64>();
                    s(a).total_cmp(&s(b))
                })
                .unwrap();
            let same = bases[best..best + 12]
                .iter()
                .zip(MOTIF.as_bytes())
                .filter(|(a, b)| a == b)
                .count();
            same >= 10
        })
        .count();
    hits as f64 / tracks.len() as f64
}

fn failure(bin: &mut std::process::Command, args: &[&str]) -> String {
    let o = bin.args(args).output().unwrap();
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ism_rows(dir: &Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(dir.join("ism.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[..4].join(":"), f[6].parse().unwrap())
        })
        .collect()
}

#[test]
fn test_attributions_find_the_planted_motif_in_cnn_and_lstm() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cnn = t.join("cnn");
    let cfg = config(t, &data, "cnn-primer.toml", |x| x);
    run_torch(&[
        "cnn",
        "train",
        "--config",
        &s(&cfg),
        "--out",
        &s(&cnn),
        "-q",
    ]);
    let lstm = t.join("lstm");
    let cfg = config(t, &data, "primer-motif.toml", |x| {
        x.replace("epochs = 10", "epochs = 6")
    });
    run_torch(&[
        "classify",
        "train",
        "--config",
        &s(&cfg),
        "--out",
        &s(&lstm),
    ]);
    let fasta = t.join("positives.fa");
    assert!(positives(&cnn, &data, &fasta) > 200);

    // Attributions: the best 12-base window is the planted motif for most positive test sequences.
    for (model, method, least) in [
        (&cnn, "grad-x-input", 0.8),
        (&cnn, "integrated", 0.7),
        (&lstm, "grad-x-input", 0.8),
    ] {
        let out = t.join(format!(
            "sal-{}-{method}",
            model.file_name().unwrap().to_str().unwrap()
        ));
        run_torch(&[
            "interpret",
            "saliency",
            "--model",
            &s(model),
            "--fasta",
            &s(&fasta),
            "--out",
            &s(&out),
            "--method",
            method,
            "--steps",
            "32",
            "--references",
            "4",
            "--max-plots",
            "2",
        ]);
        let fraction = planted_fraction(&out.join("saliency.tsv"));
        assert!(fraction >= least, "{model:?} {method}: {fraction}");
        for f in [
            "saliency-1.png",
            "saliency-2.svg",
            "profile.png",
            "profile.tsv",
            "run.json",
        ] {
            assert!(out.join(f).exists(), "{f}");
        }
    }

    // Seqlets cluster into the planted motif, named by `motifs compare` against the known set.
    let known = Path::new(env!("CARGO_MANIFEST_DIR")).join("../motifs/known.meme");
    let motifs = t.join("motifs");
    run_front(&[
        "motifs",
        "discover",
        "--saliency",
        &s(&t.join("sal-cnn-grad-x-input/saliency.tsv")),
        "--out",
        &s(&motifs),
        "--known",
        &s(&known),
    ]);
    let compare = std::fs::read_to_string(motifs.join("compare.tsv")).unwrap();
    let first: Vec<&str> = compare.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!((first[3], first[4]), ("1", "primer_planted"), "{compare}");
    assert!(first[6].parse::<f64>().unwrap() > 0.9, "{compare}");
    assert!(motifs.join("logo-motif_1.png").exists());
    let table = run_front(&[
        "motifs",
        "compare",
        "--motifs",
        &s(&motifs.join("motifs.meme")),
        "--known",
        &s(&known),
    ]);
    assert!(table.contains("primer_planted"), "{table}");

    // Fast mutagenesis (CNN receptive field, LSTM state cache) equals predicting every mutant.
    let three = t.join("three.fa");
    let text = std::fs::read_to_string(&fasta).unwrap();
    std::fs::write(
        &three,
        text.lines().take(6).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    for model in [&cnn, &lstm] {
        let run = |naive: bool| {
            let out = t.join(format!("ism-{naive}"));
            let mut args = vec![
                "interpret",
                "ism",
                "--model",
                model.to_str().unwrap(),
                "--fasta",
                three.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--force",
                "--max-plots",
                "1",
                "--strand",
                "both",
            ];
            if naive {
                args.push("--naive");
            }
            run_torch(&args);
            ism_rows(&out)
        };
        let (fast, naive) = (run(false), run(true));
        assert_eq!(fast.len(), 3 * 50 * 3);
        for ((a, p), (b, q)) in fast.iter().zip(&naive) {
            assert_eq!(a, b);
            assert!((p - q).abs() < 1e-4, "{model:?} {a}: {p} vs {q}");
        }
        assert!(t.join("ism-false/ism-heatmap-1.png").exists());
    }

    // Bad input: a clear error, nothing written.
    let bad = t.join("bad");
    let err = failure(
        &mut torch_bin(),
        &[
            "interpret",
            "saliency",
            "--model",
            &s(&cnn),
            "--fasta",
            &s(&fasta),
            "--out",
            &s(&bad),
            "--class",
            "enhancer",
        ],
    );
    assert!(err.contains("enhancer"), "{err}");
    std::fs::write(t.join("short.fa"), ">short\nACGTACGTACGT\n").unwrap();
    let err = failure(
        &mut torch_bin(),
        &[
            "interpret",
            "saliency",
            "--model",
            &s(&cnn),
            "--fasta",
            &s(&t.join("short.fa")),
            "--out",
            &s(&bad),
        ],
    );
    assert!(
        err.contains("short.fa") && err.contains("\"short\"") && err.contains("50"),
        "{err}"
    );
    let err = failure(
        &mut common::front_bin(),
        &[
            "motifs",
            "compare",
            "--motifs",
            &s(&fasta),
            "--known",
            &s(&known),
        ],
    );
    assert!(
        err.contains("positives.fa") && err.contains("not a MEME"),
        "{err}"
    );
    let err = failure(
        &mut common::front_bin(),
        &[
            "motifs",
            "discover",
            "--saliency",
            &s(&t.join("sal-cnn-grad-x-input/saliency.tsv")),
            "--out",
            &s(&bad),
            "--min-score",
            "1e9",
        ],
    );
    assert!(err.contains("no seqlets"), "{err}");
    let err = failure(
        &mut common::front_bin(),
        &[
            "motifs",
            "discover",
            "--saliency",
            &s(&fasta),
            "--out",
            &s(&bad),
        ],
    );
    assert!(err.contains("not a saliency table"), "{err}");
    assert!(!bad.exists(), "nothing half-written");

    // A model directory with a truncated or another model's weights file is named as such.
    let damaged = t.join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(cnn.join(f), damaged.join(f)).unwrap();
    }
    let weights = std::fs::read(cnn.join("model.safetensors")).unwrap();
    for (what, bytes) in [
        ("truncated", weights[..weights.len() / 2].to_vec()),
        (
            "foreign",
            std::fs::read(lstm.join("model.safetensors")).unwrap(),
        ),
    ] {
        std::fs::write(damaged.join("model.safetensors"), bytes).unwrap();
        let err = failure(
            &mut torch_bin(),
            &[
                "interpret",
                "ism",
                "--model",
                &s(&damaged),
                "--fasta",
                &s(&three),
                "--out",
                &s(&bad),
            ],
        );
        assert!(
            err.contains("model.safetensors") && err.contains("cannot load these weights"),
            "{what}: {err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
    assert!(!bad.exists(), "nothing half-written");
}
