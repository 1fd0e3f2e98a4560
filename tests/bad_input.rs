//! Every bad input gets a clear error naming the file/record, a non-zero exit, and leaves no output.

mod common;

use std::path::Path;

use common::*;

/// Runs a corpus build into `<tmp>/out` that must fail; checks the message and that nothing is left.
fn expect_failure(tmp: &Path, extra: &[&str], must_contain: &[&str]) -> String {
    let out = tmp.join("out");
    let mut args = vec!["corpus", "build", "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    let o = run(&args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "should fail with exit 1: {args:?}\n{err}"
    );
    for s in must_contain {
        assert!(err.contains(s), "error should mention {s:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert!(!out.exists(), "no output directory left behind");
    let leftovers: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging directories left: {leftovers:?}"
    );
    err
}

#[test]
fn test_empty_file() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "empty.fa", b"");
    expect_failure(tmp.path(), &["--fasta", &f], &["empty.fa", "empty"]);
}

#[test]
fn test_not_fasta_or_genbank() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(
        tmp.path(),
        "notes.txt",
        b"hello world\nthis is not a genome\n",
    );
    expect_failure(
        tmp.path(),
        &["--fasta", &f],
        &["notes.txt", "not FASTA or GenBank", "hello world"],
    );
    let f = write_file(tmp.path(), "seq.fa", b">ok\nACGT\n");
    expect_failure(
        tmp.path(),
        &["--genbank", &f],
        &["seq.fa", "fasta", "genbank"],
    );
}

#[test]
fn test_truncated_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fasta_text(&[("chr1", &random_seq(200_000, 1, b"ACGT"))], 60, "\n");
    let gz = gzip(text.as_bytes());
    let f = write_file(tmp.path(), "cut.fa.gz", &gz[..gz.len() / 2]);
    expect_failure(
        tmp.path(),
        &["--fasta", &f],
        &["cut.fa.gz", "truncated or corrupt gzip"],
    );
}

#[test]
fn test_truncated_or_corrupt_bgzf() {
    // bgzf blocks are inflated on several threads: a cut file or a damaged block is still an
    // error that names the file, and nothing is left behind.
    let tmp = tempfile::tempdir().unwrap();
    let text = fasta_text(&[("chr1", &random_seq(300_000, 2, b"ACGT"))], 60, "\n");
    let bgz = bgzf(text.as_bytes());
    let f = write_file(tmp.path(), "cut.fa.gz", &bgz[..bgz.len() / 2]);
    expect_failure(
        tmp.path(),
        &["--fasta", &f],
        &["cut.fa.gz", "truncated or corrupt gzip"],
    );
    // A byte of the second block's deflate data (past its 18-byte header) flipped.
    let second = u16::from_le_bytes([bgz[16], bgz[17]]) as usize + 1;
    let mut bad = bgz.clone();
    bad[second + 18 + 100] ^= 0x55;
    let f = write_file(tmp.path(), "flip.fa.gz", &bad);
    expect_failure(
        tmp.path(),
        &["--fasta", &f],
        &["flip.fa.gz", "truncated or corrupt gzip"],
    );
}

#[test]
fn test_the_first_bad_file_in_input_order_is_the_one_reported() {
    // Files are read by several threads at once (file i by reader i % readers); the error reported
    // is still that of the first bad file in input order, here found later in time than the
    // second one's, which fails on its first line right after a small file.
    let tmp = tempfile::tempdir().unwrap();
    let big = random_seq(400_000, 3, b"ACGT");
    let big_good = write_file(
        tmp.path(),
        "big.fa",
        fasta_text(&[("big", &big)], 60, "\n").as_bytes(),
    );
    let small_good = write_file(tmp.path(), "small.fa", b">s\nACGTACGTAC\n");
    let mut late = fasta_text(&[("a", &big[..200_000])], 60, "\n");
    late.push_str("ACGT!ACGT\n");
    let first = write_file(tmp.path(), "first-bad.fa", late.as_bytes());
    let second = write_file(tmp.path(), "second-bad.fa", b">b\nAC#GT\n");
    let err = expect_failure(
        tmp.path(),
        &["--fasta", &big_good, &small_good, &first, &second],
        &["first-bad.fa", "line 3336"],
    );
    assert!(!err.contains("second-bad.fa"), "{err}");
}

#[test]
fn test_record_with_no_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(
        tmp.path(),
        "hole.fa",
        b">a\nACGTACGT\n>b empty one\n>c\nACGTAC\n",
    );
    expect_failure(
        tmp.path(),
        &["--fasta", &f],
        &["hole.fa", "'b'", "line 3", "no sequence"],
    );
}

#[test]
fn test_all_n_record() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(
        tmp.path(),
        "gap.fa",
        b">a\nACGTACGT\n>gap\nNNNNNNNN\nnnnn\n",
    );
    expect_failure(
        tmp.path(),
        &["--fasta", &f],
        &["gap.fa", "'gap'", "12 bases", "all N"],
    );
}

#[test]
fn test_invalid_character_names_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "bad.fa", b">a\nACGT\nAC#T\n");
    expect_failure(tmp.path(), &["--fasta", &f], &["bad.fa", "line 3", "'#'"]);
}

