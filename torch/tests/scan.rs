//! `genolm scan` and `genolm merge`: tracks checked against `genolm predict` on the same windows,
//! shards merged to the unsharded bytes, circular wrap, truth metrics, bounded memory, bad input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;

/// A small motif classifier (3-mers, 40 bp training sequences), trained once per test binary.
fn classifier() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let table = motif_table(&dir, 400);
        let cfg = dir.join("c.toml");
        std::fs::write(
            &cfg,
            format!(
                "k = 3\nstride = 1\nclasses = [\"background\", \"motif\"]\ndrop_mult = 0.1\n[data]\nformat = \"table\"\npath = \"{}\"\n\
                 [split]\nvalid_frac = 0.15\ntest_frac = 0.15\n[model]\nemb_size = 16\nhidden_size = 32\nn_layers = 2\n\
                 [train]\nbatch_size = 16\nthreads = 1\nstages = [{{ unfreeze = 0, epochs = 8, lr = 1e-2 }}]\n",
                table.display()
            ),
        )
        .unwrap();
        let out = dir.join("clf");
        train_classifier(&cfg, &out, &["-q"]);
        out
    })
}

/// Random chromosomes with the motif planted at `motifs` (chromosome, position).
fn genome(dir: &Path, lengths: &[usize], motifs: &[(usize, usize)], seed: u64) -> PathBuf {
    let mut text = String::new();
    for (c, &len) in lengths.iter().enumerate() {
        let mut s = random_bases(len, seed + c as u64).into_bytes();
        for &(mc, at) in motifs {
            if mc == c {
                for (i, b) in MOTIF.bytes().enumerate() {
                    s[(at + i) % len] = b;
                }
            }
        }
        text.push_str(&format!(">chr{}\n", c + 1));
        for line in s.chunks(60) {
            text.push_str(std::str::from_utf8(line).unwrap());
            text.push('\n');
        }
    }
    let p = dir.join("genome.fa");
    std::fs::write(&p, text).unwrap();
    p
}

fn scan(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["scan", "--json", "--precision", "fp32", "--model"];
    all.push(classifier().to_str().unwrap());
    all.extend(args);
    let out = run_torch(&all);
    serde_json::from_str(out.trim()).unwrap()
}

