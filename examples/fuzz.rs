//! A stable-toolchain fuzzer for genolm's parsers of user files (issue #24): each target's seed
//! inputs (built in, plus `tests/fuzz/<target>/*`) are mutated at random (bit flips, special bytes,
//! inserted, deleted, duplicated and spliced ranges, truncation) and fed to the parser; a panic is
//! a crash, an input that runs over `--timeout-ms` a hang. Both are saved to `tests/fuzz/crashes/`
//! and stop nothing else. Errors are the expected outcome of bad input and count as passes.
//!
//!   cargo run --release --example fuzz -- [--inputs N] [--target NAME] [--seed S]
//!
//! Prints, per target, inputs run, distinct error messages seen, crashes and hangs; exits 1 if any.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use genolm::genome::{RecordStream, Result as GenomeResult};
use genolm::rng::SplitMix64;

/// Runs the parser on one input: true if it was accepted, false if refused with an error.
type Target = fn(&[u8], &Path) -> bool;

const FASTA: &str = ">chr1 first\nACGTNNacgtRYKM\nACGT\n>chr2\n\nGGGG\n>x y z\nACGT\r\nTTGA\n";
const FASTA_BAD: &str = ">empty\n>x\nAC GT\n";
const GENBANK: &str = r#"LOCUS       TEST 20 bp DNA linear BCT 01-JAN-2000
DEFINITION  test.
ACCESSION   TEST
FEATURES             Location/Qualifiers
     gene            1..10
                     /gene="abc"
     CDS             complement(join(2..5,8..12))
ORIGIN
        1 acgtacgtac gtacgtacgt
//
"#;
const BED: &str = "chr1\t10\t20\tname\t0.5\t+\nchr2\t0\t5\nchr1\t100\t200\tx\t1\t-\n";
const BED_HEADERS: &str = "# comment\ntrack name=x\nbrowser position chr1\nchr1\t1\t2\n";
const VCF: &str = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n\
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\
chr1\t10\trs1\tA\tG\t.\tPASS\t.\nchr1\t20\t.\tAC\tA,ACC\t50\t.\tDP=3\n\
chr1\t30\t.\tN\t<DEL>\t.\t.\t.\nchr1\t40\t.\tG\tG]chr1:5]\t.\t.\t.\n";
const REGION: &str = "chr1:1,000-2,000:-";
const MEME: &str = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n\
Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n\
MOTIF m1 TATAAT\nletter-probability matrix: alength= 4 w= 2 nsites= 3 E= 0\n\
 0.1 0.2 0.3 0.4\n 0.25 0.25 0.25 0.25\n\n";
const CORPUS_TOML: &str = "[tokenizer]\nk = 5\nstride = 2\n\n[[inputs]]\npath = \"a.fa\"\n\n\
[split]\nvalid_frac = 0.1\nseed = 1\n";

fn drain(stream: &mut dyn RecordStream) -> GenomeResult<()> {
    let mut buf = Vec::new();
    while stream.next_record()?.is_some() {
        while {
            buf.clear();
            stream.read_bases(&mut buf, 1 << 16)? > 0
        } {}
    }
    Ok(())
}

fn fasta(b: &[u8], _: &Path) -> bool {
    drain(&mut genolm::genome::fasta::FastaStream::new(
        Cursor::new(b.to_vec()),
        "fuzz.fa",
    ))
    .is_ok()
}

fn genbank(b: &[u8], _: &Path) -> bool {
    drain(&mut genolm::genome::genbank::GenBankStream::new(
        Cursor::new(b.to_vec()),
        "fuzz.gb",
    ))
    .is_ok()
}

fn genbank_features(b: &[u8], scratch: &Path) -> bool {
    let path = scratch.join("fuzz.gb");
    std::fs::write(&path, b).expect("scratch file");
    genolm::genome::genbank::read_annotated(&path, &["gene", "CDS"]).is_ok()
}

fn bed(b: &[u8], _: &Path) -> bool {
    let text = String::from_utf8_lossy(b);
    let mut ok = true;
    for (n, line) in text.lines().enumerate() {
        ok &= genolm::genome::bed::parse_bed_line(
            Path::new("fuzz.bed"),
            n as u64 + 1,
            line,
            Default::default(),
        )
        .is_ok();
    }
    ok
}

