//! One-hot CNNs end to end on the primer's real data: accuracy, transfer with `freeze_through`,
//! prediction through the shared interface, model kinds, and configs that cannot work.

mod common;

use std::path::{Path, PathBuf};

use common::{predict_tsv, run_torch, shared_data, torch_bin};

/// configs/cnn-primer.toml with its data paths pointed at the shared data, plus `extra` TOML.
fn primer_config(dir: &Path, data: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(repo.join("configs/cnn-primer.toml"))
        .unwrap()
        .replace(
            "../shared/data/deep-learning-genomics-primer",
            data.join("deep-learning-genomics-primer").to_str().unwrap(),
        );
    let path = dir.join(format!(
        "cnn-{}.toml",
        std::process::id() ^ text.len() as u32
    ));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn train(cfg: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "cnn",
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        "-q",
    ];
    args.extend(extra);
    serde_json::from_str(run_torch(&args).lines().last().unwrap()).unwrap()
}

fn tensors(dir: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

fn failure(args: &[&str]) -> String {
    let o = torch_bin().args(args).output().unwrap();
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The primer's CNN learns its motif task (test accuracy >= 0.98); a second CNN started from it
/// with conv1 frozen keeps conv1's weights exactly, retrains the dense layers and a fresh output;
/// `predict` reads CNN directories like any classifier's.
#[test]
fn test_primer_cnn_and_transfer_through_conv1() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = primer_config(tmp.path(), &data, |t| t);
    let base = tmp.path().join("base");
    let r = train(&cfg, &base, &[]);
    let acc = r["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.98, "primer CNN test accuracy {acc}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "test_predictions.tsv",
        "roc.png",
        "training.png",
    ] {
        assert!(base.join(f).exists(), "{f}");
    }
    assert!(!base.join("train_state").exists());
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["kind"], "cnn");

    let base_str = base.to_str().unwrap().to_string();
    let tl_cfg = primer_config(tmp.path(), &data, |t| {
        t.replace(
            "stages = [{ epochs = 30, lr = 1e-2 }]",
            "stages = [{ epochs = 3, lr = 1e-3, freeze_through = \"conv1\" }]",
        ) + &format!("\n[init]\nmodel = {base_str:?}\n")
    });
    let tl = tmp.path().join("tl");
    train(&tl_cfg, &tl, &[]);
    let (a, b) = (tensors(&base), tensors(&tl));
    assert!(
        a["conv1.conv.weight"].equal(&b["conv1.conv.weight"]),
        "frozen conv1 unchanged"
    );
    assert!(a["conv1.conv.bias"].equal(&b["conv1.conv.bias"]));
    assert!(
        !a["dense1.linear.weight"].equal(&b["dense1.linear.weight"]),
        "dense1 retrained"
    );

    // predict takes the CNN directory through the one prediction interface.
    let seqs: Vec<String> =
        std::fs::read_to_string(data.join("deep-learning-genomics-primer/sequences.txt"))
            .unwrap()
            .lines()
            .take(8)
            .map(String::from)
            .collect();
    let fasta = tmp.path().join("s.fa");
    let text: String = seqs
        .iter()
        .enumerate()
        .map(|(i, s)| format!(">s{i}\n{s}\n"))
        .collect();
    std::fs::write(&fasta, text).unwrap();
    let rows = predict_tsv(&base, &fasta, &tmp.path().join("p.tsv"), &[]);
    assert_eq!(rows.lines().count(), 9, "{rows}");
    // An ensemble may mix families: this CNN and an AWD-LSTM classifier of the same classes
    // (one epoch of the naive primer classifier) average to their mean, row by row.
    let primer = data.join("deep-learning-genomics-primer");
    let lstm = tmp.path().join("lstm");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    run_torch(&[
        "classify",
        "train",
        "--config",
        repo.join("configs/primer-motif.toml").to_str().unwrap(),
        "--out",
        lstm.to_str().unwrap(),
        "--set",
        &format!("data.sequences={:?}", primer.join("sequences.txt")),
        "--set",
        &format!("data.labels={:?}", primer.join("labels.txt")),
        "--set",
        "train.stages=[{unfreeze=0,epochs=1,lr=1e-2}]",
        "-q",
    ]);
    let probs_of = |models: &[&str]| -> Vec<Vec<f64>> {
        let out = tmp.path().join("mix.tsv");
        let mut args = vec!["predict", "--fasta", fasta.to_str().unwrap()];
        for m in models {
            args.extend(["--model", m]);
        }
        args.extend(["--out", out.to_str().unwrap()]);
        run_torch(&args);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("id\tp_0\tp_1\t"), "{text}");
        text.lines()
            .skip(1)
            .map(|l| {
                l.split('\t')
                    .skip(1)
                    .take(2)
                    .map(|v| v.parse().unwrap())
                    .collect()
            })
            .collect()
    };
    let lstm_str = lstm.to_str().unwrap().to_string();
    let (c, l) = (probs_of(&[&base_str]), probs_of(&[&lstm_str]));
    let mix = probs_of(&[&base_str, &lstm_str]);
    for ((m, c), l) in mix.iter().zip(&c).zip(&l) {
        for k in 0..2 {
            assert!(
                (m[k] - (c[k] + l[k]) / 2.0).abs() < 2e-6,
                "{m:?} {c:?} {l:?}"
            );
        }
    }
    // In-silico mutagenesis of two sequences with the mixed ensemble: every substitution's
    // probability is the one `predict` gives the mutated sequence.
    let two = tmp.path().join("two.fa");
    std::fs::write(&two, format!(">s0\n{}\n>s1\n{}\n", seqs[0], seqs[1])).unwrap();
    let ism = tmp.path().join("ism");
    run_torch(&[
        "interpret",
        "ism",
        "--model",
        &base_str,
        "--model",
        &lstm_str,
        "--fasta",
        two.to_str().unwrap(),
        "--out",
        ism.to_str().unwrap(),
        "--mark",
        "25",
    ]);
    let text = std::fs::read_to_string(ism.join("ism.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2 * 50 * 3, "3 substitutions per base");
    let row = rows.iter().find(|r| r[0] == "s0" && r[1] == "10").unwrap();
    assert!(
        (row[5].parse::<f64>().unwrap() - mix[0][1]).abs() < 2e-6,
        "p_ref: {row:?}"
    );
    let mut mutant = seqs[0].clone().into_bytes();
    assert_eq!(mutant[9], row[2].as_bytes()[0]);
    mutant[9] = row[3].as_bytes()[0];
    std::fs::write(
        &fasta,
        format!(">m\n{}\n", String::from_utf8(mutant).unwrap()),
    )
    .unwrap();
    let p_mutant = probs_of(&[&base_str, &lstm_str])[0][1];
    assert!(
        (row[6].parse::<f64>().unwrap() - p_mutant).abs() < 2e-6,
        "{row:?} vs {p_mutant}"
    );
    assert!(ism.join("ism-1.png").exists() && ism.join("ism-2.svg").exists());
    // A sequence the CNN cannot read: the record named, nothing written.
    std::fs::write(tmp.path().join("short.fa"), ">short\nACGTACGTACGTACGT\n").unwrap();
    let err = failure(&[
        "interpret",
        "ism",
        "--model",
        &base_str,
        "--fasta",
        tmp.path().join("short.fa").to_str().unwrap(),
        "--out",
        tmp.path().join("ism-bad").to_str().unwrap(),
    ]);
    assert!(
        err.contains("short.fa") && err.contains("\"short\""),
        "{err}"
    );
    assert!(!tmp.path().join("ism-bad").exists());
    // A sequence of another length is refused with what the model reads.
    std::fs::write(&fasta, ">short\nACGTACGTACGTACGT\n").unwrap();
    let err = failure(&[
        "predict",
        "--model",
        &base_str,
        "--fasta",
        fasta.to_str().unwrap(),
        "--out",
        tmp.path().join("q.tsv").to_str().unwrap(),
    ]);
    assert!(err.contains("reads exactly 50"), "{err}");
    assert!(!tmp.path().join("q.tsv").exists());
    // TLVar's comparison protocol, small: 2 repetitions x 2 fractions x 4 methods.
    let data_toml = tmp.path().join("data.toml");
    let primer = data.join("deep-learning-genomics-primer");
    std::fs::write(
        &data_toml,
        format!(
            "[data]\nformat = \"lines\"\nsequences = {:?}\nlabels = {:?}\n",
            primer.join("sequences.txt"),
            primer.join("labels.txt")
        ),
    )
    .unwrap();
    let cmp = tmp.path().join("compare");
    run_torch(&[
        "cnn",
        "compare",
        "--pretrained",
        &base_str,
        "--data",
        data_toml.to_str().unwrap(),
        "--frac-trains",
        "0.3",
        "1",
        "--nrep",
        "2",
        "--epochs",
        "2",
        "--freeze-through",
        "conv1",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    let table = std::fs::read_to_string(cmp.join("compare.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 4 * 2 * 2, "{table}");
    for method in ["base", "self", "tl", "tl0"] {
        assert_eq!(
            rows.iter().filter(|r| r[2] == method).count(),
            4,
            "{method}"
        );
    }
    // The pretrained model saw this task: as it is, it ranks the test split almost perfectly.
    let base_auroc: f64 = rows.iter().find(|r| r[2] == "base").unwrap()[7]
        .parse()
        .unwrap();
    assert!(base_auroc > 0.95, "{base_auroc}");
    let tl_run = cmp.join("runs/rep0-frac1-tl");
    assert!(
        tensors(&base)["conv1.conv.weight"].equal(&tensors(&tl_run)["conv1.conv.weight"]),
        "tl keeps the frozen conv1"
    );
    assert_eq!(
        std::fs::read_to_string(cmp.join("wilcoxon.tsv"))
            .unwrap()
            .lines()
            .count(),
        // tl and tl0 against self, 2 fractions, AUROC and AUPRC.
        1 + 2 * 2 * 2
    );
    assert!(cmp.join("compare-auroc.png").exists() && cmp.join("compare-auprc.svg").exists());

    // A pretrained CNN of another input length, and labels that are not the binary head's.
    let long_cfg = primer_config(tmp.path(), &data, |t| {
        t.replace("input_len = 50", "input_len = 60") + &format!("\n[init]\nmodel = {base_str:?}\n")
    });
    let out = tmp.path().join("long");
    let err = failure(&[
        "cnn",
        "train",
        "--config",
        long_cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("the pretrained CNN reads 50 bases"), "{err}");
    assert!(!out.exists(), "nothing written");
    let labels_cfg = primer_config(tmp.path(), &data, |t| {
        t.replace("[data]", "classes = [\"0\", \"2\"]\n\n[data]")
    });
    let err = failure(&[
        "cnn",
        "train",
        "--config",
        labels_cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("must name exactly the labels found in the data"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");

    // A CNN is not a language model, and a command that needs one says what it got.
    let err = failure(&[
        "lm",
        "eval",
        "--model",
        &base_str,
        "--corpus",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        err.contains("a one-hot CNN") && err.contains("needs an AWD-LSTM language model"),
        "{err}"
    );
}

/// Configs that cannot work are refused before anything is written.
#[test]
fn test_bad_cnn_configs_are_refused() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &dyn Fn(String) -> String); 4] = [
        ("longer than its input of 50", &|t: String| {
            t.replace("kernel = 12", "kernel = 60")
        }),
        ("shrinks the length to 0", &|t: String| {
            t.replace("pool = 4", "pool = 64")
        }),
        ("no layer group \"conv7\"", &|t: String| {
            t.replace(
                "{ epochs = 30, lr = 1e-2 }",
                "{ epochs = 1, lr = 1e-2, freeze_through = \"conv7\" }",
            )
        }),
        ("reads exactly 60 (its model.input_len)", &|t: String| {
            t.replace("input_len = 50", "input_len = 60")
        }),
    ];
    for (i, (want, edit)) in cases.iter().enumerate() {
        let cfg = primer_config(tmp.path(), &data, edit);
        let out = tmp.path().join(format!("out{i}"));
        let err = failure(&[
            "cnn",
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(err.contains(want), "{want}: {err}");
        assert!(
            !out.join("model.safetensors").exists(),
            "{want}: nothing written"
        );
    }
}

/// A CNN run stopped mid-way and resumed ends with the uninterrupted run's weights (the same fit
/// loop and checkpoints as the other families).
#[test]
fn test_resumed_cnn_ends_with_the_same_weights() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = primer_config(tmp.path(), &data, |t| {
        t.replace("{ epochs = 30, lr = 1e-2 }", "{ epochs = 3, lr = 1e-2 }")
            .replace("rc_augment = false", "rc_augment = true")
    });
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    train(&cfg, &whole, &[]);
    // 1,300 training sequences in batches of 32: 40 steps an epoch; stop inside epoch 2.
    let o = torch_bin()
        .args(["cnn", "train", "--config", cfg.to_str().unwrap(), "--out"])
        .arg(&split)
        .args(["--stop-after", "55", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(split.join("train_state").is_dir() && !split.join("model.safetensors").exists());
    run_torch(&["cnn", "train", "--resume", split.to_str().unwrap(), "-q"]);
    let (a, b) = (tensors(&whole), tensors(&split));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs after resume");
    }
}

/// A multi-label CNN (one sigmoid output per TF, binary cross-entropy) on RegulonDB's E. coli TF
/// sites: per-label and macro metrics, labels selected by `classes`, probabilities that are each
/// label's own, and `classify eval` scoring the same test split to the same macro AUROC.
#[test]
fn test_multi_label_cnn_on_regulondb_tf_sites() {
    use genolm::dataset::tf_sites;
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fna = data.join("ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna");
    let mut genome = genolm::genome::indexed::Genome::open(&fna).unwrap();
    let read = tf_sites::read_sites(
        &data.join("regulondb_ecoli/RegulonDB13_TF-RISet.tsv.gz"),
        "NC_000913.3",
    )
    .unwrap();
    let params = tf_sites::TfSitesParams {
        length: 200,
        negative_ratio: 1.0,
        multi_min_windows: 200,
        single_min_windows: 5,
        seed: 42,
    };
    let d = tf_sites::build(&read.sites, &[], &mut genome, &params).unwrap();
    let (table, labels) = tf_sites::multi_label_tsv(&d, params.multi_min_windows);
    assert_eq!(labels.len(), 10, "{labels:?}");
    let table_path = tmp.path().join("tf.tsv");
    std::fs::write(&table_path, table).unwrap();
    let five = ["CRP", "Fis", "ArcA", "FNR", "Fur"];
    let cfg = tmp.path().join("multi.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"classes = {five:?}
[data]
format = "table"
path = {path:?}
label_columns = ["*"]
[model]
input_len = 200
[[model.conv]]
filters = 32
kernel = 15
batch_norm = true
activation = "relu"
pool = 4
[[model.conv]]
filters = 32
kernel = 7
batch_norm = true
activation = "relu"
pool = 4
[[model.dense]]
units = 32
activation = "relu"
dropout = 0.2
[train]
batch_size = 64
stages = [{{ epochs = 4, lr = 3e-3 }}]
patience = 0
"#,
            path = table_path.to_str().unwrap()
        ),
    )
    .unwrap();
    let m = tmp.path().join("multi");
    let r = train(&cfg, &m, &[]);
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["multi_label"], true);
    assert_eq!(spec["classes"], serde_json::json!(five));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("test_metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["multi_label"], true);
    assert_eq!(metrics["per_class"].as_array().unwrap().len(), 5);
    let macro_auroc = metrics["summary"]["auroc"].as_f64().unwrap();
    eprintln!("multi-label CNN: macro AUROC {macro_auroc}");
    // 4 epochs of this small CNN reach 0.74 here (the full Basset-TF model ~0.9); chance is 0.5.
    assert!(macro_auroc > 0.65, "macro AUROC {macro_auroc}");
    assert!((r["auroc"].as_f64().unwrap() - macro_auroc).abs() < 1e-12);
    let per_label = std::fs::read_to_string(m.join("test_per_label.tsv")).unwrap();
    assert_eq!(per_label.lines().count(), 6, "{per_label}");
    assert!(per_label.lines().nth(1).unwrap().starts_with("CRP\t"));
    assert!(
        !m.join("confusion.png").exists(),
        "no confusion matrix for labels"
    );
    // Each label's own probability: rows need not sum to 1; the label column lists a row's TFs.
    let preds = std::fs::read_to_string(m.join("test_predictions.tsv")).unwrap();
    let sums: Vec<f64> = preds
        .lines()
        .skip(1)
        .map(|l| {
            l.split('\t')
                .skip(2)
                .take(5)
                .map(|v| v.parse::<f64>().unwrap())
                .sum()
        })
        .collect();
    assert!(
        sums.iter().any(|s| (s - 1.0).abs() > 0.05),
        "sigmoid, not softmax"
    );
    assert!(preds
        .lines()
        .skip(1)
        .any(|l| l.split('\t').nth(1).unwrap().contains(',')));
    // classify eval on the recorded test split: the same probabilities, the same macro AUROC.
    let eval: serde_json::Value = serde_json::from_str(
        run_torch(&[
            "classify",
            "eval",
            "--model",
            m.to_str().unwrap(),
            "--split",
            "test",
            "--json",
        ])
        .lines()
        .last()
        .unwrap(),
    )
    .unwrap();
    let e = eval["auroc"].as_f64().unwrap();
    assert!(
        (e - macro_auroc).abs() < 1e-6,
        "eval {e} vs training {macro_auroc}"
    );
    // scan writes a track for every label of a multi-label model.
    let prefix = tmp.path().join("scan");
    run_torch(&[
        "scan",
        "--model",
        m.to_str().unwrap(),
        "--genome",
        fna.to_str().unwrap(),
        "--region",
        "NC_000913.3:1-20000",
        "--strand",
        "+",
        "--no-bigwig",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    for tf in five {
        let track = tmp.path().join(format!("scan.{tf}.plus.bedGraph"));
        assert!(track.exists(), "{}", track.display());
    }
    // variants score: every ALT of a small VCF on this genome, SNVs, indels, a multi-allelic
    // record, a symbolic ALT (skipped), a REF mismatch (flagged), a 'chr'-prefixed contig.
    let genome_text: String = std::fs::read_to_string(&fna)
        .unwrap()
        .lines()
        .skip(1)
        .collect();
    let base_at = |pos: usize| &genome_text[pos - 1..pos];
    let vcf = tmp.path().join("v.vcf");
    let other = |b: &str| if b == "A" { "C" } else { "A" };
    std::fs::write(
        &vcf,
        format!(
            "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n\
             NC_000913.3\t10000\tsnv\t{r1}\t{a1}\n\
             chrNC_000913.3\t20000\t.\t{r2}\t{a2},G\n\
             NC_000913.3\t30000\tins\t{r3}\t{r3}GG\n\
             NC_000913.3\t40000\tdel\t{r4}\t{r4b}\n\
             NC_000913.3\t50000\tsv\tA\t<DEL>\n\
             NC_000913.3\t60000\tbad_ref\t{r6}\tT\n",
            r1 = base_at(10000),
            a1 = other(base_at(10000)),
            r2 = base_at(20000),
            a2 = other(base_at(20000)),
            r3 = base_at(30000),
            r4 = &genome_text[39999..40002],
            r4b = base_at(40000),
            r6 = other(base_at(60000)),
        ),
    )
    .unwrap();
    let effects = tmp.path().join("effects.tsv");
    let score_args = |vcf: &Path, out: &Path| -> Vec<String> {
        [
            "variants",
            "score",
            "--model",
            m.to_str().unwrap(),
            "--vcf",
            vcf.to_str().unwrap(),
            "--genome",
            fna.to_str().unwrap(),
            "--strand",
            "both",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = score_args(&vcf, &effects);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let summary: serde_json::Value =
        serde_json::from_str(run_torch(&args).lines().last().unwrap()).unwrap();
    assert_eq!(summary["variants_scored"], 6, "{summary}");
    assert_eq!(summary["symbolic_alts"], 1);
    assert_eq!(summary["ref_mismatches"], 1);
    let table = std::fs::read_to_string(&effects).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 6 * 5, "a row per variant and label");
    assert!(rows
        .iter()
        .any(|r| r[2].starts_with("bad_ref:") && r[5] == "no"));
    assert!(rows
        .iter()
        .filter(|r| !r[2].starts_with("bad_ref:"))
        .all(|r| r[5] == "yes"));
    // The SNV's reference probability is `predict`'s on the same window (the variant's base at
    // offset 99 of 200), both strands averaged; diff is alt - ref.
    let window = &genome_text[10000 - 1 - 99..10000 - 1 + 101];
    let fa = tmp.path().join("w.fa");
    std::fs::write(&fa, format!(">w\n{window}\n")).unwrap();
    let pred = tmp.path().join("w.tsv");
    // `predict`'s probability rows (every label) for the sequences of `fa`.
    let predict_rows = |extra: &[&str]| -> Vec<Vec<f64>> {
        let mut args = vec![
            "predict",
            "--model",
            m.to_str().unwrap(),
            "--fasta",
            fa.to_str().unwrap(),
            "--out",
            pred.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_torch(&args);
        std::fs::read_to_string(&pred)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                l.split('\t')
                    .skip(1)
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .collect()
    };
    let p_crp = predict_rows(&["--rc-average"])[0][0];
    let snv_crp = rows
        .iter()
        .find(|r| r[2].starts_with("snv:") && r[6] == "CRP")
        .unwrap();
    let (p_ref, p_alt, diff): (f64, f64, f64) = (
        snv_crp[7].parse().unwrap(),
        snv_crp[8].parse().unwrap(),
        snv_crp[9].parse().unwrap(),
    );
    assert!((p_ref - p_crp).abs() < 2e-6, "{p_ref} vs predict {p_crp}");
    assert!((diff - (p_alt - p_ref)).abs() < 2e-6);
    // This CNN averages both strands itself (rc_average), which is why `--strand both` skips its
    // second pass: a window and its reverse complement get the same probabilities.
    let rc: String = window
        .bytes()
        .rev()
        .map(|b| match b {
            b'A' => 'T',
            b'C' => 'G',
            b'G' => 'C',
            b'T' => 'A',
            _ => 'N',
        })
        .collect();
    std::fs::write(&fa, format!(">w\n{window}\n>rc\n{rc}\n")).unwrap();
    let probs = predict_rows(&[]);
    assert!(!probs[0].is_empty() && probs[0].len() == probs[1].len());
    for (a, b) in probs[0].iter().zip(&probs[1]) {
        assert!(
            (a - b).abs() < 1e-5,
            "window {a} vs its reverse complement {b}"
        );
    }
    // Bad input: clear errors naming the record, nothing written.
    let bad_cases = [
        ("NC_000913.3\t100\tx\tA\tC\n".to_string(), "#CHROM header"),
        (
            "#CHROM\tPOS\tID\tREF\tALT\nNC_000913.3\t9999999\tx\tA\tC\n".to_string(),
            "beyond the sequence's end",
        ),
        (
            "#CHROM\tPOS\tID\tREF\tALT\nplasmid\t10\tx\tA\tC\n".to_string(),
            "\"plasmid\" is not in",
        ),
        (
            "#CHROM\tPOS\tID\tREF\tALT\nNC_000913.3\tten\tx\tA\tC\n".to_string(),
            "POS \"ten\"",
        ),
    ];
    for (i, (text, want)) in bad_cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}.vcf"));
        std::fs::write(&bad, text).unwrap();
        let out = tmp.path().join(format!("bad{i}.tsv"));
        let args = score_args(&bad, &out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = failure(&args);
        assert!(
            err.contains(&format!("bad{i}.vcf")) && err.contains(want),
            "{want}: {err}"
        );
        assert!(!out.exists(), "{want}: nothing written");
    }
    // A gzipped VCF cut short (an interrupted download), and a class the model does not have.
    let mut text = String::from("#CHROM\tPOS\tID\tREF\tALT\n");
    for i in 0..3000 {
        text.push_str(&format!("NC_000913.3\t{}\tv{i}\tA\tC\n", 1000 + 7 * i));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let cut = tmp.path().join("cut.vcf.gz");
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
    let out = tmp.path().join("cut.tsv");
    let args = score_args(&cut, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = failure(&args);
    assert!(err.contains("cut.vcf.gz") && err.contains("line"), "{err}");
    assert!(!out.exists(), "truncated VCF: nothing written");
    let good = tmp.path().join("good.vcf");
    let head: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&good, head).unwrap();
    let mut args = score_args(&good, &out);
    args.extend(["--classes".to_string(), "NoSuchTF".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = failure(&args);
    assert!(err.contains("NoSuchTF"), "{err}");
    assert!(!out.exists(), "unknown class: nothing written");

    // base and tl0 predict with the multi-label output layer: refused for a binary task.
    let held_out: Vec<usize> = (0..d.tfs.len())
        .filter(|&t| labels.contains(&d.tfs[t]) && !five.contains(&d.tfs[t].as_str()))
        .take(2)
        .collect();
    let single: Vec<String> = held_out
        .iter()
        .map(|&t| {
            let path = tmp.path().join(format!("{}.tsv", d.tfs[t]));
            std::fs::write(&path, tf_sites::single_task_tsv(&d, t, 42)).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect();
    let cmp = tmp.path().join("cmp");
    let mut args = vec![
        "cnn",
        "compare",
        "--pretrained",
        m.to_str().unwrap(),
        "--data",
    ];
    args.extend(single.iter().map(String::as_str));
    args.extend(["--out", cmp.to_str().unwrap()]);
    let err = failure(&args);
    assert!(err.contains("output layer"), "{err}");
    assert!(!cmp.exists());
    // Multi-task -> single-task transfer on two held-out TFs: ft starts from every pretrained
    // layer but the output layer (at a learning rate too small to move it, here), self from scratch.
    args.extend([
        "--methods",
        "self",
        "ft",
        "--frac-trains",
        "1",
        "--nrep",
        "2",
        "--epochs",
        "1",
        "--lr",
        "3e-3",
        "--ft-lr",
        "1e-12",
        "--freeze-through",
        "conv1",
    ]);
    run_torch(&args);
    let table = std::fs::read_to_string(cmp.join("compare.tsv")).unwrap();
    assert_eq!(table.lines().count(), 1 + 2 * 2 * 2, "{table}");
    let ft = cmp.join(format!("runs/{}/rep0-frac1-ft", d.tfs[held_out[0]]));
    let (pre, tuned) = (tensors(&m), tensors(&ft));
    assert!(
        (&pre["conv1.conv.weight"] - &tuned["conv1.conv.weight"])
            .abs()
            .max()
            .double_value(&[])
            < 1e-6,
        "ft starts from the pretrained conv1"
    );
    assert_eq!(pre["out.weight"].size()[0], 5);
    assert_eq!(
        tuned["out.weight"].size()[0],
        2,
        "a fresh binary output layer"
    );
    let gain = std::fs::read_to_string(cmp.join("gain.tsv")).unwrap();
    assert_eq!(
        gain.lines().count(),
        1 + 2,
        "ft - self, AUROC and AUPRC: {gain}"
    );
    assert!(
        gain.lines()
            .nth(1)
            .unwrap()
            .starts_with("ft\t1\tauroc\t2\t"),
        "{gain}"
    );
    assert!(cmp.join("gain-auroc.png").exists() && cmp.join("per_data.tsv").exists());
}
