//! Fuzzes genolm's parsers of user files (issue #24) with the engine of `genolm::fuzz`: FASTA,
//! GenBank, BED, region strings, VCF, MEME, corpus TOML, tokenizer.json and whole corpus
//! directories.
//!
//!   cargo run --release --example fuzz -- [--inputs N] [--target NAME] [--seed S]
//!
//! Prints, per target, inputs run, distinct error messages seen, crashes and hangs; exits 1 if any.

use std::io::Cursor;
use std::path::Path;
use std::str::FromStr;

use genolm::fuzz::Target;
use genolm::genome::{RecordStream, Result as GenomeResult};

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
const CORPUS_TOML: &str = "[tokenizer]\nk = 5\nstride = 2\nmin_freq = 1\n\n[inputs]\n\
fasta = [\"a.fa\"]\ngenbank = [\"b.gbk.gz\"]\n\n[documents]\ndoc_len = 1000\nn_run_split = 10\n\n\
[split]\nvalid_frac = 0.1\nseed = 1\n\n[output]\ndir = \"out/c\"\n";

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

const CORPUS_FILES: &[&str] = &[
    "corpus.toml",
    "documents.bin",
    "tokens.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "records.tsv",
];

/// A small valid corpus (3-mers, stride 2, 4 documents) built into `dir`.
fn build_small_corpus(dir: &Path) {
    let scratch = dir.with_extension("input");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let fasta = scratch.join("g.fa");
    let seq: String = (0..2400)
        .map(|i| b"ACGTTGCA"[(i * 7 + i / 5) % 8] as char)
        .collect();
    std::fs::write(&fasta, format!(">a\n{seq}\n>b\n{}\n", &seq[..900])).expect("scratch file");
    let cfg = format!(
        "[tokenizer]\nk = 3\nstride = 2\n[inputs]\nfasta = [\"{}\"]\n[documents]\ndoc_len = 600\n\
         [split]\nvalid_frac = 0.25\nseed = 1\n",
        fasta.display()
    );
    let cfg_path = scratch.join("c.toml");
    std::fs::write(&cfg_path, cfg).expect("scratch file");
    let cfg: genolm::corpus::CorpusConfig =
        genolm::config::load(Some(&cfg_path), &[]).expect("a valid corpus config");
    let stop = std::sync::atomic::AtomicBool::new(false);
    genolm::corpus::build::build_corpus(&cfg, dir, true, &stop, false).expect("the small corpus");
}

/// A whole corpus directory with one file damaged: opened, every document read, its tokenizer
/// loaded, and LM batches drawn from it, as `pretrain` and `lm eval` do.
fn corpus_dir(b: &[u8], scratch: &Path) -> bool {
    let pristine = scratch.join("corpus-pristine");
    if !pristine.is_dir() {
        build_small_corpus(&pristine);
    }
    let work = scratch.join("corpus-work");
    genolm::fuzz::lay_out(b, &pristine, &work, CORPUS_FILES);
    let Ok(corpus) = genolm::corpus::Corpus::open(&work) else {
        return false;
    };
    for d in &corpus.documents {
        let _ = corpus.document_tokens(d);
    }
    if genolm::tokenize::hf::load(&work).is_err() {
        return false;
    }
    let Ok(mut streams) = genolm::corpus::lm::LmStreams::new(&corpus, None, 2, 8, 1) else {
        return false;
    };
    for _ in 0..4 {
        match streams.next_batch() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return false,
        }
    }
    true
}

fn targets() -> Vec<genolm::fuzz::Named> {
    let corpus_seeds = {
        let dir = std::env::temp_dir().join(format!("genolm-fuzz-seed-{}", std::process::id()));
        build_small_corpus(&dir.join("c"));
        let seeds = genolm::fuzz::dir_seeds(&dir.join("c"), CORPUS_FILES);
        let _ = std::fs::remove_dir_all(&dir);
        seeds
    };
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
        ("corpus-dir", corpus_dir, corpus_seeds),
        (
            "tokenizer-json",
            tokenizer,
            vec![genolm::tokenize::hf::tokenizer_json(&tok).into_bytes()],
        ),
    ]
}

fn main() {
    genolm::fuzz::main(targets(), Path::new(env!("CARGO_MANIFEST_DIR")))
}
