//! `genolm corpus build`: inputs -> documents -> k-mer codes (pass 1, with counts) -> vocabulary ->
//! token ids (pass 2) -> a committed corpus directory.
//!
//! Memory stays flat whatever the genome size: records stream through bounded blocks (a reader thread
//! decompresses and segments while the main thread tokenizes), and pass 1 spills codes to a temporary
//! file in the staging directory rather than holding them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use super::config::{CorpusConfig, TokenWidth, DEFAULT_K, DEFAULT_STRIDE};
use super::format::*;
use super::segment::{read_inputs, Block, RecordInfo, SegmentParams, BLOCK_BASES};
use super::{Error, Result};
use crate::fsutil::{write_atomic, StagingDir};
use crate::genome::nucleotide::BaseCounts;
use crate::genome::open::{detect_format, sha256_file, InputTap};
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
}

/// The raw bytes of a u32 slice, little-endian (the layout of every genolm binary file).
fn le_bytes(v: &[u32]) -> &[u8] {
    #[cfg(not(target_endian = "little"))]
    compile_error!(
        "genolm writes little-endian files by reinterpreting memory; big-endian needs a swap"
    );
    // SAFETY: u8 has no alignment or validity requirements and the length covers the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Where pass 1 puts k-mer codes: in memory while they are few, spilled to a file in the staging
/// directory past [`IN_MEMORY_TOKENS`], so a genome of any size builds in bounded memory.
enum CodeSink {
    Memory(Vec<u32>),
    File(BufWriter<File>),
}

/// 8M codes = 32 MB: bacterial genomes stay in memory, chromosomes spill.
const IN_MEMORY_TOKENS: usize = 1 << 23;

impl CodeSink {
    fn push(&mut self, codes: &[u32], path: &Path) -> Result<()> {
        if let CodeSink::Memory(v) = self {
            if v.len() + codes.len() <= IN_MEMORY_TOKENS {
                v.extend_from_slice(codes);
                return Ok(());
            }
            let mut w =
                BufWriter::with_capacity(1 << 20, File::create(path).map_err(io_err(path))?);
            w.write_all(le_bytes(v)).map_err(io_err(path))?;
            *self = CodeSink::File(w);
        }
        if let CodeSink::File(w) = self {
            w.write_all(le_bytes(codes)).map_err(io_err(path))?;
        }
        Ok(())
    }
}

/// Pass 1 state: codes, counts, document and record tables.
struct Pass1 {
    spec: KmerSpec,
    sink: CodeSink,
    counts: Vec<u64>,
    unk: u64,
    docs: Vec<DocEntry>,
    records: Vec<RecordInfo>,
    source_sha256: Vec<Option<String>>,
    tokens: u64,
    doc_open: bool,
    codes: Vec<u32>,
    bp_in_documents: u64,
}

impl Pass1 {
    fn close_doc(&mut self) {
        if self.doc_open && self.docs.last().is_some_and(|d| d.n_tokens == 0) {
            self.docs.pop(); // shorter than k: nothing to learn from
        }
        self.doc_open = false;
    }

    fn consume(&mut self, block: &mut Block, codes_path: &Path) -> Result<()> {
        let seqs: Vec<&[u8]> = block
            .pieces
            .iter()
            .map(|p| &block.bases[p.range.clone()])
            .collect();
        let clean: Vec<bool> = block.pieces.iter().map(|p| p.clean).collect();
        // Codes go straight into the in-memory sink while there is room: no copy, no second buffer.
        let n_new: usize = seqs.iter().map(|s| self.spec.n_tokens(s.len())).sum();
        let direct =
            matches!(&self.sink, CodeSink::Memory(v) if v.len() + n_new <= IN_MEMORY_TOKENS);
        self.codes.clear();
        let (per_piece, first) = match &mut self.sink {
            CodeSink::Memory(v) if direct => {
                let first = v.len();
                (self.spec.codes_of_many_par(&seqs, &clean, v), first)
            }
            _ => (
                self.spec.codes_of_many_par(&seqs, &clean, &mut self.codes),
                0,
            ),
        };
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
            self.bp_in_documents += piece.new_bases;
        }
        let new_codes = match &self.sink {
            CodeSink::Memory(v) if direct => &v[first..],
            _ => &self.codes[..],
        };
        for &c in new_codes {
            if c == UNK_CODE {
                self.unk += 1;
            } else {
                self.counts[c as usize] += 1;
            }
        }
        if !direct {
            self.sink.push(&self.codes, codes_path)?;
        }
        self.records.append(&mut block.records);
        for (source, digest) in block.sources_done.drain(..) {
            self.source_sha256[source] = Some(digest);
        }
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
    let mut p1 = Pass1 {
        spec,
        // Reserving is free (pages are touched only when written) and spares reallocation copies.
        sink: CodeSink::Memory(Vec::with_capacity(IN_MEMORY_TOKENS)),
        counts: vec![0; spec.n_kmers()],
        unk: 0,
        docs: Vec::new(),
        records: Vec::new(),
        source_sha256: vec![None; inputs.len()],
        tokens: 0,
        doc_open: false,
        codes: Vec::new(),
        bp_in_documents: 0,
    };

    let params = SegmentParams {
        spec,
        doc_len: cfg.documents.doc_len,
        n_run_split: cfg.documents.n_run_split,
        block_bases: BLOCK_BASES,
    };
    let tap = InputTap::default();
    let (tx, rx) = sync_channel::<std::result::Result<Block, crate::genome::Error>>(2);
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(4);
    std::thread::scope(|scope| -> Result<()> {
        // Owned here so that an early return drops it, which stops the reader instead of deadlocking.
        let rx = rx;
        scope.spawn(|| read_inputs(inputs, &params, tx, recycle_rx, interrupted, &tap));
        for block in rx.iter() {
            if interrupted.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let mut block = block?;
            let new_bp: u64 = block.pieces.iter().map(|p| p.new_bases).sum();
            p1.consume(&mut block, &codes_path)?;
            let _ = recycle_tx.try_send(block.bases);
            progress.set_position(tap.bytes.load(Ordering::Relaxed), new_bp);
        }
        Ok(())
    })?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    p1.close_doc();
    if let CodeSink::File(w) = &mut p1.sink {
        w.flush().map_err(io_err(&codes_path))?;
    }
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

/// Counts `unk` ids per source over a run of tokens starting at token index `first`, walking the
/// documents in step (an id can be `unk` through N, min_freq or max_vocab alike).
struct UnkCounter<'a> {
    docs: &'a [DocEntry],
    records: &'a [RecordInfo],
    next_doc: usize,
    per_source: Vec<u64>,
}

impl UnkCounter<'_> {
    fn add(&mut self, first: u64, ids: &[u32]) {
        let unk = crate::tokenize::UNK_ID;
        let end = first + ids.len() as u64;
        while self.next_doc < self.docs.len() && self.docs[self.next_doc].offset < end {
            let d = &self.docs[self.next_doc];
            let (s, e) = (d.offset.max(first), (d.offset + d.n_tokens as u64).min(end));
            let n = ids[(s - first) as usize..(e - first) as usize]
                .iter()
                .filter(|&&i| i == unk)
                .count();
            self.per_source[self.records[d.record as usize].source] += n as u64;
            if d.offset + (d.n_tokens as u64) > end {
                break; // the document continues in the next run
            }
            self.next_doc += 1;
        }
    }
}

