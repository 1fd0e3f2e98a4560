//! `genolm corpus build` / `stats` / `tokenize` on generated genomes: counts, coordinates, formats.

mod common;

use common::*;
use std::path::Path;

use genolm::corpus::{Corpus, Split};
use genolm::tokenize::{hf, KmerSpec};

#[test]
fn test_doc_len_0_token_count_is_exact_per_record() {
    let tmp = tempfile::tempdir().unwrap();
    let lens = [5usize, 6, 1000, 4097, 12345];
    let seqs: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| random_seq(l, i as u64, b"ACGT"))
        .collect();
    let names: Vec<String> = (0..lens.len()).map(|i| format!("r{i}")).collect();
    let recs: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| n.as_str())
        .zip(seqs.iter().map(|s| s.as_slice()))
        .collect();
    let fa = write_file(tmp.path(), "g.fa", fasta_text(&recs, 61, "\n").as_bytes());
    for (k, stride) in [(5, 2), (3, 1), (5, 5), (1, 1), (12, 7)] {
        let out = tmp.path().join(format!("c{k}_{stride}"));
        ok(&[
            "corpus",
            "build",
            "--fasta",
            &fa,
            "--k",
            &k.to_string(),
            "--stride",
            &stride.to_string(),
            "--doc-len",
            "0",
            "--valid-frac",
            "0",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let corpus = Corpus::open(&out).unwrap();
        let expected: Vec<u64> = lens
            .iter()
            .filter(|&&l| l >= k)
            .map(|&l| ((l - k) / stride + 1) as u64)
            .collect();
        let got: Vec<u64> = corpus.documents.iter().map(|d| d.n_tokens as u64).collect();
        assert_eq!(got, expected, "k={k} stride={stride}");
    }
}

#[test]
fn test_tokens_map_back_to_genome_coordinates() {
    let tmp = tempfile::tempdir().unwrap();
    // Soft-masked, with short N runs (kept as unk) and one long run (splits the record).
    let mut seq = random_seq(30_000, 7, b"ACGTacgt");
    seq[100..103].copy_from_slice(b"NNN");
    for b in &mut seq[20_000..20_050] {
        *b = b'N';
    }
    let fa = write_file(
        tmp.path(),
        "g.fa",
        fasta_text(&[("chrA", &seq)], 70, "\r\n").as_bytes(),
    );
    let out = tmp.path().join("c");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &fa,
        "--k",
        "6",
        "--stride",
        "3",
        "--doc-len",
        "1000",
        "--n-run-split",
        "20",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let corpus = Corpus::open(&out).unwrap();
    let tok = hf::load(&out).unwrap();
    let upper = seq.to_ascii_uppercase();
    let mut covered = 0u64;
    for doc in &corpus.documents {
        let ids = corpus.document_tokens(doc);
        for (j, &id) in ids.iter().enumerate() {
            let s = doc.start as usize + j * 3;
            let kmer = std::str::from_utf8(&upper[s..s + 6]).unwrap();
            let expected = if kmer.contains('N') { "<unk>" } else { kmer };
            assert_eq!(
                tok.token(id).unwrap(),
                expected,
                "doc at {} token {j}",
                doc.start
            );
        }
        assert!(
            doc.start + doc.n_bases as u64 <= 20_000 || doc.start >= 20_050,
            "no doc spans the N run"
        );
        covered += doc.n_bases as u64;
    }
    assert_eq!(
        covered,
        30_000 - 50,
        "every base outside the long N run is in a document"
    );
    assert!(
        corpus.documents.iter().any(|d| d.start == 20_050),
        "a document starts right after the run"
    );
}

#[test]
fn test_plain_gzip_bgzf_and_genbank_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(200_000, 11, b"ACGT");
    let text = fasta_text(&[("x", &seq)], 80, "\n");
    let plain = write_file(tmp.path(), "g.fa", text.as_bytes());
    let gz = write_file(tmp.path(), "g.fa.gz", &gzip(text.as_bytes()));
    // bgzf: 4 blocks, inflated on several threads and read back in order.
    let bgz = write_file(tmp.path(), "g.fa.bgz", &bgzf(text.as_bytes()));
    let mut gb = String::from("LOCUS       x                     200000 bp    DNA     linear   BCT 01-JAN-2000\nFEATURES             Location/Qualifiers\n     source          1..200000\nORIGIN\n");
    for (i, chunk) in seq.chunks(60).enumerate() {
        let groups: Vec<String> = chunk
            .chunks(10)
            .map(|g| String::from_utf8_lossy(g).to_lowercase())
            .collect();
        gb.push_str(&format!("{:>9} {}\n", i * 60 + 1, groups.join(" ")));
    }
    gb.push_str("//\n");
    let gbk = write_file(tmp.path(), "g.gbk", gb.as_bytes());
    let mut all = Vec::new();
    let inputs = [
        ("--fasta", &plain),
        ("--fasta", &gz),
        ("--fasta", &bgz),
        ("--genbank", &gbk),
    ];
    for (flag, path) in inputs {
        let out = tmp.path().join(format!("c{}", all.len()));
        ok(&[
            "corpus",
            "build",
            flag,
            path,
            "--doc-len",
            "500",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let c = Corpus::open(&out).unwrap();
        all.push((0..c.n_tokens()).map(|i| c.token(i)).collect::<Vec<u32>>());
    }
    assert_eq!(all[0], all[1], "gzip");
    assert_eq!(all[0], all[2], "bgzf");
    assert_eq!(all[0], all[3], "genbank");

    // All four in one corpus: each source's recorded SHA-256 is that of its file's bytes (they are
    // hashed on a thread of their own, beside the parsing).
    let out = tmp.path().join("all");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &plain,
        &gz,
        &bgz,
        "--genbank",
        &gbk,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let sources = Corpus::open(&out).unwrap().manifest.sources;
    let digests: Vec<String> = sources.iter().map(|s| s.sha256.clone()).collect();
    let expected: Vec<String> = [&plain, &gz, &bgz, &gbk]
        .iter()
        .map(|p| sha256_hex(&std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(digests, expected);
}

#[test]
fn test_records_split_across_files_give_the_corpus_of_one_file() {
    // Several files are read by several threads at once and tokenized in input order: the corpus
    // is that of one file holding the same records (the same tokens and document index, records
    // numbered across files), whatever file finishes first. Files of very different sizes, gzip
    // and plain, some with several records, with N runs and lowercase.
    let tmp = tempfile::tempdir().unwrap();
    let sizes: [&[usize]; 5] = [
        &[300_000],
        &[2_000, 50],
        &[120_000, 7_000, 90_000],
        &[30],
        &[60_000],
    ];
    let mut all_text = String::new();
    let mut files = Vec::new();
    for (i, lens) in sizes.iter().enumerate() {
        let seqs: Vec<(String, Vec<u8>)> = lens
            .iter()
            .enumerate()
            .map(|(j, &l)| {
                (
                    format!("f{i}r{j}"),
                    random_seq(l, (10 * i + j) as u64, b"ACGTacgtNNN"),
                )
            })
            .collect();
        let recs: Vec<(&str, &[u8])> = seqs
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        let text = fasta_text(&recs, 60, "\n");
        all_text.push_str(&text);
        files.push(match i % 2 {
            0 => write_file(tmp.path(), &format!("f{i}.fa"), text.as_bytes()),
            _ => write_file(tmp.path(), &format!("f{i}.fa.gz"), &gzip(text.as_bytes())),
        });
    }
    let one = write_file(tmp.path(), "all.fa", all_text.as_bytes());
    let build = |name: &str, inputs: &[String]| {
        let out = tmp.path().join(name);
        let mut args = vec![
            "corpus",
            "build",
            "--k",
            "4",
            "--stride",
            "2",
            "--doc-len",
            "5000",
        ];
        args.push("--fasta");
        args.extend(inputs.iter().map(String::as_str));
        args.extend([
            "--n-run-split",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        ok(&args);
        out
    };
    let (many, single) = (build("many", &files), build("one", &[one]));
    for file in ["tokens.bin", "documents.bin", "tokenizer.json"] {
        let read = |dir: &std::path::Path| std::fs::read(dir.join(file)).unwrap();
        assert!(read(&many) == read(&single), "{file} differs");
    }
    let corpus = Corpus::open(&many).unwrap();
    let per_file: Vec<u64> = corpus.manifest.sources.iter().map(|s| s.records).collect();
    assert_eq!(per_file, [1, 2, 3, 1, 1]);
    assert!(corpus
        .manifest
        .sources
        .iter()
        .all(|s| s.unk_tokens > 0 || s.bp < 100));
}

/// SHA-256 of bytes, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    genolm::genome::open::hex(&sha2::Sha256::digest(bytes))
}

#[test]
fn test_a_pipe_builds_the_same_corpus_as_the_file() {
    // `--fasta /dev/stdin` (or `<(zcat ...)`): a pipe can be read once only, so its format is
    // checked on the stream the reader reads, and its SHA-256 is of the bytes that came through.
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(40_000, 21, b"ACGTacgtN");
    let text = fasta_text(&[("p", &seq)], 70, "\n");
    let plain = write_file(tmp.path(), "g.fa", text.as_bytes());
    let from_file = tmp.path().join("file");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &plain,
        "--out",
        from_file.to_str().unwrap(),
        "--quiet",
    ]);
    for (name, bytes, flag) in [
        ("fasta", text.as_bytes().to_vec(), "--fasta"),
        ("gzip", gzip(text.as_bytes()), "--fasta"),
        ("mismatch", text.as_bytes().to_vec(), "--genbank"),
    ] {
        let out = tmp.path().join(name);
        let mut child = genolm()
            .args(["corpus", "build", flag, "/dev/stdin", "--quiet", "--out"])
            .arg(&out)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader may stop early (the mismatch): a broken pipe then is expected.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes);
        let o = child.wait_with_output().unwrap();
        if name == "mismatch" {
            let err = stderr(&o);
            assert!(
                !o.status.success() && err.contains("given as genbank"),
                "{err}"
            );
            assert!(!out.exists());
            continue;
        }
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let (a, b) = (
            Corpus::open(&from_file).unwrap(),
            Corpus::open(&out).unwrap(),
        );
        let tokens = |c: &Corpus| (0..c.n_tokens()).map(|i| c.token(i)).collect::<Vec<u32>>();
        assert_eq!(tokens(&a), tokens(&b), "{name}");
        assert_eq!(b.manifest.sources[0].sha256, sha256_hex(&bytes), "{name}");
    }
}

#[test]
fn test_split_is_by_document_and_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(200_000, 3, b"ACGT");
    let fa = write_file(
        tmp.path(),
        "g.fa",
        fasta_text(&[("x", &seq)], 80, "\n").as_bytes(),
    );
    let build = |name: &str, seed: &str| {
        let out = tmp.path().join(name);
        ok(&[
            "corpus",
            "build",
            "--fasta",
            &fa,
            "--doc-len",
            "1000",
            "--valid-frac",
            "0.2",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        Corpus::open(&out).unwrap()
    };
    let (a, b, c) = (build("a", "1"), build("b", "1"), build("c", "2"));
    let valid = |c: &Corpus| {
        c.documents
            .iter()
            .map(|d| d.split == Split::Valid)
            .collect::<Vec<bool>>()
    };
    assert_eq!(valid(&a), valid(&b));
    assert_ne!(valid(&a), valid(&c));
    assert_eq!(
        valid(&a).iter().filter(|&&v| v).count(),
        40,
        "round(0.2 * 200 documents)"
    );
    assert_eq!(a.manifest.counts.valid_documents, 40);
    // One record, one document per record: nothing can be held out, and the build says so.
    let out = tmp.path().join("one-doc");
    let o = run(&[
        "corpus",
        "build",
        "--fasta",
        &fa,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["valid_documents"], 0, "{summary}");
    let err = stderr(&o);
    assert!(
        err.contains("no validation split") && err.contains("--doc-len"),
        "{err}"
    );
    // With documents cut from the record, no warning.
    let o = run(&[
        "corpus",
        "build",
        "--fasta",
        &fa,
        "--doc-len",
        "1000",
        "--out",
        tmp.path().join("cut").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success() && !stderr(&o).contains("no validation split"));
}

#[test]
fn test_json_summary_and_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(20_000, 5, b"ACGTN");
    let fa = write_file(
        tmp.path(),
        "g.fa",
        fasta_text(&[("x", &seq)], 80, "\n").as_bytes(),
    );
    let out = tmp.path().join("c");
    let line = ok(&[
        "corpus",
        "build",
        "--fasta",
        &fa,
        "--k",
        "4",
        "--stride",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    for key in ["documents", "tokens", "bp", "vocab_size", "seconds"] {
        assert!(v.get(key).is_some(), "missing {key} in {line}");
    }
    assert_eq!(v["bp"], 20_000);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["corpus", "stats", out.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(stats["tokens"], v["tokens"]);
    let unk = stats["unk_fraction"].as_f64().unwrap();
    // With N at 1/5 of positions, a 4-mer is clean with probability (4/5)^4.
    assert!(
        (unk - (1.0 - 0.8f64.powi(4))).abs() < 0.03,
        "unk fraction {unk}"
    );
    let text = ok(&["corpus", "stats", out.to_str().unwrap()]);
    assert!(text.contains("g.fa") && text.contains("unk"), "{text}");
}

#[test]
fn test_tokenize_command_matches_corpus_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(5_000, 9, b"ACGT");
    let fa = write_file(
        tmp.path(),
        "g.fa",
        fasta_text(&[("x", &seq)], 80, "\n").as_bytes(),
    );
    let out = tmp.path().join("c");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &fa,
        "--doc-len",
        "0",
        "--valid-frac",
        "0",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let corpus = Corpus::open(&out).unwrap();
    let expected: Vec<String> = (0..corpus.n_tokens())
        .map(|i| corpus.token(i).to_string())
        .collect();
    let text = ok(&[
        "tokenize",
        "--tokenizer",
        out.to_str().unwrap(),
        "--fasta",
        &fa,
    ]);
    assert_eq!(text.trim_end(), format!("x\t{}", expected.join(" ")));
    let lower = String::from_utf8(seq[..11].to_ascii_lowercase()).unwrap();
    let json = ok(&[
        "tokenize",
        "--tokenizer",
        &out.join("tokenizer.json").display().to_string(),
        "--seq",
        &lower,
        "--json",
        "--kmers",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        v["ids"].as_array().unwrap().len(),
        KmerSpec::new(5, 2).unwrap().n_tokens(11)
    );
    assert_eq!(v["kmers"][0], String::from_utf8(seq[..5].to_vec()).unwrap());
}

#[test]
fn test_reusing_a_tokenizer_keeps_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_file(
        tmp.path(),
        "a.fa",
        fasta_text(&[("a", &random_seq(30_000, 1, b"AAACGT"))], 80, "\n").as_bytes(),
    );
    let b = write_file(
        tmp.path(),
        "b.fa",
        fasta_text(&[("b", &random_seq(30_000, 2, b"ACGTTT"))], 80, "\n").as_bytes(),
    );
    let ca = tmp.path().join("ca");
    let cb = tmp.path().join("cb");
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &a,
        "--out",
        ca.to_str().unwrap(),
        "--quiet",
    ]);
    let o = run(&[
        "corpus",
        "build",
        "--fasta",
        &b,
        "--tokenizer",
        ca.to_str().unwrap(),
        "--k",
        "3",
        "--out",
        cb.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("contradicts"),
        "{}",
        stderr(&o)
    );
    ok(&[
        "corpus",
        "build",
        "--fasta",
        &b,
        "--tokenizer",
        ca.to_str().unwrap(),
        "--k",
        "5",
        "--out",
        cb.to_str().unwrap(),
        "--quiet",
    ]);
    let (ta, tb) = (hf::load(&ca).unwrap(), hf::load(&cb).unwrap());
    assert_eq!(
        ta.tokens(),
        tb.tokens(),
        "the reused vocabulary, not one rebuilt from b"
    );
    assert_eq!(
        Corpus::open(&cb).unwrap().manifest.tokenizer.k,
        5,
        "k comes from the tokenizer"
    );
}

#[test]
fn test_lm_streams_cover_the_train_split_in_parallel_streams() {
    use genolm::corpus::lm::LmStreams;
    let tmp = tempfile::tempdir().unwrap();
    let seq = random_seq(60_000, 31, b"ACGT");
    let fa = tmp.path().join("g.fa");
    std::fs::write(&fa, fasta_text(&[("x", &seq)], 80, "\n")).unwrap();
    let out = tmp.path().join("c");
    build_corpus(
        &fa,
        &out,
        3,
        1,
        &["--doc-len", "1000", "--valid-frac", "0.1"],
    );
    let corpus = Corpus::open(&out).unwrap();
    let bs = 8;
    let mut train = LmStreams::new(&corpus, Some(Split::Train), bs, 20, 7).unwrap();
    let total = train.total_tokens() as usize;
    let stream_len = total / bs;
    // Rebuild each stream from the batches: y is x shifted by one, windows are contiguous, and the
    // windows of one stream tile it exactly.
    let mut streams: Vec<Vec<i64>> = vec![Vec::new(); bs];
    let mut last_y: Vec<Option<i64>> = vec![None; bs];
    let mut lens = Vec::new();
    while let Some(b) = train.next_batch().unwrap() {
        lens.push(b.seq_len);
        for (s, (stream, last)) in streams.iter_mut().zip(last_y.iter_mut()).enumerate() {
            let row_x = &b.x[s * b.seq_len..(s + 1) * b.seq_len];
            let row_y = &b.y[s * b.seq_len..(s + 1) * b.seq_len];
            assert_eq!(&row_x[1..], &row_y[..b.seq_len - 1]);
            if let Some(prev) = *last {
                assert_eq!(
                    row_x[0], prev,
                    "the next window continues where the last one's targets ended"
                );
            }
            *last = row_y.last().copied();
            stream.extend_from_slice(row_x);
        }
    }
    assert!(
        streams.iter().all(|s| s.len() == stream_len - 1),
        "each stream read to its end"
    );
    assert!(
        lens.iter().any(|&l| l != 20),
        "training windows vary in length"
    );
    assert!(lens.iter().all(|&l| l >= 5));
    // The same epoch again gives the same batches; another epoch shuffles documents.
    let first = |s: &mut LmStreams, e| {
        s.start_epoch(e);
        s.next_batch().unwrap().unwrap()
    };
    assert_eq!(first(&mut train, 0), first(&mut train, 0));
    assert_ne!(first(&mut train, 0).x, first(&mut train, 1).x);
    // Skipping reproduces the position.
    train.start_epoch(2);
    let mut a = Vec::new();
    for _ in 0..5 {
        a.push(train.next_batch().unwrap().unwrap());
    }
    train.start_epoch(2);
    train.skip(3);
    assert_eq!(train.next_batch().unwrap().unwrap(), a[3]);
    // Validation: documents in order, fixed windows; tokens equal the file's.
    let mut valid = LmStreams::new(&corpus, Some(Split::Valid), 2, 10, 7).unwrap();
    let b = valid.next_batch().unwrap().unwrap();
    assert_eq!(b.seq_len, 10);
    let first_valid = corpus
        .documents
        .iter()
        .find(|d| d.split == Split::Valid)
        .unwrap();
    let expected: Vec<i64> = corpus.document_tokens(first_valid)[..10]
        .iter()
        .map(|&t| t as i64)
        .collect();
    assert_eq!(&b.x[..10], &expected[..]);
    // Backwards: the same tokens, read from the last valid document's end.
    let mut back = LmStreams::new(&corpus, Some(Split::Valid), 1, 10, 7)
        .unwrap()
        .backwards(true);
    let last_valid = corpus
        .documents
        .iter()
        .rfind(|d| d.split == Split::Valid)
        .unwrap();
    let tail: Vec<i64> = corpus
        .document_tokens(last_valid)
        .iter()
        .rev()
        .take(11)
        .map(|&t| t as i64)
        .collect();
    let b = back.next_batch().unwrap().unwrap();
    assert_eq!(b.x, tail[..10], "x: the last tokens, last first");
    assert_eq!(b.y, tail[1..], "y: the token before each");
    let mut fwd = LmStreams::new(&corpus, Some(Split::Valid), 1, 10, 7).unwrap();
    let mut back = LmStreams::new(&corpus, Some(Split::Valid), 1, 10, 7)
        .unwrap()
        .backwards(true);
    let read_all = |s: &mut LmStreams| {
        let mut all = Vec::new();
        while let Some(b) = s.next_batch().unwrap() {
            all.extend(b.x);
        }
        all
    };
    let (f, mut bk) = (read_all(&mut fwd), read_all(&mut back));
    bk.reverse();
    assert_eq!(f.len(), bk.len());
    assert_eq!(f[1..], bk[..bk.len() - 1], "one stream, read in reverse");
}

/// kill -9 at moments spread over a rebuild (`--force`) of chr20's corpus: the output is always
/// the earlier, whole corpus, and the next complete run leaves nothing beside it.
#[test]
fn test_killed_rebuilds_never_leave_a_partial_corpus() {
    let Some(data) = shared_data() else { return };
    let fasta = data.join("human_grch37_chr20/20.fa.gz");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    let args = |out: &Path| {
        let mut c = genolm();
        c.args(["corpus", "build", "--fasta"])
            .arg(&fasta)
            .args([
                "--k",
                "6",
                "--stride",
                "2",
                "--doc-len",
                "10000",
                "--force",
                "--quiet",
            ])
            .arg("--out")
            .arg(out);
        c
    };
    assert!(args(&out).status().unwrap().success());
    let tokens = std::fs::read(out.join("tokens.bin")).unwrap();
    for ms in [0u64, 3, 10, 25, 50, 80, 120] {
        let mut child = args(&out).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = std::fs::read(out.join("tokens.bin")).unwrap();
        assert!(now == tokens, "killed after {ms} ms: tokens.bin changed");
        Corpus::open(&out).unwrap();
    }
    assert!(args(&out).status().unwrap().success());
    assert_only(tmp.path(), &["c"]);
}
