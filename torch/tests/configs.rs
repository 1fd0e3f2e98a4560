//! Every config shipped in configs/ parses as what its name says it is, so a typo in one is caught
//! here rather than minutes into a reproduction.

use std::path::Path;

use genolm_torch::config::cnn::CnnRunConfig;
use genolm_torch::train::classify::ClassifyConfig;
use genolm_torch::train::lm::PretrainConfig;

#[test]
fn test_shipped_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".toml") {
            continue;
        }
        let text = |r: Result<(), genolm::config::Error>| r.map_err(|e| e.to_string());
        let loaded = if name.starts_with("corpus-") {
            text(genolm::config::load::<genolm::corpus::CorpusConfig>(Some(&path), &[]).map(|_| ()))
        } else if name.starts_with("lm-") {
            text(genolm::config::load::<PretrainConfig>(Some(&path), &[]).map(|_| ()))
        } else if name.starts_with("cnn-") {
            // A CNN config must also build: kernels and pools that fit its input length.
            genolm::config::load::<CnnRunConfig>(Some(&path), &[])
                .map_err(|e| e.to_string())
                .and_then(|c| c.model.validate().map_err(|e| e.to_string()))
        } else {
            text(genolm::config::load::<ClassifyConfig>(Some(&path), &[]).map(|_| ()))
        };
        if let Err(e) = loaded {
            panic!("{name}: {e}");
        }
        seen += 1;
    }
    assert!(seen >= 17, "only {seen} configs found in {}", dir.display());
}

fn refused(args: &[&str]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_genolm-torch"))
        .args(args)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

/// Values a user can type that once panicked, looped forever or were silently replaced are
/// refused when read, each naming the key and the valid range, before any data is read.
#[test]
fn test_out_of_range_values_are_refused_when_read() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cfg = |name: &str| {
        repo.join("configs")
            .join(name)
            .to_str()
            .unwrap()
            .to_string()
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let clf = cfg("primer-motif.toml");
    for (set, want) in [
        ("train.batch_size=0", "train.batch_size = 0"),
        ("train.batch_size=1", "train.batch_size = 1"),
        ("head.bptt=0", "head.bptt = 0"),
        ("head.max_len=0", "head.max_len = 0"),
        ("train.stages=[]", "train.stages"),
        ("train.metric=\"acc\"", "acc"),
    ] {
        let err = refused(&[
            "classify", "train", "--config", &clf, "--set", set, "--out", out_s,
        ]);
        assert!(err.contains(want), "{set}: {err}");
    }
    let err = refused(&[
        "classify",
        "train",
        "--config",
        &clf,
        "--set",
        "train.metric=\"acc\"",
        "--out",
        out_s,
    ]);
    assert!(
        err.contains("mcc") && err.contains("valid_loss"),
        "the valid metrics listed: {err}"
    );
    let err = refused(&[
        "cnn",
        "train",
        "--config",
        &cfg("cnn-primer.toml"),
        "--set",
        "train.metric=\"acc\"",
        "--out",
        out_s,
    ]);
    assert!(err.contains("acc"), "{err}");
    let err = refused(&[
        "pretrain",
        "--config",
        &cfg("lm-ecoli-cpu.toml"),
        "--set",
        "train.bptt=0",
        "--out",
        out_s,
    ]);
    assert!(err.contains("train.bptt = 0"), "{err}");
    for args in [
        vec!["classify", "eval", "--model", "m", "--batch-size", "0"],
        vec!["lm", "eval", "--model", "m", "--corpus", "c", "--bptt", "0"],
        vec![
            "lm",
            "eval",
            "--model",
            "m",
            "--corpus",
            "c",
            "--batch-size",
            "0",
        ],
        vec![
            "predict", "--model", "m", "--fasta", "f", "--out", "o", "--chunk", "0",
        ],
        vec![
            "interpret",
            "saliency",
            "--model",
            "m",
            "--fasta",
            "f",
            "--out",
            "o",
            "--steps",
            "0",
        ],
    ] {
        let err = refused(&args);
        assert!(err.contains("must be at least 1"), "{args:?}: {err}");
    }
    assert!(!out.exists(), "nothing written");
}

/// The model-directory fuzzer's finds (tests/fuzz/regressions/model-dir-*.bin: the first byte
/// names the damaged file, 0 = config.json, the rest is its contents): a saved config whose model
/// has a size of 0 made libtorch's weight initialisation throw (a panic) before the weights were
/// read. Each must now be refused as a damaged config.json.
#[test]
fn test_model_dirs_whose_config_cannot_be_built_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let fasta = tmp.path().join("q.fa");
    std::fs::write(&fasta, format!(">q\n{}\n", "ACGT".repeat(20))).unwrap();
    let regressions =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(regressions).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("model-dir-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[0], 0, "{name}: a damaged config.json");
        let dir = tmp.path().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), &bytes[1..]).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_genolm-torch"))
            .args(["predict", "--model", dir.to_str().unwrap(), "--fasta"])
            .arg(&fasta)
            .args(["--out", tmp.path().join("p.tsv").to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("config.json") && err.contains("cannot be built"),
            "{name}: {err}"
        );
        seen += 1;
    }
    assert_eq!(seen, 6, "the six model-dir regressions");
}
