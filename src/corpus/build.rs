//! `genolm corpus build`: inputs -> documents -> k-mer codes (pass 1, with counts) -> vocabulary ->
//! token ids (pass 2) -> a committed corpus directory.
//!
//! Memory stays flat whatever the genome size: records stream through bounded blocks (a reader thread
//! decompresses and segments while the main thread tokenizes), and pass 1 spills codes to a temporary
//! file in the staging directory rather than holding them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use super::config::{CorpusConfig, TokenWidth, DEFAULT_K, DEFAULT_STRIDE};
use super::format::*;
use super::segment::{read_inputs, Block, RecordInfo, SegmentParams, BLOCK_BASES};
use super::{Error, Result};
use crate::fsutil::{write_atomic, StagingDir};
use crate::genome::nucleotide::BaseCounts;
use crate::genome::open::{detect_format, sha256_file};
use crate::genome::SequenceFormat;
use crate::progress::Progress;
use crate::tokenize::{hf, KmerSpec, KmerTokenizer, VocabLimits, UNK_CODE};

const CODES_FILE: &str = "codes.tmp";
const PASS2_TOKENS: usize = 1 << 22;

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub dir: PathBuf,
    pub documents: u64,
    pub tokens: u64,
    pub bp: u64,
    pub vocab_size: usize,
    pub seconds: f64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The inputs in config order (FASTA, then GenBank), each checked to be the format it is given as.
fn resolve_inputs(cfg: &CorpusConfig) -> Result<Vec<(PathBuf, SequenceFormat)>> {
    let listed = cfg
        .inputs
        .fasta
        .iter()
        .map(|p| (p, SequenceFormat::Fasta))
        .chain(
            cfg.inputs
                .genbank
                .iter()
                .map(|p| (p, SequenceFormat::GenBank)),
        );
    let mut out = Vec::new();
    for (path, given) in listed {
        let detected = detect_format(path)?;
        if detected != given {
            return Err(crate::genome::Error::FormatMismatch {
                path: path.clone(),
                detected: detected.to_string(),
                given: given.to_string(),
            }
            .into());
        }
        out.push((path.clone(), given));
    }
    if out.is_empty() {
        return Err(Error::Config(
            "no inputs: give --fasta and/or --genbank (inputs.fasta / inputs.genbank)".into(),
        ));
    }
    Ok(out)
}

fn validate(cfg: &CorpusConfig, spec: KmerSpec) -> Result<()> {
    let f = cfg.split.valid_frac;
    if !(0.0..1.0).contains(&f) {
        return Err(Error::Config(format!(
            "split.valid_frac = {f} must be in [0, 1)"
        )));
    }
    if cfg.documents.doc_len > 0 && cfg.documents.doc_len < spec.k as u64 {
        return Err(Error::Config(format!(
            "documents.doc_len = {} is shorter than k = {}: no document would hold a token",
            cfg.documents.doc_len, spec.k
        )));
    }
    if cfg.documents.doc_len > u32::MAX as u64 {
        return Err(Error::Config("documents.doc_len must be below 2^32".into()));
    }
    Ok(())
}

/// k and stride: from a reused tokenizer (the config may repeat them, not contradict them), else the config.
fn resolve_spec(cfg: &CorpusConfig, given: Option<&KmerTokenizer>) -> Result<KmerSpec> {
    let t = &cfg.tokenizer;
    let Some(tok) = given else {
        return Ok(KmerSpec::new(
            t.k.unwrap_or(DEFAULT_K),
            t.stride.unwrap_or(DEFAULT_STRIDE),
        )?);
    };
    for (key, asked, has) in [("k", t.k, tok.k()), ("stride", t.stride, tok.stride())] {
        if let Some(asked) = asked.filter(|&a| a != has) {
            return Err(Error::Config(format!(
                "tokenizer.{key} = {asked} contradicts the reused tokenizer ({key} = {has}); drop it or build a new vocabulary"
            )));
        }
    }
    Ok(tok.spec())
}

/// Per-source accumulation while building.
#[derive(Default, Clone)]
struct SourceTally {
    records: u64,
    bases: BaseCounts,
    documents: u64,
    tokens: u64,
    unk_tokens: u64,
}

/// Pass 1 state: codes spilled to disk, counts, document and record tables.
struct Pass1 {
    spec: KmerSpec,
    codes_out: BufWriter<File>,
    counts: Vec<u64>,
    unk: u64,
    docs: Vec<DocEntry>,
    records: Vec<RecordInfo>,
    tokens: u64,
    doc_open: bool,
    codes: Vec<u32>,
    bytes: Vec<u8>,
    bp_in_documents: u64,
}

