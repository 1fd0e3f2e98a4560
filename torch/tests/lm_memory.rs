//! Language-model training reads its corpus in windows: memory does not grow with corpus size.

use std::path::{Path, PathBuf};
use std::process::Command;

fn genolm(args: &[&str]) -> String {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_genolm-torch")).with_file_name("genolm");
    let o = Command::new(exe).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "genolm {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn train_peak_rss(dir: &Path, corpus: &Path, name: &str) -> (f64, u64) {
    let cfg = dir.join(format!("{name}.toml"));
    let text = format!(
        "corpus = \"{}\"\n[model]\nemb_size = 32\nhidden_size = 64\nn_layers = 2\n[train]\nbatch_size = 64\nbptt = 70\n\
         max_steps = 40\nthreads = 1\ncheckpoint_every = 0\nvalid_max_batches = 5\n",
        corpus.display()
    );
    std::fs::write(&cfg, text).unwrap();
    let out = dir.join(format!("m-{name}"));
    let line = genolm(&[
        "pretrain",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let tokens: serde_json::Value = serde_json::from_str(&genolm(&[
        "corpus",
        "stats",
        corpus.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    (
        v["peak_rss_mb"].as_f64().unwrap(),
        tokens["tokens"].as_u64().unwrap(),
    )
}

#[test]
fn test_rss_does_not_grow_with_corpus_size() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if !data.is_dir() {
        assert!(
            std::env::var("CI").is_err(),
            "{} missing in CI",
            data.display()
        );
        eprintln!("SKIPPED: needs {} (shared real data)", data.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("ecoli");
    let large = tmp.path().join("chr20");
    for (out, input) in [
        (
            &small,
            data.join("ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna"),
        ),
        (&large, data.join("human_grch37_chr20/20.fa.gz")),
    ] {
        genolm(&[
            "corpus",
            "build",
            "--fasta",
            input.to_str().unwrap(),
            "--doc-len",
            "1000",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
    }
    let (rss_small, n_small) = train_peak_rss(tmp.path(), &small, "small");
    let (rss_large, n_large) = train_peak_rss(tmp.path(), &large, "large");
    eprintln!(
        "peak RSS: {n_small} tokens -> {rss_small:.0} MB, {n_large} tokens -> {rss_large:.0} MB"
    );
    assert!(n_large > 10 * n_small);
    assert!(rss_small > 0.0);
    assert!(
        rss_large < rss_small * 1.2,
        "RSS grew with the corpus: {rss_small:.0} -> {rss_large:.0} MB"
    );
}
