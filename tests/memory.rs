//! Corpus building streams: building from human chr20 (63 Mbp, bgzf) stays under 300 MB of RSS.
//! Alone in this file so that the child-RSS high-water mark belongs to this build only.

mod common;

use common::*;

fn max_child_rss_kb() -> i64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_CHILDREN covers waited-for children.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

#[test]
fn test_chr20_corpus_build_rss_under_300_mb() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("chr20");
    let line = ok(&[
        "corpus",
        "build",
        "--fasta",
        data.join("human_grch37_chr20/20.fa.gz").to_str().unwrap(),
        "--doc-len",
        "0",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let rss_mb = max_child_rss_kb() as f64 / 1024.0;
    eprintln!(
        "chr20 corpus build: max RSS {rss_mb:.0} MB; {}",
        line.trim()
    );
    assert!(rss_mb < 300.0, "RSS {rss_mb:.0} MB");
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["bp"], 63_025_520);
    let c = genolm::corpus::Corpus::open(&out).unwrap();
    assert_eq!(
        c.manifest.counts.bases.other, 3_520_000,
        "the N count SOURCE.md gives"
    );
    assert!(c.documents.len() > 1, "N gaps split chr20 into documents");
}