fn region(b: &[u8], _: &Path) -> bool {
    let text = String::from_utf8_lossy(b);
    let mut ok = true;
    for line in text.lines().take(64) {
        match genolm::genome::region::Region::from_str(line) {
            Ok(r) => {
                let _ = r.to_interval(1_000_000);
            }
            Err(_) => ok = false,
        }
    }
    ok
}

fn vcf(b: &[u8], scratch: &Path) -> bool {
    let path = scratch.join("fuzz.vcf");
    std::fs::write(&path, b).expect("scratch file");
    match genolm::variants::VcfReader::open(&path) {
        Ok(reader) => reader.take(10_000).all(|v| v.is_ok()),
        Err(_) => false,
    }
}

fn meme(b: &[u8], _: &Path) -> bool {
    match genolm::motif::parse_meme(&String::from_utf8_lossy(b), Path::new("fuzz.meme")) {
        Ok(motifs) => {
            for m in &motifs {
                let _ = (m.consensus(), m.information(), m.trimmed(0.25));
                let _ = genolm::motif::similarity(m, &motifs[0]);
            }
            true
        }
        Err(_) => false,
    }
}

fn corpus_toml(b: &[u8], scratch: &Path) -> bool {
    let path = scratch.join("fuzz.toml");
    std::fs::write(&path, b).expect("scratch file");
    genolm::config::load::<genolm::corpus::CorpusConfig>(Some(&path), &[]).is_ok()
}

fn tokenizer(b: &[u8], scratch: &Path) -> bool {
    let dir = scratch.join("tok");
    if !dir.is_dir() {
        // A valid tokenizer_config.json (k, stride) beside the fuzzed tokenizer.json.
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let tok = genolm::tokenize::KmerTokenizer::complete(
            genolm::tokenize::KmerSpec::new(3, 1).expect("3-mers"),
        );
        genolm::tokenize::hf::save(&tok, &dir).expect("tokenizer files");
    }
    std::fs::write(dir.join("tokenizer.json"), b).expect("scratch file");
    match genolm::tokenize::hf::load(&dir) {
        Ok(tok) => {
            let _ = tok.encode(b"ACGTACGTNNACGT");
            true
        }
        Err(_) => false,
    }
}

fn targets() -> Vec<(&'static str, Target, Vec<Vec<u8>>)> {
    let tok = genolm::tokenize::KmerTokenizer::complete(
        genolm::tokenize::KmerSpec::new(3, 1).expect("3-mers"),
    );
    vec![
        (
            "fasta",
            fasta as Target,
            vec![FASTA.into(), FASTA_BAD.into()],
        ),
        ("genbank", genbank, vec![GENBANK.into()]),
        ("genbank-features", genbank_features, vec![GENBANK.into()]),
        ("bed", bed, vec![BED.into(), BED_HEADERS.into()]),
        (
            "region",
            region,
            vec![REGION.into(), b"chrX:5-6\nchr1\nchr2:7:+".to_vec()],
        ),
        ("vcf", vcf, vec![VCF.into()]),
        ("meme", meme, vec![MEME.into()]),
        ("corpus-toml", corpus_toml, vec![CORPUS_TOML.into()]),
        (
            "tokenizer-json",
            tokenizer,
            vec![genolm::tokenize::hf::tokenizer_json(&tok).into_bytes()],
        ),
    ]
}

const SPECIAL: &[u8] = b"\0\xff\n\r\t >@:-+,.=;/#\"'[]{}09NnACGTacgt";

