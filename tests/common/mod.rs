//! Helpers shared by the integration tests: the real binary, generated data, and ../shared/data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use genolm::rng::SplitMix64;

pub fn genolm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_genolm"))
}

/// Runs genolm with args; returns the output.
pub fn run(args: &[&str]) -> Output {
    genolm().args(args).output().expect("genolm runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "genolm {args:?} failed:\n{}",
        stderr(&o)
    );
    stdout(&o)
}

/// `genolm corpus build --fasta FASTA --k K --stride S [EXTRA...] --out OUT --quiet`, which must succeed.
pub fn build_corpus(fasta: &Path, out: &Path, k: usize, stride: usize, extra: &[&str]) {
    let (k, stride) = (k.to_string(), stride.to_string());
    let mut args = vec![
        "corpus",
        "build",
        "--fasta",
        fasta.to_str().unwrap(),
        "--k",
        &k,
        "--stride",
        &stride,
    ];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    ok(&args);
}

/// Writes `bytes` to `dir/name`; returns the path as a string (for command-line arguments).
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// Random bases from `alphabet`, reproducible from the seed.
pub fn random_seq(len: usize, seed: u64, alphabet: &[u8]) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
        .collect()
}

/// FASTA text with lines wrapped at `width`, with the given line ending.
pub fn fasta_text(records: &[(&str, &[u8])], width: usize, eol: &str) -> String {
    let mut s = String::new();
    for (name, seq) in records {
        s.push_str(&format!(">{name} generated{eol}"));
        for line in seq.chunks(width) {
            s.push_str(std::str::from_utf8(line).unwrap());
            s.push_str(eol);
        }
    }
    s
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// bgzf (blocks of at most 64 kB, as `bgzip` writes), ending with the empty EOF block.
pub fn bgzf(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut w = noodles::bgzf::io::Writer::new(Vec::new());
    w.write_all(bytes).unwrap();
    w.finish().unwrap()
}

/// Nothing under `dir` but the listed names (no half-written output, no staging leftovers).
pub fn assert_only(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "unexpected files in {}", dir.display());
}

mod skip;
pub use skip::missing;

/// `../shared/data`, or None after a SKIPPED line where it is missing (a failure in CI, which must
/// have it).
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    missing(
        &dir.display().to_string(),
        "the project's shared real data, present in CI",
    );
    None
}
