//! `genolm variants windows` on real data: TLVar's HGMD.bed on GRCh37 chr20, 1000 Genomes VCF.

mod common;

use common::{run, shared_data, stderr};

#[test]
fn test_hgmd_chr20_windows_and_vcf_ref_check() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let genome = data.join("human_grch37_chr20/20.fa.gz");
    let out = tmp.path().join("hgmd");
    let o = run(&[
        "variants",
        "windows",
        "--variants",
        data.join("TLVar/HGMD.bed").to_str().unwrap(),
        "--genome",
        genome.to_str().unwrap(),
        "--flank",
        "500",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // chr20 only: the paper's genome-wide 60,977 rows leave 140 positives and 743 negatives here.
    assert_eq!(s["windows"], 883);
    assert_eq!(s["not_in_genome"], 60977 - 883);
    let tsv = std::fs::read_to_string(out.with_extension("tsv")).unwrap();
    let rows: Vec<Vec<&str>> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.iter().filter(|r| r[5] == "1").count(), 140);
    assert!(rows.iter().all(|r| r[7].len() == 1001));
    // HGMD.bed's first chr20 row, 1-based 1610551: the window's centre is that base.
    let first = rows.iter().find(|r| r[2] == "1610551").unwrap();
    let centre = run(&[
        "extract",
        "--fasta",
        genome.to_str().unwrap(),
        "--region",
        "20:1610551-1610551",
    ]);
    let base = String::from_utf8_lossy(&centre.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(&first[7][500..501], base);

    // 1000 Genomes' REF alleles all match GRCh37; a changed REF is reported, not fatal.
    let vcf = tmp.path().join("v.vcf");
    std::fs::write(&vcf, "#CHROM\tPOS\tID\tREF\tALT\n20\t1610551\tok\tN\tA\n").unwrap();
    let text = format!(
        "#CHROM\tPOS\tID\tREF\tALT\n20\t1610551\tx\t{}\t<DEL>,{}\n",
        if base == "A" { "C" } else { "A" },
        "GT"
    );
    std::fs::write(&vcf, text).unwrap();
    let out = tmp.path().join("vcf");
    let o = run(&[
        "variants",
        "windows",
        "--variants",
        vcf.to_str().unwrap(),
        "--genome",
        genome.to_str().unwrap(),
        "--flank",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            s["windows"].as_u64(),
            s["ref_mismatches"].as_u64(),
            s["symbolic_alts"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    let row = std::fs::read_to_string(out.with_extension("tsv")).unwrap();
    let alt = row
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .nth(8)
        .unwrap()
        .to_string();
    assert_eq!(alt.len(), 21);
    assert_eq!(&alt[10..12], "GT", "the ALT allele follows the left flank");

    // A malformed record: the file and line are named, and nothing is written.
    std::fs::write(&vcf, "20\t1610551\tx\tA\n").unwrap();
    let bad = tmp.path().join("bad");
    let o = run(&[
        "variants",
        "windows",
        "--variants",
        vcf.to_str().unwrap(),
        "--genome",
        genome.to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("v.vcf: line 1"), "{}", stderr(&o));
    assert!(!bad.with_extension("tsv").exists());
}