#[test]
fn test_bad_k_and_stride() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "ok.fa", b">a\nACGTACGTACGTACGT\n");
    expect_failure(
        tmp.path(),
        &["--fasta", &f, "--k", "0"],
        &["k = 0", "1..=12"],
    );
    expect_failure(
        tmp.path(),
        &["--fasta", &f, "--k", "13"],
        &["k = 13", "1..=12"],
    );
    expect_failure(
        tmp.path(),
        &["--fasta", &f, "--k", "4", "--stride", "5"],
        &["stride = 5", "1..=k"],
    );
}

#[test]
fn test_unknown_config_key_names_key_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "ok.fa", b">a\nACGTACGTACGTACGT\n");
    let cfg = write_file(
        tmp.path(),
        "c.toml",
        format!("[inputs]\nfasta = [\"{f}\"]\n\n[tokenizer]\nk = 5\nkmer_size = 3\n").as_bytes(),
    );
    expect_failure(
        tmp.path(),
        &["--config", &cfg],
        &["c.toml", "line 6", "kmer_size"],
    );
    let o = run(&[
        "corpus",
        "build",
        "--config",
        &cfg,
        "--set",
        "tokenizer.bogus=1",
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
}

#[test]
fn test_unwritable_output_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "ok.fa", b">a\nACGTACGTACGTACGT\n");
    // A path under a regular file can never be created (even by root, unlike a chmod'ed directory).
    let blocker = write_file(tmp.path(), "blocker", b"x");
    let out = format!("{blocker}/corpus");
    let o = run(&["corpus", "build", "--fasta", &f, "--out", &out]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("blocker/corpus") && err.contains("cannot create output directory"),
        "{err}"
    );
}

#[test]
fn test_existing_output_is_kept_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "ok.fa", b">a\nACGTACGTACGTACGT\n");
    let out = tmp.path().join("c");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &f,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let o = run(&[
        "corpus",
        "build",
        "--fasta",
        &f,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    // A failing forced rebuild leaves the old corpus intact.
    let bad = write_file(tmp.path(), "bad.fa", b">a\nNNNN\n");
    let o = run(&[
        "corpus",
        "build",
        "--fasta",
        &bad,
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert!(!o.status.success());
    assert!(
        genolm::corpus::Corpus::open(&out).is_ok(),
        "old corpus still whole"
    );
}

#[test]
fn test_vocab_too_large_for_forced_u16() {
    let tmp = tempfile::tempdir().unwrap();
    // 2 Mbp of random sequence holds far more than 65,534 distinct 9-mers.
    let text = fasta_text(&[("r", &random_seq(2_000_000, 4, b"ACGT"))], 80, "\n");
    let f = write_file(tmp.path(), "big.fa", text.as_bytes());
    expect_failure(
        tmp.path(),
        &[
            "--fasta",
            &f,
            "--k",
            "9",
            "--stride",
            "1",
            "--token-width",
            "u16",
        ],
        &["does not fit", "u16"],
    );
    let out = tmp.path().join("auto");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &f,
        "--k",
        "9",
        "--stride",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        genolm::corpus::Corpus::open(&out)
            .unwrap()
            .manifest
            .tokenizer
            .token_dtype,
        "u32"
    );
}

#[test]
fn test_missing_input_file() {
    let tmp = tempfile::tempdir().unwrap();
    expect_failure(
        tmp.path(),
        &["--fasta", "/nonexistent/genome.fa"],
        &["/nonexistent/genome.fa", "No such file"],
    );
}

#[test]
fn test_bad_region_and_bed() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_file(tmp.path(), "g.fa", b">chr1\nACGTACGTACGT\n");
    let o = run(&["extract", "--fasta", &f, "--region", "chr1:10-5"]);
    assert!(
        !o.status.success() && stderr(&o).contains("end is before start"),
        "{}",
        stderr(&o)
    );
    let o = run(&["extract", "--fasta", &f, "--region", "chr2:1-5"]);
    assert!(
        !o.status.success() && stderr(&o).contains("'chr2' not found"),
        "{}",
        stderr(&o)
    );
    let o = run(&["extract", "--fasta", &f, "--region", "chr1:5-50"]);
    assert!(
        !o.status.success() && stderr(&o).contains("outside the sequence"),
        "{}",
        stderr(&o)
    );
    let bed = write_file(tmp.path(), "x.bed", b"chr1\t0\t4\tp\t0\t+\nchr1\tfive\t9\n");
    let o = run(&["extract", "--fasta", &f, "--bed", &bed]);
    assert!(
        !o.status.success() && stderr(&o).contains("x.bed: line 2"),
        "{}",
        stderr(&o)
    );
}

/// `genolm tokenize ... | head`: a reader that stops early ends the run quietly (SIGPIPE), as Unix
/// tools do, with no error message and no panic.
#[test]
fn test_closed_stdout_pipe_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let seqs: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| (format!("r{i}"), random_seq(200, i, b"ACGT")))
        .collect();
    let records: Vec<(&str, &[u8])> = seqs
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    let fa = tmp.path().join("many.fa");
    std::fs::write(&fa, fasta_text(&records, 60, "\n")).unwrap();
    let corpus = tmp.path().join("corpus");
    build_corpus(&fa, &corpus, 3, 1, &[]);
    let mut child = genolm()
        .args(["tokenize", "--tokenizer", corpus.to_str().unwrap()])
        .arg("--fasta")
        .arg(&fa)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then closed, as `head -c 100`
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.is_empty(), "nothing on stderr: {err}");
    assert!(
        o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        o.status
    );
}