/// Writes ids at the chosen width (u16 through a small reused buffer).
fn write_ids(
    out: &mut impl Write,
    ids: &[u32],
    wide: bool,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    if wide {
        return out.write_all(le_bytes(ids));
    }
    for chunk in ids.chunks(1 << 16) {
        scratch.clear();
        scratch.extend(chunk.iter().flat_map(|&i| (i as u16).to_le_bytes()));
        out.write_all(scratch)?;
    }
    Ok(())
}

/// Pass 2: codes -> ids, written at the chosen width; returns `unk` tokens per source.
fn pass2(
    staging: &Path,
    p1: &mut Pass1,
    tok: &KmerTokenizer,
    wide: bool,
    n_sources: usize,
    interrupted: &AtomicBool,
) -> Result<Vec<u64>> {
    let codes_path = staging.join(CODES_FILE);
    let tokens_path = staging.join(TOKENS_FILE);
    let mut output = BufWriter::with_capacity(
        1 << 20,
        File::create(&tokens_path).map_err(io_err(&tokens_path))?,
    );
    let mut unk = UnkCounter {
        docs: &p1.docs,
        records: &p1.records,
        next_doc: 0,
        per_source: vec![0; n_sources],
    };
    let mut scratch = Vec::new();
    match &mut p1.sink {
        CodeSink::Memory(codes) => {
            tok.codes_to_ids(codes);
            unk.add(0, codes);
            write_ids(&mut output, codes, wide, &mut scratch).map_err(io_err(&tokens_path))?;
        }
        CodeSink::File(_) => {
            let file = File::open(&codes_path).map_err(io_err(&codes_path))?;
            let mut input = BufReader::with_capacity(1 << 20, file);
            let mut raw = vec![0u8; PASS2_TOKENS * 4];
            let mut ids: Vec<u32> = Vec::with_capacity(PASS2_TOKENS);
            let mut done = 0u64;
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
                unk.add(done, &ids);
                done += ids.len() as u64;
                write_ids(&mut output, &ids, wide, &mut scratch).map_err(io_err(&tokens_path))?;
            }
            std::fs::remove_file(&codes_path).map_err(io_err(&codes_path))?;
        }
    }
    output.flush().map_err(io_err(&tokens_path))?;
    Ok(unk.per_source)
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

