//! Region and BED extraction, strand-aware, on generated and real (bgzf + fai + gzi) references.

mod common;

use common::*;
use genolm::genome::nucleotide::reverse_complement;

#[test]
fn test_extract_regions_and_bed_with_strand() {
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(1000, 21, b"ACGT");
    let f = tmp.path().join("g.fa");
    std::fs::write(
        &f,
        fasta_text(&[("chr1", &seq), ("chr2", b"AAAACCCCGGGG")], 50, "\n"),
    )
    .unwrap();
    let fa = f.to_str().unwrap();
    let out = ok(&[
        "extract",
        "--fasta",
        fa,
        "--region",
        "chr1:11-20",
        "--region",
        "chr1:11-20:-",
        "--width",
        "0",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], ">chr1:11-20");
    assert_eq!(lines[1].as_bytes(), &seq[10..20], "1-based inclusive");
    assert_eq!(
        lines[3].as_bytes(),
        reverse_complement(&seq[10..20]).as_slice()
    );
    let bed = tmp.path().join("x.bed");
    std::fs::write(
        &bed,
        "track name=x\nchr2\t4\t8\tc_run\t0\t+\nchr2\t0\t6\ta_rc\t0\t-\n",
    )
    .unwrap();
    let out = ok(&["extract", "--fasta", fa, "--bed", bed.to_str().unwrap()]);
    assert_eq!(out, ">chr2:5-8 c_run\nCCCC\n>chr2:1-6:- a_rc\nGGTTTT\n");
}

/// The bgzf reference through its .fai/.gzi: the REF allele of real 1000 Genomes variants must be the
/// base at POS.
#[test]
fn test_bgzf_random_access_matches_vcf_ref_alleles() {
    let Some(data) = shared_data() else { return };
    let chr20 = data.join("human_grch37_chr20/20.fa.gz");
    let vcf = data.join("human_grch37_chr20/variants_1000g/reference.vcf.gz");
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
        std::fs::File::open(&vcf).unwrap(),
    ));
    use std::io::BufRead;
    let mut regions = Vec::new();
    let mut refs = Vec::new();
    for line in reader
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.starts_with('#'))
        .step_by(997)
        .take(25)
    {
        let f: Vec<&str> = line.split('\t').collect();
        let pos: u64 = f[1].parse().unwrap();
        regions.push(format!("20:{pos}-{}", pos + f[3].len() as u64 - 1));
        refs.push(f[3].to_string());
    }
    let mut args = vec![
        "extract".to_string(),
        "--fasta".into(),
        chr20.display().to_string(),
    ];
    for r in &regions {
        args.push("--region".into());
        args.push(r.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&args);
    let bases: Vec<&str> = out.lines().filter(|l| !l.starts_with('>')).collect();
    assert_eq!(bases.len(), refs.len());
    for ((b, r), region) in bases.iter().zip(&refs).zip(&regions) {
        assert_eq!(b, r, "{region}");
    }
}
