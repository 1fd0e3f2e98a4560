//! `genolm dataset promoters` on the real E. coli annotation.

mod common;

use common::*;

#[test]
fn test_ecoli_cds_start_promoters() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let gb = data.join("ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.gbff.gz");
    let out = tmp.path().join("promoters.tsv");
    let v: serde_json::Value = serde_json::from_str(
        ok(&[
            "dataset",
            "promoters",
            "--genbank",
            gb.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    // 4,315 CDS; thrL (190..255) sits 189 bases from the origin, so every window fits but a handful
    // at the record's far end.
    let pos = v["positives"].as_u64().unwrap();
    assert!((4_300..=4_315).contains(&pos), "{pos}");
    assert_eq!(v["negatives"], v["positives"]);
    let text = std::fs::read_to_string(&out).unwrap();
    let genome: String =
        std::fs::read_to_string(data.join("ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna"))
            .unwrap()
            .lines()
            .skip(1)
            .collect();
    let thrl = text
        .lines()
        .find(|l| l.contains("\tthrL_promoter\t"))
        .expect("thrL row");
    let f: Vec<&str> = thrl.split('\t').collect();
    // CDS 190..255 (+): the window is 0-based [89, 239), the ATG at offset 100.
    assert_eq!((f[4], f[5], f[6]), ("89", "239", "+"));
    assert_eq!(f[0], &genome[89..239]);
    assert_eq!(&f[0][100..103], "ATG");
    // A '-' strand gene: yaaA (5683..6459, -): its start codon reads ATG on the reverse strand.
    let yaaa = text
        .lines()
        .find(|l| l.contains("\tyaaA_promoter\t"))
        .expect("yaaA row");
    let seq = yaaa.split('\t').next().unwrap();
    assert_eq!(
        &seq[100..103],
        "ATG",
        "reverse-complemented onto the coding strand"
    );
    assert!(text
        .lines()
        .skip(1)
        .all(|l| l.split('\t').next().unwrap().len() == 150));
}

/// The labelled sets of ../shared/data load with the right counts through each source format.
#[test]
fn test_real_labelled_sets_load() {
    use genolm::corpus::labelled::{ClassFile, LabelledSource};
    let Some(data) = shared_data() else { return };
    let d = data.join("CNNPromoterData");
    let s = LabelledSource::FastaPerClass {
        classes: vec![
            ClassFile {
                name: "promoter".into(),
                fasta: d.join("Ecoli_prom.fa"),
            },
            ClassFile {
                name: "non_promoter".into(),
                fasta: d.join("Ecoli_non_prom.fa"),
            },
        ],
    }
    .load()
    .unwrap();
    assert_eq!(s.class_counts(), vec![839, 3000]);
    assert!(s.sequences.iter().all(|q| q.len() == 81));
    let a = data.join("derived_from_annotation/arabidopsis_chr1_lncRNA_vs_mRNA.fa.gz");
    let s = LabelledSource::FastaHeader {
        fasta: a,
        label_regex: None,
    }
    .load()
    .unwrap();
    assert!(
        s.classes.contains(&"lncRNA".to_string()) && s.classes.len() == 2,
        "{:?}",
        s.classes
    );
    let h = data.join("derived_from_annotation/human_chr20_hg19_promoters_251bp.tsv.gz");
    let src = LabelledSource::Table {
        path: h,
        sequence_column: "sequence".into(),
        label_column: "label".into(),
        split_column: None,
    };
    let s = src.load().unwrap();
    assert_eq!(s.classes.len(), 2);
    assert!(s.sequences.iter().all(|q| q.len() == 251));
}
