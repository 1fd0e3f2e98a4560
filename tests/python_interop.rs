//! Python users load genolm's tokenizer.json with Hugging Face `tokenizers` and get the same ids.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The setup's venv Python with `tokenizers`; None (with a SKIPPED line) where it is not installed,
/// a failure in CI, which always runs the setup first.
fn venv_python() -> Option<std::path::PathBuf> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import tokenizers"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    missing(
        &format!("{} with tokenizers", py.display()),
        "scripts/setup.sh installs it",
    );
    None
}

#[test]
fn test_python_tokenizers_gives_the_same_ids() {
    let Some(py) = venv_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(3_000, 17, b"ACGTACGTacgtN");
    let fa = tmp.path().join("g.fa");
    std::fs::write(&fa, fasta_text(&[("x", &seq)], 80, "\n")).unwrap();
    let out = tmp.path().join("c");
    build_corpus(&fa, &out, 6, 3, &["--min-freq", "2"]);
    let query = String::from_utf8(seq[..500].to_vec()).unwrap();
    let ours: serde_json::Value = serde_json::from_str(
        ok(&[
            "tokenize",
            "--tokenizer",
            out.to_str().unwrap(),
            "--seq",
            &query,
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    let script = r#"
import json, sys
from tokenizers import Tokenizer
d = sys.argv[1]
cfg = json.load(open(d + "/tokenizer_config.json"))["genolm"]
k, s = cfg["k"], cfg["stride"]
tok = Tokenizer.from_file(d + "/tokenizer.json")
seq = sys.argv[2].upper()
kmers = [seq[i:i + k] for i in range(0, len(seq) - k + 1, s)]
print(json.dumps(tok.encode(" ".join(kmers)).ids))
"#;
    let o = Command::new(py)
        .args(["-c", script, out.to_str().unwrap(), &query])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ours["ids"], theirs);
    assert!(
        theirs.as_array().unwrap().iter().any(|v| v == 1),
        "the test covers <unk> (N and rare k-mers)"
    );
}