/// `documents.bin`: the document index, fixed-size little-endian entries.
fn write_documents(dir: &Path, docs: &[DocEntry]) -> Result<()> {
    let mut bytes = Vec::with_capacity(docs.len() * DOC_ENTRY_BYTES);
    for d in docs {
        bytes.extend_from_slice(&d.to_bytes());
    }
    let path = dir.join(DOCUMENTS_FILE);
    write_atomic(&path, &bytes).map_err(io_err(&path))
}

/// Per input file: path, checksum (hashed while reading, else now), and what it contributed.
fn source_infos(
    inputs: &[(PathBuf, SequenceFormat)],
    p1: &mut Pass1,
    unk_per_source: &[u64],
) -> Result<Vec<SourceInfo>> {
    let tallies = source_tallies(inputs.len(), p1);
    let mut sources = Vec::new();
    for (i, ((path, format), t)) in inputs.iter().zip(&tallies).enumerate() {
        sources.push(SourceInfo {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
            format: *format,
            sha256: match p1.source_sha256[i].take() {
                Some(digest) => digest,
                None => sha256_file(path)?,
            },
            file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            records: t.records,
            bp: t.bases.total(),
            gc: t.bases.gc(),
            n_bases: t.bases.other,
            documents: t.documents,
            tokens: t.tokens,
            unk_tokens: unk_per_source[i],
        });
    }
    Ok(sources)
}

/// Corpus-wide counts, with the train/valid split's.
fn corpus_counts(p1: &Pass1, unk_tokens: u64) -> Counts {
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
    counts
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
    let unk_per_source = pass2(
        staging.path(),
        &mut p1,
        &tok,
        wide,
        inputs.len(),
        interrupted,
    )?;
    assign_split(&mut p1.docs, cfg.split.valid_frac, cfg.split.seed);

    let dir = staging.path();
    write_documents(dir, &p1.docs)?;
    write_records_tsv(&dir.join(RECORDS_FILE), &inputs, &p1.records)?;
    hf::save(&tok, dir)?;

    let sources = source_infos(&inputs, &mut p1, &unk_per_source)?;
    let counts = corpus_counts(&p1, unk_per_source.iter().sum());
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