impl Pass1 {
    fn close_doc(&mut self) {
        if self.doc_open && self.docs.last().is_some_and(|d| d.n_tokens == 0) {
            self.docs.pop(); // shorter than k: nothing to learn from
        }
        self.doc_open = false;
    }

    fn consume(&mut self, block: Block, codes_path: &Path) -> Result<()> {
        let seqs: Vec<&[u8]> = block
            .pieces
            .iter()
            .map(|p| &block.bases[p.range.clone()])
            .collect();
        self.codes.clear();
        let per_piece = self.spec.codes_of_many_par(&seqs, &mut self.codes);
        for (piece, &n) in block.pieces.iter().zip(&per_piece) {
            if let Some(start) = piece.starts_doc {
                self.close_doc();
                self.docs.push(DocEntry {
                    offset: self.tokens,
                    n_tokens: 0,
                    record: start.record,
                    start: start.start,
                    n_bases: 0,
                    reverse: false,
                    split: Split::Train,
                });
                self.doc_open = true;
            }
            let doc = self.docs.last_mut().expect("a piece belongs to a document");
            doc.n_tokens += n as u32;
            doc.n_bases += piece.new_bases as u32;
            self.tokens += n as u64;
        }
        for &c in &self.codes {
            if c == UNK_CODE {
                self.unk += 1;
            } else {
                self.counts[c as usize] += 1;
            }
        }
        self.bytes.clear();
        self.bytes
            .extend(self.codes.iter().flat_map(|c| c.to_le_bytes()));
        self.codes_out
            .write_all(&self.bytes)
            .map_err(io_err(codes_path))?;
        self.records.extend(block.records);
        Ok(())
    }
}

/// Runs pass 1 over every input: a reader thread feeds blocks, this thread tokenizes them.
fn pass1(
    inputs: &[(PathBuf, SequenceFormat)],
    cfg: &CorpusConfig,
    spec: KmerSpec,
    staging: &Path,
    interrupted: &AtomicBool,
    progress: &Progress,
) -> Result<Pass1> {
    let codes_path = staging.join(CODES_FILE);
    let file = File::create(&codes_path).map_err(io_err(&codes_path))?;
    let mut p1 = Pass1 {
        spec,
        codes_out: BufWriter::with_capacity(1 << 20, file),
        counts: vec![0; spec.n_kmers()],
        unk: 0,
        docs: Vec::new(),
        records: Vec::new(),
        tokens: 0,
        doc_open: false,
        codes: Vec::new(),
        bytes: Vec::new(),
        bp_in_documents: 0,
    };
    let params = SegmentParams {
        spec,
        doc_len: cfg.documents.doc_len,
        n_run_split: cfg.documents.n_run_split,
        block_bases: BLOCK_BASES,
    };
    let bytes_read = AtomicU64::new(0);
    let (tx, rx) = sync_channel::<std::result::Result<Block, crate::genome::Error>>(2);
    std::thread::scope(|scope| -> Result<()> {
        // Owned here so that an early return drops it, which stops the reader instead of deadlocking.
        let rx = rx;
        scope.spawn(|| read_inputs(inputs, &params, tx, interrupted, &bytes_read));
        for block in rx.iter() {
            if interrupted.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let block = block?;
            let new_bp: u64 = block.pieces.iter().map(|p| p.new_bases).sum();
            p1.bp_in_documents += new_bp;
            p1.consume(block, &codes_path)?;
            progress.set_position(bytes_read.load(Ordering::Relaxed), new_bp);
        }
        Ok(())
    })?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    p1.close_doc();
    p1.codes_out.flush().map_err(io_err(&codes_path))?;
    Ok(p1)
}

