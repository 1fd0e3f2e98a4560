//! Corpora from the real genomes in ../shared/data.

mod common;

use common::*;
use genolm::corpus::Corpus;

#[test]
fn test_ecoli_genbank_and_fasta_give_the_same_corpus() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = data.join("ecoli-k12-mg1655");
    let gb = tmp.path().join("gb");
    let fa = tmp.path().join("fa");
    ok(&[
        "corpus",
        "build",
        "--genbank",
        dir.join("GCF_000005845.2_ASM584v2_genomic.gbff.gz")
            .to_str()
            .unwrap(),
        "--doc-len",
        "0",
        "--out",
        gb.to_str().unwrap(),
        "--quiet",
    ]);
    ok(&[
        "corpus",
        "build",
        "--fasta",
        dir.join("GCF_000005845.2_ASM584v2_genomic.fna")
            .to_str()
            .unwrap(),
        "--doc-len",
        "0",
        "--out",
        fa.to_str().unwrap(),
        "--quiet",
    ]);
    let (g, f) = (Corpus::open(&gb).unwrap(), Corpus::open(&fa).unwrap());
    // NC_000913.3: 4,641,652 bp, ACGT only: floor((L - 5) / 2) + 1 tokens.
    assert_eq!(f.manifest.counts.bp, 4_641_652);
    assert_eq!(f.n_tokens(), (4_641_652 - 5) / 2 + 1);
    assert_eq!(g.n_tokens(), f.n_tokens());
    assert!((0..f.n_tokens())
        .step_by(101)
        .all(|i| f.token(i) == g.token(i)));
    assert!((f.manifest.sources[0].gc - 0.5079).abs() < 1e-3);
}

#[test]
fn test_multi_genome_bacterial_corpus() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = data.join("bacterial_genomes_debian");
    let mut inputs = Vec::new();
    for sp in ["ragout_H.Pylori", "ragout_V.Cholerae"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(sp))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        inputs.extend(files);
    }
    let out = tmp.path().join("c");
    let mut args = vec!["corpus".to_string(), "build".into(), "--fasta".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(
        [
            "--doc-len",
            "2000",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&args);
    let c = Corpus::open(&out).unwrap();
    assert_eq!(c.manifest.sources.len(), 9);
    assert_eq!(
        c.manifest.counts.records,
        5 + 8,
        "V. cholerae genomes have two chromosomes"
    );
    let hp = &c.manifest.sources[0];
    assert!((hp.gc - 0.389).abs() < 0.005, "H. pylori GC {}", hp.gc);
    // O1_Inaba carries 2,102 N: some short runs become unk, long ones split documents.
    let inaba = c
        .manifest
        .sources
        .iter()
        .find(|s| s.path.ends_with("O1_Inaba.fasta.gz"))
        .unwrap();
    assert_eq!(inaba.n_bases, 2_102);
    assert!(inaba.unk_tokens > 0 || c.manifest.counts.dropped_n_bases > 0);
    let stats = ok(&["corpus", "stats", out.to_str().unwrap()]);
    assert!(stats.contains("O1_Inaba.fasta.gz"), "{stats}");
}
