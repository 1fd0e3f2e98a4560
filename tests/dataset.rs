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
        label_columns: None,
        split_column: None,
    };
    let s = src.load().unwrap();
    assert_eq!(s.classes.len(), 2);
    assert!(s.sequences.iter().all(|q| q.len() == 251));
}

/// `dataset tf-sites` on RegulonDB's E. coli TF-RISet: every positive window holds each of its TFs'
/// sites, checked against the file read independently here; negatives touch no site and match the
/// positives' GC bins; sequences are the genome's.
#[test]
fn test_regulondb_tf_sites() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let sites = data.join("regulondb_ecoli/RegulonDB13_TF-RISet.tsv.gz");
    let fna = data.join("ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna");
    let out = tmp.path().join("tf");
    let args = [
        "dataset",
        "tf-sites",
        "--sites",
        sites.to_str().unwrap(),
        "--genome",
        fna.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    let v: serde_json::Value = serde_json::from_str(ok(&args).trim()).unwrap();
    assert_eq!(v["counts"]["tfs"], 205, "{v}");
    assert_eq!(v["counts"]["negatives"], v["counts"]["positive_windows"]);
    assert_eq!(
        v["site_rows_skipped"], 11,
        "RegulonDB rows that end before they start"
    );
    // The sites, read here on their own: (TF, 0-based start, end).
    let text = String::from_utf8(gunzip(&std::fs::read(&sites).unwrap())).unwrap();
    let mut by_tf: std::collections::HashMap<&str, Vec<(u64, u64)>> = Default::default();
    let mut all: Vec<(u64, u64)> = Vec::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("1)"))
    {
        let f: Vec<&str> = l.split('\t').collect();
        if let (Ok(a), Ok(b)) = (f[6].parse::<u64>(), f[7].parse::<u64>()) {
            if a > 0 && b >= a {
                by_tf.entry(f[3]).or_default().push((a - 1, b));
                all.push((a - 1, b));
            }
        }
    }
    let genome: String = std::fs::read_to_string(&fna)
        .unwrap()
        .lines()
        .skip(1)
        .collect();
    let table = std::fs::read_to_string(out.join("multi-label.tsv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(
        &header[..6],
        ["id", "chrom", "start", "end", "gc", "sequence"]
    );
    let tfs = &header[6..];
    assert_eq!(tfs.len(), 42, "TFs with >= 40 windows");
    assert_eq!(tfs[0], "CRP", "most windows first");
    let (mut pos_bins, mut neg_bins) = ([0usize; 10], [0usize; 10]);
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        let (s, e): (u64, u64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        assert_eq!(e - s, 200);
        assert_eq!(f[5], &genome[s as usize..e as usize], "{}", f[0]);
        let gc = f[5].bytes().filter(|b| matches!(b, b'G' | b'C')).count();
        let bin = (gc * 10 / 200).min(9);
        // Labelled: a whole site inside, or a site covering the centre base.
        let c = s + 100;
        let inside = |tf: &str| {
            by_tf[tf]
                .iter()
                .any(|&(a, b)| (a >= s && b <= e) || (a <= c && b > c))
        };
        let labels: Vec<bool> = f[6..].iter().map(|x| *x == "1").collect();
        for (tf, &on) in tfs.iter().zip(&labels) {
            assert_eq!(on, inside(tf), "{} {tf}", f[0]);
        }
        if labels.contains(&true) {
            pos_bins[bin] += 1;
        } else {
            neg_bins[bin] += 1;
            assert!(
                !all.iter().any(|&(a, b)| a < e && b > s),
                "negative {} touches a site",
                f[0]
            );
        }
    }
    assert!(pos_bins.iter().sum::<usize>() > 3000);
    // Negatives are matched to all positive windows (held-out TFs' too), so each bin has at least
    // as many negatives as this table's positives.
    for b in 0..10 {
        assert!(
            neg_bins[b] >= pos_bins[b],
            "bin {b}: {neg_bins:?} vs {pos_bins:?}"
        );
    }
    // A single-task table: the TF's windows and as many GC-matched negatives.
    let lexa = std::fs::read_to_string(out.join("single-task/LexA.tsv")).unwrap();
    let labels: Vec<&str> = lexa
        .lines()
        .skip(1)
        .map(|l| l.rsplit('\t').next().unwrap())
        .collect();
    let n_pos = labels.iter().filter(|l| **l == "1").count();
    assert_eq!(n_pos, 69);
    assert_eq!(labels.len(), 2 * n_pos);
    let summary = std::fs::read_to_string(out.join("tfs.tsv")).unwrap();
    assert!(
        summary.contains("LexA\t69\tyes\tsingle-task/LexA.tsv"),
        "{summary}"
    );
    // Bad input: the directory exists; a genome of two sequences without --chrom; no sites.
    let e = stderr(&run(&args));
    assert!(e.contains("already exists"), "{e}");
    let two = write_file(tmp.path(), "two.fa", b">a\nACGTACGT\n>b\nACGTACGT\n");
    let again = tmp.path().join("tf2");
    let mut a2 = args;
    a2[5] = &two;
    a2[7] = again.to_str().unwrap();
    let e = stderr(&run(&a2));
    assert!(e.contains("two.fa") && e.contains("--chrom"), "{e}");
    let empty = write_file(tmp.path(), "none.bed", b"");
    let mut a3 = args;
    a3[3] = &empty;
    a3[7] = again.to_str().unwrap();
    let o = run(&a3);
    assert!(
        !o.status.success() && stderr(&o).contains("none.bed"),
        "{}",
        stderr(&o)
    );
    assert!(!again.exists(), "nothing half-written");
}