/// Picks exactly round(valid_frac * n) validation documents, reproducibly from the seed.
fn assign_split(docs: &mut [DocEntry], valid_frac: f64, seed: u64) {
    let n = docs.len();
    let mut n_valid = (valid_frac * n as f64).round() as usize;
    if valid_frac > 0.0 && n >= 2 {
        n_valid = n_valid.clamp(1, n - 1);
    } else if n < 2 {
        n_valid = 0;
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = crate::rng::SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    for &i in &order[..n_valid] {
        docs[i].split = Split::Valid;
    }
}

/// Pass 2: codes -> ids, written at the chosen width.
fn pass2(staging: &Path, tok: &KmerTokenizer, wide: bool, interrupted: &AtomicBool) -> Result<()> {
    let codes_path = staging.join(CODES_FILE);
    let tokens_path = staging.join(TOKENS_FILE);
    let mut input = BufReader::with_capacity(
        1 << 20,
        File::open(&codes_path).map_err(io_err(&codes_path))?,
    );
    let mut output = BufWriter::with_capacity(
        1 << 20,
        File::create(&tokens_path).map_err(io_err(&tokens_path))?,
    );
    let mut raw = vec![0u8; PASS2_TOKENS * 4];
    let mut ids: Vec<u32> = Vec::with_capacity(PASS2_TOKENS);
    let mut out_bytes: Vec<u8> = Vec::with_capacity(PASS2_TOKENS * 4);
    loop {
        if interrupted.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let n = read_full(&mut input, &mut raw).map_err(io_err(&codes_path))?;
        if n == 0 {
            break;
        }
        ids.clear();
        ids.extend(
            raw[..n]
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        tok.codes_to_ids(&mut ids);
        out_bytes.clear();
        if wide {
            out_bytes.extend(ids.iter().flat_map(|i| i.to_le_bytes()));
        } else {
            out_bytes.extend(ids.iter().flat_map(|&i| (i as u16).to_le_bytes()));
        }
        output.write_all(&out_bytes).map_err(io_err(&tokens_path))?;
    }
    output.flush().map_err(io_err(&tokens_path))?;
    drop(input);
    std::fs::remove_file(&codes_path).map_err(io_err(&codes_path))?;
    Ok(())
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn choose_width(requested: TokenWidth, vocab_size: usize) -> Result<bool> {
    let fits = vocab_size <= 1 << 16;
    match requested {
        TokenWidth::U16 if !fits => Err(Error::VocabTooLargeForU16 { vocab_size }),
        TokenWidth::U16 => Ok(false),
        TokenWidth::U32 => Ok(true),
        TokenWidth::Auto => Ok(!fits),
    }
}

fn source_tallies(n_sources: usize, p1: &Pass1) -> Vec<SourceTally> {
    let mut tallies = vec![SourceTally::default(); n_sources];
    for r in &p1.records {
        let t = &mut tallies[r.source];
        t.records += 1;
        t.bases.merge(&r.bases);
    }
    for d in &p1.docs {
        let t = &mut tallies[p1.records[d.record as usize].source];
        t.documents += 1;
        t.tokens += d.n_tokens as u64;
    }
    tallies
}

fn write_records_tsv(
    path: &Path,
    inputs: &[(PathBuf, SequenceFormat)],
    records: &[RecordInfo],
) -> Result<()> {
    let mut text =
        String::from("record\tsource\tfile\tname\tlength\tA\tC\tG\tT\tother\tgc\tdropped_n\n");
    for (i, r) in records.iter().enumerate() {
        let b = &r.bases;
        text.push_str(&format!(
            "{i}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.4}\t{}\n",
            r.source,
            inputs[r.source].0.display(),
            r.name,
            r.length,
            b.a,
            b.c,
            b.g,
            b.t,
            b.other,
            b.gc(),
            r.dropped_n
        ));
    }
    write_atomic(path, text.as_bytes()).map_err(io_err(path))
}

/// Counts `unk` tokens per source from the finished token ids (a k-mer can be in the vocabulary's
/// `unk` through min_freq / max_vocab as well as through N).
fn count_unk_per_source(
    staging: &Path,
    docs: &[DocEntry],
    records: &[RecordInfo],
    wide: bool,
    tallies: &mut [SourceTally],
) -> Result<u64> {
    let path = staging.join(TOKENS_FILE);
    let bytes = std::fs::File::open(&path).map_err(io_err(&path))?;
    // SAFETY: read-only map of a file this process just wrote and no one else writes.
    let map = unsafe { memmap2::Mmap::map(&bytes) }.map_err(io_err(&path))?;
    let width = if wide { 4 } else { 2 };
    let unk = crate::tokenize::UNK_ID;
    let mut total = 0;
    for d in docs {
        let s = d.offset as usize * width;
        let e = s + d.n_tokens as usize * width;
        let n = map[s..e]
            .chunks_exact(width)
            .filter(|b| {
                let id = if wide {
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                } else {
                    u16::from_le_bytes([b[0], b[1]]) as u32
                };
                id == unk
            })
            .count() as u64;
        tallies[records[d.record as usize].source].unk_tokens += n;
        total += n;
    }
    Ok(total)
}

/// Builds a corpus from a resolved config. `interrupted` (set by Ctrl-C) aborts cleanly.
pub fn build_corpus(
    cfg: &CorpusConfig,
    out: &Path,
    overwrite: bool,
    interrupted: &AtomicBool,
    show_progress: bool,
) -> Result<BuildReport> {
    let started = Instant::now();
    let given = match &cfg.tokenizer.from {
        Some(path) => Some(hf::load(path)?),
        None => None,
    };
    let spec = resolve_spec(cfg, given.as_ref())?;
    validate(cfg, spec)?;
    let inputs = resolve_inputs(cfg)?;
    let staging = StagingDir::create(out, overwrite)?;
    let total_bytes: u64 = inputs
        .iter()
        .filter_map(|(p, _)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = Progress::bytes_with_bp(total_bytes, "corpus", show_progress);

    let mut p1 = pass1(&inputs, cfg, spec, staging.path(), interrupted, &progress)?;
    if p1.tokens == 0 {
        return Err(Error::NoTokens { k: spec.k });
    }
    let tok = match given {
        Some(t) => t,
        None => {
            let limits = VocabLimits {
                min_freq: cfg.tokenizer.min_freq,
                max_vocab: cfg.tokenizer.max_vocab,
            };
            KmerTokenizer::from_counts(spec, &p1.counts, limits)?
        }
    };
    let wide = choose_width(cfg.tokenizer.token_width, tok.vocab_size())?;
    progress.set_message("writing token ids");
    pass2(staging.path(), &tok, wide, interrupted)?;
    assign_split(&mut p1.docs, cfg.split.valid_frac, cfg.split.seed);

    let dir = staging.path();
    let mut doc_bytes = Vec::with_capacity(p1.docs.len() * DOC_ENTRY_BYTES);
    for d in &p1.docs {
        doc_bytes.extend_from_slice(&d.to_bytes());
    }
    let dpath = dir.join(DOCUMENTS_FILE);
    write_atomic(&dpath, &doc_bytes).map_err(io_err(&dpath))?;
    write_records_tsv(&dir.join(RECORDS_FILE), &inputs, &p1.records)?;
    hf::save(&tok, dir)?;

    let mut tallies = source_tallies(inputs.len(), &p1);
    let unk_tokens = count_unk_per_source(dir, &p1.docs, &p1.records, wide, &mut tallies)?;
    let mut sources = Vec::new();
    for ((path, format), t) in inputs.iter().zip(&tallies) {
        sources.push(SourceInfo {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
            format: *format,
            sha256: sha256_file(path)?,
            file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            records: t.records,
            bp: t.bases.total(),
            gc: t.bases.gc(),
            n_bases: t.bases.other,
            documents: t.documents,
            tokens: t.tokens,
            unk_tokens: t.unk_tokens,
        });
    }
    let mut counts = Counts {
        documents: p1.docs.len() as u64,
        tokens: p1.tokens,
        unk_tokens,
        records: p1.records.len() as u64,
        bp_in_documents: p1.bp_in_documents,
        dropped_n_bases: p1.records.iter().map(|r| r.dropped_n).sum(),
        ..Default::default()
    };
    for r in &p1.records {
        counts.bases.merge(&r.bases);
    }
    counts.bp = counts.bases.total();
    for d in &p1.docs {
        match d.split {
            Split::Train => {
                counts.train_documents += 1;
                counts.train_tokens += d.n_tokens as u64;
            }
            Split::Valid => {
                counts.valid_documents += 1;
                counts.valid_tokens += d.n_tokens as u64;
            }
        }
    }
    let tokenizer_sha = sha256_file(&dir.join(hf::TOKENIZER_FILE))?;
    let seconds = started.elapsed().as_secs_f64();
    let manifest = CorpusManifest {
        format_version: FORMAT_VERSION,
        genolm_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        build_seconds: seconds,
        tokenizer: TokenizerInfo {
            k: spec.k,
            stride: spec.stride,
            vocab_size: tok.vocab_size(),
            token_dtype: if wide { "u32" } else { "u16" }.into(),
            sha256: tokenizer_sha,
            from: cfg.tokenizer.from.clone(),
        },
        counts,
        sources,
        config: cfg.clone(),
    };
    let text = toml::to_string_pretty(&manifest).map_err(|e| Error::Config(e.to_string()))?;
    let mpath = dir.join(MANIFEST_FILE);
    write_atomic(&mpath, text.as_bytes()).map_err(io_err(&mpath))?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let final_dir = staging.commit()?;
    progress.finish();
    Ok(BuildReport {
        dir: final_dir,
        documents: manifest.counts.documents,
        tokens: manifest.counts.tokens,
        bp: manifest.counts.bp,
        vocab_size: tok.vocab_size(),
        seconds,
    })
}
