//! Language-model training reads its corpus in windows: memory does not grow with corpus size.

mod common;

use std::path::Path;

use common::*;

/// Peak RSS of a short training run on `corpus`, and the corpus's token count.
fn train_peak_rss(dir: &Path, corpus: &Path, name: &str) -> (f64, u64) {
    let cfg = dir.join(format!("{name}.toml"));
    let text = format!(
        "corpus = \"{}\"\n[model]\nemb_size = 32\nhidden_size = 64\nn_layers = 2\n[train]\nbatch_size = 64\nbptt = 70\n\
         max_steps = 40\nthreads = 1\ncheckpoint_every = 0\nvalid_max_batches = 5\n",
        corpus.display()
    );
    std::fs::write(&cfg, text).unwrap();
    let out = dir.join(format!("m-{name}"));
    // A fixed, small mmap threshold (a MALLOC_*_ variable also turns off genolm's own malloc
    // settings): every large buffer is returned when freed, so the peak is what is live and
    // identical runs agree within 1 MB; otherwise it moves by tens of MB and drowns the corpus's share.
    let o = pretrain_cmd(front_bin(), &cfg, &out)
        .arg("--json")
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .output()
        .unwrap();
    let line = check(o, "pretrain");
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let peak = v["peak_rss_mb"].as_f64().unwrap();
    let tokens: serde_json::Value = serde_json::from_str(&run_front(&[
        "corpus",
        "stats",
        corpus.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    (peak, tokens["tokens"].as_u64().unwrap())
}

#[test]
fn test_rss_does_not_grow_with_corpus_size() {
    let Some(data) = shared_data() else { return };
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
        run_front(&[
            "corpus",
            "build",
            "--fasta",
            input.to_str().unwrap(),
            // 3-mers: a small vocabulary keeps the decoder's transient buffers (and their noise) small.
            "--k",
            "3",
            "--stride",
            "1",
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