#[test]
fn test_ctrl_c_during_a_build_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // 120 Mbp, so that the build is still at work when Ctrl-C arrives.
    let piece = random_seq(1_000_000, 11, b"ACGT");
    let names: Vec<String> = (0..120).map(|i| format!("r{i}")).collect();
    let records: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &piece[..])).collect();
    write_file(
        tmp.path(),
        "big.fa",
        fasta_text(&records, 1000, "\n").as_bytes(),
    );
    let out = tmp.path().join("out");
    let mut child = genolm()
        .args(["corpus", "build", "--quiet", "--fasta"])
        .arg(tmp.path().join("big.fa"))
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let staging = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("partial"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !staging() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build did not start"
        );
        assert!(child.try_wait().unwrap().is_none(), "the build ended early");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // SAFETY: sending SIGINT to our own child process, as Ctrl-C at a terminal would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        !err.contains("interrupted: interrupted"),
        "said once: {err}"
    );
    assert_only(tmp.path(), &["big.fa"]);
}

/// `genolm plot pretraining-curve` draws both images from good rows, and a malformed row is an
/// error naming the file and line that leaves no image behind.
#[test]
fn test_pretraining_curve_plot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let row = |task: &str, split: u32, cpu: f64, mcc: f64| {
        format!(
            "{{\"task\":\"{task}\",\"series\":\"3-mers\",\"split\":{split},\"pretrain_cpu_s\":{cpu},\
             \"mcc\":{mcc},\"naive_mcc\":0.7,\"extra\":1}}\n"
        )
    };
    let good: String = [
        row("cds", 1, 60.0, 0.8),
        row("cds", 2, 60.0, 0.82),
        row("cds", 1, 240.0, 0.9),
        row("81bp", 1, 60.0, 0.75),
    ]
    .concat();
    let results = write_file(tmp.path(), "results.jsonl", good.as_bytes());
    let png = format!("{dir}/curve.png");
    ok(&[
        "plot",
        "pretraining-curve",
        "--results",
        &results,
        "--out",
        &png,
    ]);
    for f in ["curve.png", "curve.svg"] {
        let len = std::fs::metadata(tmp.path().join(f)).unwrap().len();
        assert!(len > 1000, "{f}: {len} bytes");
    }
    let svg = std::fs::read_to_string(tmp.path().join("curve.svg")).unwrap();
    assert!(
        svg.contains("cds") && svg.contains("81bp"),
        "one panel per task"
    );

    let bad = format!(
        "{}{{\"task\":\"cds\",\"split\":3}}\n",
        row("cds", 1, 60.0, 0.8)
    );
    let results = write_file(tmp.path(), "bad.jsonl", bad.as_bytes());
    let out = format!("{dir}/bad/curve.png");
    let o = run(&[
        "plot",
        "pretraining-curve",
        "--results",
        &results,
        "--out",
        &out,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.jsonl, line 2"), "{err}");
    assert!(!tmp.path().join("bad/curve.png").exists());
}

/// A variant past its chromosome's end (a file of another genome build) stops `variants windows`
/// with the line that has it, as it stops `variants score`; near an end is only skipped.
#[test]
fn test_variant_beyond_the_chromosome_end() {
    let tmp = tempfile::tempdir().unwrap();
    let genome = write_file(
        tmp.path(),
        "g.fa",
        b">chr1\nACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n",
    );
    let windows = |name: &str, text: &str| {
        let variants = write_file(tmp.path(), name, text.as_bytes());
        let out = tmp.path().join(format!("{name}-out"));
        let o = run(&[
            "variants",
            "windows",
            "--variants",
            &variants,
            "--genome",
            &genome,
            "--flank",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        (o, out)
    };
    for (name, text, line) in [
        (
            "v.bed",
            "chr1\t9\t10\tx\t1\nchr1\t499\t500\ty\t0\n",
            "line 2: chr1 500",
        ),
        (
            "v.vcf",
            "#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\tx\tC\tA\nchr1\t41\ty\tA\tC\n",
            "line 3: chr1 41",
        ),
    ] {
        let (o, out) = windows(name, text);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(name) && err.contains(line), "{err}");
        assert!(
            err.contains("beyond the sequence's end (40 bases)"),
            "{err}"
        );
        for ext in ["tsv", "fa"] {
            let written = std::path::PathBuf::from(format!("{}.{ext}", out.display()));
            assert!(!written.exists(), "{} left behind", written.display());
        }
    }
    let (o, _) = windows("near.vcf", "#CHROM\tPOS\tID\tREF\tALT\nchr1\t39\tx\tG\tC\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["near_chromosome_end"], 1);
}