/// One random edit of `b` (never longer than 64 KiB).
fn mutate(b: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut SplitMix64) {
    let pick = |rng: &mut SplitMix64, n: usize| rng.below(n.max(1) as u64) as usize;
    match rng.below(8) {
        0 if !b.is_empty() => {
            let i = pick(rng, b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 if !b.is_empty() => {
            let i = pick(rng, b.len());
            b[i] = SPECIAL[pick(rng, SPECIAL.len())];
        }
        2 => {
            let i = pick(rng, b.len() + 1);
            let n = 1 + pick(rng, 8);
            for _ in 0..n {
                b.insert(i.min(b.len()), rng.below(256) as u8);
            }
        }
        3 if !b.is_empty() => {
            let i = pick(rng, b.len());
            let n = 1 + pick(rng, 16);
            b.drain(i..(i + n).min(b.len()));
        }
        4 if !b.is_empty() => {
            let i = pick(rng, b.len());
            let n = 1 + pick(rng, 64.min(b.len() - i));
            let part: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
            let at = pick(rng, b.len() + 1);
            b.splice(
                at..at,
                part.iter()
                    .copied()
                    .cycle()
                    .take(part.len() * (1 + pick(rng, 4))),
            );
        }
        5 => {
            let other = &seeds[pick(rng, seeds.len())];
            if !other.is_empty() {
                let i = pick(rng, other.len());
                let n = 1 + pick(rng, other.len() - i);
                let at = pick(rng, b.len() + 1);
                b.splice(at..at, other[i..i + n].iter().copied());
            }
        }
        6 if !b.is_empty() => b.truncate(pick(rng, b.len())),
        _ => {
            let i = pick(rng, b.len() + 1);
            b.insert(i.min(b.len()), SPECIAL[pick(rng, SPECIAL.len())]);
        }
    }
    b.truncate(64 << 10);
}

fn seeds_of(name: &str, builtin: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(name);
    let mut seeds = builtin;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        seeds.extend(files.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    seeds
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let inputs: u64 = arg("--inputs").map_or(100_000, |v| v.parse().expect("--inputs N"));
    let seed: u64 = arg("--seed").map_or(1, |v| v.parse().expect("--seed S"));
    let timeout =
        Duration::from_millis(arg("--timeout-ms").map_or(2_000, |v| v.parse().expect("ms")));
    let only = arg("--target");
    let crashes_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/crashes");
    let scratch = tempfile::tempdir().expect("scratch dir");
    std::panic::set_hook(Box::new(|_| {}));
    // Watchdog: an input running past the timeout is a hang; it is saved by the main loop's
    // record of the current input and the process stops.
    let started_ms = Arc::new(AtomicU64::new(u64::MAX));
    let current: Arc<std::sync::Mutex<(String, Vec<u8>)>> = Arc::default();
    let clock = Instant::now();
    {
        let (started_ms, current, crashes_dir) = (
            Arc::clone(&started_ms),
            Arc::clone(&current),
            crashes_dir.clone(),
        );
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let s = started_ms.load(Ordering::Relaxed);
            if s != u64::MAX && clock.elapsed().as_millis() as u64 > s + timeout.as_millis() as u64
            {
                let (name, input) = current.lock().map(|c| c.clone()).unwrap_or_default();
                let _ = std::fs::create_dir_all(&crashes_dir);
                let path = crashes_dir.join(format!("{name}-hang.bin"));
                let _ = std::fs::write(&path, input);
                eprintln!("HANG in {name}: input saved to {}", path.display());
                std::process::exit(2);
            }
        });
    }
    let mut failed = false;
    for (name, target, builtin) in targets() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let seeds = seeds_of(name, builtin);
        let valid = seeds.iter().filter(|b| target(b, scratch.path())).count();
        println!(
            "{name}: {valid} of {} seeds accepted as they are",
            seeds.len()
        );
        let mut rng = SplitMix64::new(seed ^ name.len() as u64);
        let (mut crashes, mut accepted, t0) = (0u64, 0u64, Instant::now());
        let mut messages = std::collections::BTreeSet::new();
        for i in 0..inputs {
            let mut b = seeds[rng.below(seeds.len() as u64) as usize].clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut b, &seeds, &mut rng);
            }
            if let Ok(mut c) = current.lock() {
                *c = (name.to_string(), b.clone());
            }
            started_ms.store(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                target(&b, scratch.path())
            }));
            started_ms.store(u64::MAX, Ordering::Relaxed);
            accepted += u64::from(matches!(r, Ok(true)));
            if let Err(p) = r {
                crashes += 1;
                let text = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if messages.insert(text.clone()) {
                    std::fs::create_dir_all(&crashes_dir).expect("crashes dir");
                    let path = crashes_dir.join(format!("{name}-{i}.bin"));
                    std::fs::write(&path, &b).expect("save crash");
                    eprintln!(
                        "CRASH in {name} (input {i}): {text}; saved to {}",
                        path.display()
                    );
                }
            }
        }
        failed |= crashes > 0;
        println!(
            "{name}: {inputs} inputs in {:.1} s ({accepted} accepted, {} refused with an error), \
             {crashes} crashes ({} distinct), 0 hangs (timeout {} ms)",
            t0.elapsed().as_secs_f64(),
            inputs - accepted - crashes,
            messages.len(),
            timeout.as_millis()
        );
    }
    std::process::exit(i32::from(failed));
}