/// bedGraph rows (chrom, start, end, value), the track line left out.
fn bedgraph(path: &Path) -> Vec<(String, u64, u64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("track"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

/// Per-base values of a bedGraph for one chromosome.
fn per_base(rows: &[(String, u64, u64, f64)], chrom: &str) -> BTreeMap<u64, f64> {
    let mut out = BTreeMap::new();
    for (c, a, b, v) in rows {
        if c == chrom {
            for i in *a..*b {
                assert!(
                    out.insert(i, *v).is_none(),
                    "overlapping bedGraph rows at {i}"
                );
            }
        }
    }
    out
}

#[test]
fn test_track_is_the_mean_of_predict_over_the_windows_covering_each_base() {
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[1000, 530], &[(0, 300), (1, 100)], 11);
    let (w, s) = (40usize, 15usize);
    let prefix = tmp.path().join("out/scan");
    let v = scan(&[
        "--genome",
        g.to_str().unwrap(),
        "--window",
        "40",
        "--step",
        "15",
        "--strand",
        "both",
        "--batch",
        "7",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    // The windows, cut here independently: the grid, then the last one right-aligned.
    let seqs = genolm::genome::open::read_sequences(&g).unwrap();
    let mut fasta = String::new();
    let mut windows = Vec::new();
    for (name, seq) in &seqs {
        let mut starts: Vec<usize> = (0..=seq.len() - w).step_by(s).collect();
        if *starts.last().unwrap() != seq.len() - w {
            starts.push(seq.len() - w);
        }
        for st in starts {
            for strand in ["+", "-"] {
                let mut win = seq[st..st + w].to_vec();
                if strand == "-" {
                    win = genolm::genome::nucleotide::reverse_complement(&win);
                }
                fasta.push_str(&format!(
                    ">{name}:{st}:{strand}\n{}\n",
                    String::from_utf8(win).unwrap()
                ));
                windows.push((name.clone(), st, strand));
            }
        }
    }
    assert_eq!(v["windows"].as_u64().unwrap(), windows.len() as u64);
    let fa = tmp.path().join("windows.fa");
    std::fs::write(&fa, fasta).unwrap();
    let preds = tmp.path().join("p.tsv");
    run_torch(&[
        "predict",
        "--model",
        classifier().to_str().unwrap(),
        "--fasta",
        fa.to_str().unwrap(),
        "--out",
        preds.to_str().unwrap(),
        "--json",
    ]);
    let table = std::fs::read_to_string(&preds).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split('\t').collect();
    let col = header.iter().position(|h| *h == "p_motif").unwrap();
    let probs: Vec<f64> = table
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(col).unwrap().parse().unwrap())
        .collect();
    for (strand, file) in [("+", "plus"), ("-", "minus")] {
        let rows = bedgraph(&prefix.with_file_name(format!("scan.motif.{file}.bedGraph")));
        for (name, seq) in &seqs {
            let track = per_base(&rows, name);
            assert_eq!(track.len(), seq.len(), "every base of {name} is covered");
            let mut sum = vec![0.0; seq.len()];
            let mut n = vec![0u32; seq.len()];
            for ((c, st, sd), p) in windows.iter().zip(&probs) {
                if c == name && *sd == strand {
                    for i in *st..*st + w {
                        sum[i] += p;
                        n[i] += 1;
                    }
                }
            }
            for (i, (&sm, &k)) in sum.iter().zip(&n).enumerate() {
                let want = sm / k as f64;
                let got = track[&(i as u64)];
                assert!(
                    (got - want).abs() < 2e-5,
                    "{name}:{i} {strand}: track {got}, predict {want}"
                );
            }
        }
    }
    // The max track is the larger strand's value; the planted motifs are called.
    let max = per_base(
        &bedgraph(&prefix.with_file_name("scan.motif.max.bedGraph")),
        "chr1",
    );
    let plus = per_base(
        &bedgraph(&prefix.with_file_name("scan.motif.plus.bedGraph")),
        "chr1",
    );
    let minus = per_base(
        &bedgraph(&prefix.with_file_name("scan.motif.minus.bedGraph")),
        "chr1",
    );
    for i in 0..1000u64 {
        assert!((max[&i] - plus[&i].max(minus[&i])).abs() < 1e-9);
    }
    let calls = std::fs::read_to_string(prefix.with_file_name("scan.motif.calls.bed")).unwrap();
    let hits: Vec<(String, u64, u64)> = calls
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 8, "BED6 + peak + summit offset: {l}");
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    for (chrom, at) in [("chr1", 300u64), ("chr2", 100)] {
        assert!(
            hits.iter()
                .any(|(c, a, b)| c == chrom && *a <= at + 12 && *b >= at),
            "motif at {chrom}:{at} not called: {calls}"
        );
    }
    for ext in ["plus.bw", "minus.bw", "max.bw"] {
        assert!(prefix.with_file_name(format!("scan.motif.{ext}")).exists());
    }
    assert!(prefix.with_file_name("scan.summary.json").exists());
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn test_shards_merge_to_the_unsharded_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    // Motifs close together make long called regions, so shard boundaries fall inside them.
    let motifs: Vec<(usize, usize)> = (0..12)
        .map(|i| (0, 400 + 30 * i))
        .chain([(1, 50)])
        .collect();
    let g = genome(tmp.path(), &[2400, 700], &motifs, 21);
    let common = [
        "--genome",
        g.to_str().unwrap(),
        "--window",
        "40",
        "--step",
        "10",
        "--strand",
        "both",
        "--batch",
        "9",
        "--threshold",
        "0.3",
        "--merge-gap",
        "20",
    ];
    let whole = tmp.path().join("whole/scan");
    let mut args = common.to_vec();
    args.extend(["--out", whole.to_str().unwrap()]);
    let v = scan(&args);
    assert!(v["calls"]["motif"].as_u64().unwrap() >= 1);
    let calls = std::fs::read_to_string(whole.with_file_name("scan.motif.calls.bed")).unwrap();
    assert!(
        calls.lines().any(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f[2].parse::<u64>().unwrap() - f[1].parse::<u64>().unwrap() > 200
        }),
        "a long called region: {calls}"
    );
    for n in 1..=3u32 {
        let dir = tmp.path().join(format!("n{n}"));
        let prefix = dir.join("scan");
        let mut shards = Vec::new();
        for i in 1..=n {
            let mut args = common.to_vec();
            let shard = format!("{i}/{n}");
            args.extend(["--shard", &shard, "--out", prefix.to_str().unwrap()]);
            let v = scan(&args);
            shards.push(PathBuf::from(v["file"].as_str().unwrap()));
        }
        // Given in reverse order: merge puts them right.
        shards.reverse();
        let mut args = vec![
            "merge",
            "--json",
            "--out",
            prefix.to_str().unwrap(),
            "--shards",
        ];
        args.extend(shards.iter().map(|p| p.to_str().unwrap()));
        let m: serde_json::Value = serde_json::from_str(run_front(&args).trim()).unwrap();
        assert_eq!(m["windows"], v["windows"]);
        for f in [
            "motif.plus.bedGraph",
            "motif.minus.bedGraph",
            "motif.max.bedGraph",
            "motif.plus.bw",
            "motif.minus.bw",
            "motif.max.bw",
            "motif.calls.bed",
        ] {
            let name = format!("scan.{f}");
            assert!(
                read(&whole.with_file_name(&name)) == read(&prefix.with_file_name(&name)),
                "{name} differs with {n} shards"
            );
        }
    }
    // A missing shard is refused.
    let prefix = tmp.path().join("n3/scan");
    let e = front_bin()
        .args([
            "merge",
            "--out",
            tmp.path().join("bad").to_str().unwrap(),
            "--shards",
        ])
        .arg(genolm::track::shard::shard_path(&prefix, 0, 3))
        .arg(genolm::track::shard::shard_path(&prefix, 2, 3))
        .output()
        .unwrap();
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("shard 2 of 3 is missing"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
}

#[test]
fn test_circular_windows_cover_the_origin_and_find_a_motif_across_it() {
    let tmp = tempfile::tempdir().unwrap();
    let len = 900;
    // The motif starts 5 bases before the end and continues at base 0.
    let g = genome(tmp.path(), &[len], &[(0, len - 5)], 31);
    let prefix = tmp.path().join("c/scan");
    let v = scan(&[
        "--genome",
        g.to_str().unwrap(),
        "--window",
        "40",
        "--step",
        "10",
        "--circular",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert_eq!(
        v["windows"].as_u64().unwrap(),
        90,
        "one window per step all the way round"
    );
    let track = per_base(
        &bedgraph(&prefix.with_file_name("scan.motif.plus.bedGraph")),
        "chr1",
    );
    assert_eq!(track.len(), len, "every base covered");
    let calls = std::fs::read_to_string(prefix.with_file_name("scan.motif.calls.bed")).unwrap();
    let first: Vec<&str> = calls.lines().next().expect("a call").split('\t').collect();
    let last: Vec<&str> = calls.lines().last().unwrap().split('\t').collect();
    assert!(
        first[1] == "0" || last[2] == len.to_string(),
        "a call at the origin: {calls}"
    );
    // Linear, the motif is cut in two and found by no window.
    let prefix = tmp.path().join("l/scan");
    scan(&[
        "--genome",
        g.to_str().unwrap(),
        "--window",
        "40",
        "--step",
        "10",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    let linear = per_base(
        &bedgraph(&prefix.with_file_name("scan.motif.plus.bedGraph")),
        "chr1",
    );
    assert!(
        track[&0] > linear[&0] + 0.15,
        "wrapped {} vs linear {}",
        track[&0],
        linear[&0]
    );
}

#[test]
fn test_truth_metrics_and_n_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[3000], &[(0, 500), (0, 1500), (0, 2500)], 41);
    // An N run: windows over it are skipped (counted), the rest still scored.
    let mut text = std::fs::read_to_string(&g).unwrap();
    let at = text.find('\n').unwrap() + 1 + 61 * 16; // line 17 of the sequence
    text.replace_range(at..at + 60, &"N".repeat(60));
    std::fs::write(&g, text).unwrap();
    let truth = tmp.path().join("t.tsv");
    std::fs::write(
        &truth,
        "name\tstrand\ttss\nm1\t+\t507\nm2\t+\t1507\nm3\t+\t2507\nnone\t+\t2000\n",
    )
    .unwrap();
    let prefix = tmp.path().join("t/scan");
    let v = scan(&[
        "--genome",
        g.to_str().unwrap(),
        "--window",
        "40",
        "--step",
        "20",
        "--truth",
        truth.to_str().unwrap(),
        "--truth-distance",
        "30",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert!(v["windows_skipped"].as_u64().unwrap() >= 3, "{v}");
    let t = &v["truth"];
    assert_eq!(t["sites"], 4);
    assert_eq!(t["sites_found"], 3, "{t}");
    assert!(t["window_auprc"].as_f64().unwrap() > t["window_auprc_baseline"].as_f64().unwrap());
    for f in [
        "scan.summit-distance.tsv",
        "scan.summit-distance.png",
        "scan.summit-distance.svg",
    ] {
        assert!(prefix.with_file_name(f).exists(), "{f}");
    }
}

#[test]
fn test_plot_track_draws_a_region() {
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[2000], &[(0, 700)], 51);
    let prefix = tmp.path().join("p/scan");
    scan(&[
        "--genome",
        g.to_str().unwrap(),
        "--window",
        "40",
        "--step",
        "10",
        "--strand",
        "both",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    let out = tmp.path().join("fig/track.png");
    run_front(&[
        "plot",
        "track",
        "--bigwig",
        prefix
            .with_file_name("scan.motif.plus.bw")
            .to_str()
            .unwrap(),
        "--bedgraph",
        prefix
            .with_file_name("scan.motif.minus.bedGraph")
            .to_str()
            .unwrap(),
        "--calls",
        prefix
            .with_file_name("scan.motif.calls.bed")
            .to_str()
            .unwrap(),
        "--region",
        "chr1:501-1000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let png = std::fs::read(&out).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5000);
    assert!(out.with_extension("svg").exists());
}

fn peak_rss_of_scan(g: &Path, out: &Path, extra: &[&str]) -> u64 {
    // A fixed, small mmap threshold (as lm_memory.rs): freed large buffers go back at once, so the
    // peak is what is live, not what glibc kept from earlier batches.
    let o = torch_bin()
        .args(["scan", "--json", "--precision", "fp32", "--model"])
        .arg(classifier())
        .args([
            "--genome",
            g.to_str().unwrap(),
            "--window",
            "60",
            "--step",
            "3000",
            "--batch",
            "64",
        ])
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(check(o, "scan").trim()).unwrap();
    v["peak_rss_bytes"].as_u64().unwrap()
}

#[test]
fn test_peak_memory_does_not_grow_with_chromosome_length() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, len: usize| {
        let p = tmp.path().join(name);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        use std::io::Write;
        writeln!(f, ">chr1").unwrap();
        let line = random_bases(1_000_000, 7);
        for i in 0..len / 1_000_000 {
            // Rotated so that lines differ along the chromosome.
            let r = (i * 7919) % line.len();
            writeln!(f, "{}{}", &line[r..], &line[..r]).unwrap();
        }
        p
    };
    let small = write("small.fa", 1_000_000);
    let large = write("large.fa", 60_000_000);
    let a = peak_rss_of_scan(&small, &tmp.path().join("s/scan"), &[]);
    let b = peak_rss_of_scan(&large, &tmp.path().join("l/scan"), &[]);
    // The last shard starts 30 Mbp into the chromosome: what it passes over is never held.
    let c = peak_rss_of_scan(&large, &tmp.path().join("h/scan"), &["--shard", "2/2"]);
    eprintln!(
        "peak RSS: 1 Mbp {} MB, 60 Mbp {} MB, 60 Mbp second shard {} MB",
        a / 1_000_000,
        b / 1_000_000,
        c / 1_000_000
    );
    assert!(
        (b as f64) < a as f64 * 1.10,
        "1 Mbp: {a} bytes, 60 Mbp: {b} bytes"
    );
    assert!(
        (c as f64) < a as f64 * 1.10,
        "1 Mbp: {a} bytes, 60 Mbp shard 2/2: {c} bytes"
    );
}

/// Runs `genolm-torch scan` expecting failure; returns stderr.
fn scan_fails(args: &[&str]) -> String {
    let mut all = vec!["scan", "--model", classifier().to_str().unwrap()];
    all.extend(args);
    let o = torch_bin().args(&all).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn test_bad_scan_input_is_a_clear_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[500], &[], 61);
    let gs = g.to_str().unwrap();
    let out = tmp.path().join("o/scan");
    let os = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--genome", gs, "--window", "2", "--out", os],
            "shorter than the model's k",
        ),
        (
            vec!["--genome", gs, "--window", "40", "--step", "0", "--out", os],
            "--step must be at least 1",
        ),
        (
            vec!["--genome", gs, "--region", "chr1:400-600", "--out", os],
            "outside chr1",
        ),
        (
            vec!["--genome", gs, "--region", "1:1-100", "--out", os],
            "did you mean 'chr1'",
        ),
        (
            vec!["--genome", gs, "--shard", "3/2", "--out", os],
            "1 <= i <= n",
        ),
        (
            vec!["--genome", gs, "--classes", "enhancer", "--out", os],
            "not one of the model's classes",
        ),
    ];
    for (args, want) in cases {
        let err = scan_fails(&args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let bed = tmp.path().join("r.bed");
    std::fs::write(&bed, "chr1\t10\t100\nchr1\tten\t200\n").unwrap();
    let err = scan_fails(&[
        "--genome",
        gs,
        "--regions",
        bed.to_str().unwrap(),
        "--out",
        os,
    ]);
    assert!(err.contains("r.bed") && err.contains("line 2"), "{err}");
    // A gzip genome without an index cannot serve regions.
    let gz = tmp.path().join("g.fa.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut enc, &std::fs::read(&g).unwrap()).unwrap();
    enc.finish().unwrap();
    let err = scan_fails(&[
        "--genome",
        gz.to_str().unwrap(),
        "--region",
        "chr1:1-100",
        "--out",
        os,
    ]);
    assert!(
        err.contains("samtools faidx") && err.contains("bgzip"),
        "{err}"
    );
    // An output directory that cannot be created.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let err = scan_fails(&[
        "--genome",
        gs,
        "--window",
        "40",
        "--out",
        blocker.join("scan").to_str().unwrap(),
    ]);
    assert!(err.contains("file"), "{err}");
    // Models whose classes differ cannot be averaged.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(classifier().join(f), other.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(classifier().join("config.json")).unwrap();
    std::fs::write(
        other.join("config.json"),
        cfg.replacen("\"motif\"", "\"enhancer\"", 1),
    )
    .unwrap();
    let err = scan_fails(&[
        "--model",
        other.to_str().unwrap(),
        "--genome",
        gs,
        "--window",
        "40",
        "--out",
        os,
    ]);
    assert!(err.contains("share their classes"), "{err}");
    assert!(
        !out.parent().unwrap().exists()
            || std::fs::read_dir(out.parent().unwrap())
                .unwrap()
                .next()
                .is_none(),
        "nothing written"
    );
}

#[test]
fn test_ctrl_c_stops_a_scan_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[3_000_000], &[], 71);
    let dir = tmp.path().join("o");
    let mut child = torch_bin()
        .args([
            "scan",
            "--model",
            classifier().to_str().unwrap(),
            "--genome",
            g.to_str().unwrap(),
            "--window",
            "40",
            "--step",
            "5",
            "--batch",
            "64",
            "--out",
        ])
        .arg(dir.join("scan"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Staged track files appear once the scan has begun.
    interrupt_when(&mut child, "scan", || {
        std::fs::read_dir(&dir)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    });
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `.venv/bin/snakemake` (setup installs it); None with a SKIPPED line where missing, a failure in CI.
fn snakemake() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/snakemake");
    let present = p.exists();
    required(p, present, "scripts/setup.sh installs it")
}

#[test]
fn test_snakemake_workflow_of_two_shards_matches_a_single_scan() {
    let Some(snakemake) = snakemake() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[1500, 800], &[(0, 200), (1, 600)], 81);
    let args = "--window 40 --step 10 --strand both --batch 16";
    let single = tmp.path().join("single/scan");
    let mut a: Vec<&str> = vec![
        "--genome",
        g.to_str().unwrap(),
        "--out",
        single.to_str().unwrap(),
    ];
    a.extend(args.split(' '));
    scan(&a);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let front = PathBuf::from(env!("CARGO_BIN_EXE_genolm-torch")).with_file_name("genolm");
    let out = tmp.path().join("wf/scan");
    let o = std::process::Command::new(&snakemake)
        .arg("-s")
        .arg(root.join("workflows/scan/Snakefile"))
        .arg("--profile")
        .arg(root.join("workflows/scan/profiles/local"))
        .args(["--cores", "2", "--directory"])
        .arg(tmp.path())
        .arg("--config")
        .arg(format!("model={}", classifier().display()))
        .arg(format!("genome={}", g.display()))
        .arg(format!("out={}", out.display()))
        .arg("shards=2")
        .arg(format!("genolm={}", front.display()))
        .arg(format!("args=--precision fp32 {args}"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "snakemake failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in [
        "motif.plus.bedGraph",
        "motif.minus.bedGraph",
        "motif.max.bedGraph",
        "motif.max.bw",
        "motif.calls.bed",
    ] {
        let name = format!("scan.{f}");
        assert!(
            read(&single.with_file_name(&name)) == read(&out.with_file_name(&name)),
            "{name} differs"
        );
    }
    assert!(
        !out.with_file_name("scan.shard-1-of-2.windows.tsv").exists(),
        "shard files are temporary"
    );
}

#[test]
fn test_regions_by_random_access_equal_regions_streamed() {
    let tmp = tempfile::tempdir().unwrap();
    let g = genome(tmp.path(), &[1200, 700], &[(0, 400), (1, 300)], 91);
    // The same FASTA beside its .fai (60 bases a line, as genome() writes): read by random access.
    let indexed_dir = tmp.path().join("indexed");
    std::fs::create_dir(&indexed_dir).unwrap();
    let indexed = indexed_dir.join("genome.fa");
    std::fs::copy(&g, &indexed).unwrap();
    let mut fai = String::new();
    let mut offset = 0;
    for (name, len) in [("chr1", 1200u64), ("chr2", 700)] {
        offset += name.len() as u64 + 2;
        fai.push_str(&format!("{name}\t{len}\t{offset}\t60\t61\n"));
        offset += len + len.div_ceil(60);
    }
    std::fs::write(indexed_dir.join("genome.fa.fai"), fai).unwrap();
    let run = |genome: &Path, out: &Path| {
        scan(&[
            "--genome",
            genome.to_str().unwrap(),
            "--region",
            "chr1:101-1000",
            "--region",
            "chr2:250-700",
            "--window",
            "40",
            "--step",
            "7",
            "--strand",
            "both",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let a = run(&g, &tmp.path().join("a/scan"));
    let b = run(&indexed, &tmp.path().join("b/scan"));
    assert_eq!(a["windows"], b["windows"]);
    for f in [
        "motif.plus.bedGraph",
        "motif.minus.bedGraph",
        "motif.calls.bed",
    ] {
        let name = format!("scan.{f}");
        assert!(
            read(&tmp.path().join("a").join(&name)) == read(&tmp.path().join("b").join(&name)),
            "{name}: random access and streaming differ"
        );
    }
    // Only the regions are scanned: chr1's first 100 bases have no value.
    let rows = bedgraph(&tmp.path().join("a/scan.motif.plus.bedGraph"));
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("chr1", 100));
}
