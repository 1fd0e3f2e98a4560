//! `genolm corpus build`: inputs -> documents -> k-mer codes (pass 1, with counts) -> vocabulary ->
//! token ids (pass 2) -> a committed corpus directory.
//!
//! Memory stays flat whatever the genome size: records stream through bounded blocks (a reader thread
//! decompresses and segments while the main thread tokenizes), and pass 1 spills codes to a temporary
//! file in the staging directory rather than holding them (up to 8M codes stay in memory). Pass 2
//! rewrites a spilled file into token ids in place, window by window, when ids are as wide as codes.
//!
//! Threads: the reader (with bgzf inflated on a pool of its own), the tokenizer (this thread), a
//! hasher (SHA-256 of the input files, beside both passes) and, in pass 2, a writer of token ids or
//! rayon's pool remapping in place. Small builds are bound by hashing, first touches of fresh
//! memory and process start-up; see BENCHMARKS.md.

use std::fs::File;
use std::io::{BufWriter, Write};

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use super::config::{CorpusConfig, TokenWidth, DEFAULT_K, DEFAULT_STRIDE};
use super::format::*;
use super::segment::{
    read_inputs, Block, ReaderSide, RecordInfo, SegmentParams, BLOCK_BASES, BLOCK_POOL,
};
use super::{Error, Result};
use crate::fsutil::StagingDir;
use crate::genome::nucleotide::BaseCounts;
use crate::genome::open::{detect_format, io_threads, sha256_file, sha256_file_unless, InputTap};
use crate::genome::SequenceFormat;
use crate::progress::Progress;
use crate::tokenize::{hf, CodeWord, KmerSpec, KmerTokenizer, VocabLimits, UNK_CODE};

const CODES_FILE: &str = "codes.tmp";

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub dir: PathBuf,
    pub documents: u64,
    /// Documents held out for validation: 0 leaves pretraining nothing to validate on.
    pub valid_documents: u64,
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
        // A pipe (`<(zcat ...)`, /dev/stdin) can be read once only: its format is checked by the
        // reader, on the same stream.
        if !is_regular_file(path) {
            out.push((path.clone(), given));
            continue;
        }
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

/// A thread named `genolm-<role>` (as `top -H` and profilers show it).
fn thread_named(role: &str) -> std::thread::Builder {
    std::thread::Builder::new().name(format!("genolm-{role}"))
}

fn thread_error(name: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Thread { name, source }
}

/// Per-source accumulation while building.
#[derive(Default, Clone)]
struct SourceTally {
    records: u64,
    bases: BaseCounts,
    documents: u64,
    tokens: u64,
}

/// The raw bytes of a u16 or u32 slice, little-endian (the layout of every genolm binary file).
fn le_bytes<T: CodeWord>(v: &[T]) -> &[u8] {
    #[cfg(not(target_endian = "little"))]
    compile_error!(
        "genolm writes little-endian files by reinterpreting memory; big-endian needs a swap"
    );
    // SAFETY: CodeWord is sealed to u16 and u32 (no padding); u8 has no alignment or validity
    // requirements and the length covers the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// A byte buffer of whole, aligned u16 or u32 words (a page-aligned mapping) as those words.
fn words_mut<T: CodeWord>(bytes: &mut [u8]) -> &mut [T] {
    // SAFETY: CodeWord is sealed to u16 and u32, for which every bit pattern is a valid value.
    let (head, words, tail) = unsafe { bytes.align_to_mut::<T>() };
    assert!(
        head.is_empty() && tail.is_empty(),
        "a mapping is page-aligned and holds whole words"
    );
    words
}

/// Where pass 1 puts k-mer codes: in memory while they fit the buffer's capacity
/// ([`SpillLimits::memory_tokens`]), then spilled to a file in the staging directory, so a genome
/// of any size builds in bounded memory.
enum CodeSink<C> {
    Memory(Vec<C>),
    File(BufWriter<File>),
}

/// How many codes a build keeps in memory before spilling them to disk, and how much of a spilled
/// codes file pass 2 maps at a time. Tests shrink both to reach the spill paths with small inputs.
#[derive(Debug, Clone, Copy)]
struct SpillLimits {
    memory_tokens: usize,
    /// A whole multiple of the page size (and so of every code width).
    map_window_bytes: u64,
}

/// 8M codes (16-32 MB): bacterial genomes stay in memory, chromosomes spill. 16 MB windows keep
/// what the mapping adds to the resident set below pass 1's peak however large the corpus (chr20:
/// 28 MB peak either way; 64 MB windows were no faster and peaked at 69 MB).
const SPILL_LIMITS: SpillLimits = SpillLimits {
    memory_tokens: 1 << 23,
    map_window_bytes: 16 << 20,
};

impl<C: CodeWord> CodeSink<C> {
    /// Whether `n` more codes fit in memory.
    fn has_room(&self, n: usize) -> bool {
        matches!(self, CodeSink::Memory(v) if v.len() + n <= v.capacity())
    }

    /// Writes `codes` to the spill file, moving the codes held in memory there first (codes that
    /// fit in memory are written there directly, by [`Pass1::consume`]).
    fn spill(&mut self, codes: &[C], path: &Path) -> Result<()> {
        if let CodeSink::Memory(v) = self {
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

/// Slots of pass 1's count table: every u16 value for 16-bit codes, else one per k-mer.
fn count_slots<C: CodeWord>(spec: KmerSpec) -> usize {
    if C::BYTES == 2 {
        1 << 16
    } else {
        spec.n_kmers()
    }
}

/// Adds `codes` to `counts`. 16-bit codes count into a table over every u16 value (no branch;
/// `unk`, u16::MAX, lands in the last slot, moved out when pass 1 ends); 32-bit ones count `unk`
/// codes apart, in `unk`.
fn count_codes<C: CodeWord>(codes: &[C], counts: &mut [u64], unk: &mut u64) {
    if C::BYTES == 2 {
        codes.iter().for_each(|c| counts[c.raw()] += 1);
        return;
    }
    for &c in codes {
        match c.code() {
            UNK_CODE => *unk += 1,
            c => counts[c as usize] += 1,
        }
    }
}

/// Pass 1 state: codes, counts, document and record tables.
struct Pass1<C> {
    spec: KmerSpec,
    sink: CodeSink<C>,
    counts: Vec<u64>,
    /// Tokens whose k-mer has a base other than A/C/G/T.
    unk_codes: u64,
    docs: Vec<DocEntry>,
    records: Vec<RecordInfo>,
    source_sha256: Vec<Option<String>>,
    tokens: u64,
    doc_open: bool,
    codes: Vec<C>,
    bp_in_documents: u64,
}

impl<C: CodeWord> Pass1<C> {
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
        let direct = self.sink.has_room(n_new);
        self.codes.clear();
        let (per_piece, first) = match &mut self.sink {
            CodeSink::Memory(v) if direct => {
                let first = v.len();
                (self.spec.codes_of_many(&seqs, &clean, v), first)
            }
            _ => (self.spec.codes_of_many(&seqs, &clean, &mut self.codes), 0),
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
        count_codes(new_codes, &mut self.counts, &mut self.unk_codes);
        if !direct {
            self.sink.spill(&self.codes, codes_path)?;
        }
        self.records.append(&mut block.records);
        for (source, digest) in block.sources_done.drain(..) {
            self.source_sha256[source] = Some(digest);
        }
        Ok(())
    }
}

/// This thread's ends of one reader's channels: its blocks, and its block buffers going back.
struct ReaderEnds {
    blocks: Receiver<std::result::Result<Block, crate::genome::Error>>,
    buffers_back: SyncSender<Vec<u8>>,
}

impl<C: CodeWord> Pass1<C> {
    /// Tokenizes the readers' blocks file by file, in input order (reader `i % readers` has file
    /// `i`), handing each block's buffer back to its reader. Both ends of every channel are owned
    /// here, so returning early (an error, Ctrl-C) closes them and the readers stop instead of
    /// waiting for a block to be taken or a buffer to come back.
    fn tokenize_blocks(
        &mut self,
        readers: Vec<ReaderEnds>,
        n_inputs: usize,
        codes_path: &Path,
        interrupted: &AtomicBool,
        progress: &Progress,
        taps: &[Arc<InputTap>],
    ) -> Result<()> {
        for source in 0..n_inputs {
            let reader = &readers[source % readers.len()];
            // Readers number records from 0 in each file.
            let records_before = self.records.len() as u32;
            loop {
                if interrupted.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
                // A reader that stopped without an error was interrupted (checked above).
                let Ok(block) = reader.blocks.recv() else {
                    return Ok(());
                };
                let mut block = block?;
                for start in block
                    .pieces
                    .iter_mut()
                    .filter_map(|p| p.starts_doc.as_mut())
                {
                    start.record += records_before;
                }
                let new_bp: u64 = block.pieces.iter().map(|p| p.new_bases).sum();
                let ends_file = block.ends_file;
                self.consume(&mut block, codes_path)?;
                let _ = reader.buffers_back.try_send(block.bases);
                let read: u64 = taps.iter().map(|t| t.bytes.load(Ordering::Relaxed)).sum();
                progress.set_position(read, new_bp);
                if ends_file {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Threads reading input files at once: one per core (up to 8) and no more than there are files;
/// each reads (decompresses, parses, segments) files of its own while this thread tokenizes.
fn reader_threads(n_inputs: usize) -> usize {
    io_threads().min(n_inputs).max(1)
}

/// Runs pass 1 over every input: a reader thread feeds blocks, this thread tokenizes them.
/// `hash_inline`: per input, whether the reader hashes it.
fn pass1<C: CodeWord>(run: &Build, hash_inline: &[bool]) -> Result<Pass1<C>> {
    let (inputs, cfg, spec) = (&run.inputs[..], run.cfg, run.spec);
    let (interrupted, progress, memory_tokens) =
        (run.interrupted, &run.progress, run.spill.memory_tokens);
    let codes_path = run.staging.path().join(CODES_FILE);
    let mut p1 = Pass1 {
        spec,
        // Reserving is free (pages are touched only when written) and spares reallocation copies.
        sink: CodeSink::Memory(crate::mem::huge_vec(memory_tokens)),
        counts: vec![0; count_slots::<C>(spec)],
        unk_codes: 0,
        docs: Vec::new(),
        records: Vec::new(),
        source_sha256: vec![None; inputs.len()],
        tokens: 0,
        doc_open: false,
        codes: Vec::new(),
        bp_in_documents: 0,
    };

    let n_readers = reader_threads(inputs.len());
    let params = SegmentParams {
        spec,
        doc_len: cfg.documents.doc_len,
        n_run_split: cfg.documents.n_run_split,
        block_bases: BLOCK_BASES,
        // The cores shared out among the readers.
        inflate_threads: (io_threads() / n_readers).max(1),
    };
    let taps: Vec<Arc<InputTap>> = (0..n_readers).map(|_| Arc::default()).collect();
    // Reader r takes files r, r + n_readers, ...
    let files: Vec<Vec<usize>> = (0..n_readers)
        .map(|r| (r..inputs.len()).step_by(n_readers).collect())
        .collect();
    std::thread::scope(|scope| -> Result<()> {
        let mut readers = Vec::with_capacity(n_readers);
        for (files, tap) in files.iter().zip(&taps) {
            let (tx, blocks) = sync_channel(2);
            let (buffers_back, recycle) = sync_channel::<Vec<u8>>(BLOCK_POOL);
            let params = &params;
            thread_named("read")
                .spawn_scoped(scope, move || {
                    let ends = ReaderSide { tx, recycle };
                    read_inputs(inputs, files, hash_inline, params, ends, interrupted, tap)
                })
                .map_err(thread_error("read"))?;
            readers.push(ReaderEnds {
                blocks,
                buffers_back,
            });
        }
        let n = inputs.len();
        p1.tokenize_blocks(readers, n, &codes_path, interrupted, progress, &taps)
    })?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    p1.close_doc();
    if C::BYTES == 2 {
        p1.unk_codes += p1.counts[u16::MAX as usize];
    }
    p1.counts.truncate(spec.n_kmers());
    if let CodeSink::File(w) = &mut p1.sink {
        w.flush().map_err(io_err(&codes_path))?;
    }
    Ok(p1)
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// SHA-256 of the input files that are regular files, computed on a thread of its own beside both
/// passes (hashing is a good part of a small build) and collected when the manifest is written;
/// anything else (a pipe) is hashed by the reader as it reads. Dropped unfinished (an error,
/// Ctrl-C), it tells the thread to stop.
struct BackgroundHashes {
    /// Per input: hashed here (else by the reader).
    apart: Vec<bool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<Vec<Option<String>>>>>,
}

impl BackgroundHashes {
    fn start(inputs: &[(PathBuf, SequenceFormat)]) -> Result<Self> {
        let apart: Vec<bool> = inputs.iter().map(|(p, _)| is_regular_file(p)).collect();
        let paths: Vec<(PathBuf, bool)> = inputs
            .iter()
            .zip(&apart)
            .map(|((p, _), &a)| (p.clone(), a))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = Arc::clone(&stop);
        let thread = thread_named("hash").spawn(move || {
            let mut digests = Vec::with_capacity(paths.len());
            for (path, hash) in &paths {
                digests.push(match hash {
                    true => sha256_file_unless(path, &stop_thread)?,
                    false => None,
                });
            }
            Ok(digests)
        });
        Ok(Self {
            apart,
            stop,
            thread: Some(thread.map_err(thread_error("hash"))?),
        })
    }

    /// Per input: whether the reader must hash it.
    fn hash_inline(&self) -> Vec<bool> {
        self.apart.iter().map(|apart| !apart).collect()
    }

    /// Waits for the digests (`None` for inputs the reader hashed).
    fn finish(mut self) -> Result<Vec<Option<String>>> {
        let thread = self.thread.take().expect("joined once");
        thread.join().expect("hashing thread panicked")
    }
}

impl Drop for BackgroundHashes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
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

/// Counts `unk` ids per source over the token ids in order, walking the documents in step (an id
/// can be `unk` through N, min_freq or max_vocab alike).
struct UnkCounter<'a> {
    docs: &'a [DocEntry],
    records: &'a [RecordInfo],
    next_doc: usize,
    /// Token index of the next id to come.
    done: u64,
    per_source: Vec<u64>,
}

impl UnkCounter<'_> {
    /// Walks past the next `ids.len()` tokens, counting their `unk` ids if `count` (false when
    /// the vocabulary says there are none: the documents are still walked past).
    fn add<I: CodeWord>(&mut self, ids: &[I], count: bool) {
        let unk = I::from_code(crate::tokenize::UNK_ID);
        let (first, end) = (self.done, self.done + ids.len() as u64);
        while self.next_doc < self.docs.len() && self.docs[self.next_doc].offset < end {
            let d = &self.docs[self.next_doc];
            if count {
                let (s, e) = (d.offset.max(first), (d.offset + d.n_tokens as u64).min(end));
                let n = ids[(s - first) as usize..(e - first) as usize]
                    .iter()
                    .filter(|&&i| i == unk)
                    .count();
                self.per_source[self.records[d.record as usize].source] += n as u64;
            }
            if d.offset + (d.n_tokens as u64) > end {
                break; // the document continues in the next run
            }
            self.next_doc += 1;
        }
        self.done = end;
    }
}

/// code -> id for pass 2: a table over every value a 16-bit code word can hold (`unk` included), so
/// the hot loop is one load; 32-bit code words ask the tokenizer.
struct IdLookup<'a> {
    tok: &'a KmerTokenizer,
    dense: Option<Vec<u32>>,
}

impl<'a> IdLookup<'a> {
    fn new<C: CodeWord>(tok: &'a KmerTokenizer) -> Self {
        let n_kmers = tok.spec().n_kmers() as u32;
        let dense = (C::BYTES == 2).then(|| {
            (0..=u16::MAX as u32)
                .map(|v| match C::from_code(v).code() {
                    c if c < n_kmers || c == UNK_CODE => tok.id_of_code(c),
                    _ => crate::tokenize::UNK_ID, // never stored
                })
                .collect()
        });
        Self { tok, dense }
    }

    /// Appends the ids of `codes` to `out` (as `W`: the caller checked they fit).
    fn extend<C: CodeWord, W: CodeWord>(&self, codes: &[C], out: &mut Vec<W>) {
        match &self.dense {
            Some(table) => out.extend(codes.iter().map(|c| W::from_code(table[c.raw()]))),
            None => out.extend(
                codes
                    .iter()
                    .map(|c| W::from_code(self.tok.id_of_code(c.code()))),
            ),
        }
    }

    /// Replaces each code with its id (ids stored as `C`: the caller checked they fit).
    fn remap<C: CodeWord>(&self, codes: &mut [C]) {
        match &self.dense {
            Some(table) => codes
                .iter_mut()
                .for_each(|c| *c = C::from_code(table[c.raw()])),
            None => codes
                .iter_mut()
                .for_each(|c| *c = C::from_code(self.tok.id_of_code(c.code()))),
        }
    }
}

/// Ids per buffer handed to the writer thread: small enough to stay in cache.
const WRITE_CHUNK_TOKENS: usize = 1 << 16;
/// Id buffers in circulation: one being filled, one queued, one being written.
const WRITE_POOL: usize = 3;

/// Writes token ids (`W`: u16 or u32) on a thread of its own, so that mapping one chunk overlaps
/// the kernel's copy of the last; the same few buffers circulate between the two threads.
struct IdWriter<W> {
    tx: Option<SyncSender<Vec<W>>>,
    returned: Receiver<Vec<W>>,
    allocated: usize,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl<W: CodeWord> IdWriter<W> {
    /// Writes to `file`, which will hold `n_ids` ids.
    fn new(mut file: File, n_ids: u64) -> Result<Self> {
        preallocate(&file, n_ids * W::BYTES as u64);
        let (tx, rx) = sync_channel::<Vec<W>>(1);
        let (back_tx, returned) = sync_channel::<Vec<W>>(WRITE_POOL);
        let writer = thread_named("write").spawn(move || -> std::io::Result<()> {
            for ids in rx {
                file.write_all(le_bytes(&ids))?;
                let _ = back_tx.try_send(ids);
            }
            Ok(())
        });
        Ok(Self {
            tx: Some(tx),
            returned,
            allocated: 0,
            writer: Some(writer.map_err(thread_error("write"))?),
        })
    }

    /// An empty buffer: a new one while the pool is not all allocated, else one the writer is done
    /// with (waiting for it). `None` if the writer has stopped.
    fn buffer(&mut self) -> Option<Vec<W>> {
        let mut ids = match self.returned.try_recv() {
            Ok(ids) => ids,
            Err(_) if self.allocated < WRITE_POOL => {
                self.allocated += 1;
                Vec::with_capacity(WRITE_CHUNK_TOKENS)
            }
            Err(_) => self.returned.recv().ok()?,
        };
        ids.clear();
        Some(ids)
    }

    /// Maps `codes` to ids, shows each chunk of ids to `seen` and queues it (written in order).
    /// An error means the writer stopped: [`finish`](Self::finish) says why.
    fn push<C: CodeWord>(
        &mut self,
        codes: &[C],
        lookup: &IdLookup,
        mut seen: impl FnMut(&[W]),
    ) -> std::result::Result<(), WriterStopped> {
        for chunk in codes.chunks(WRITE_CHUNK_TOKENS) {
            let mut ids = self.buffer().ok_or(WriterStopped)?;
            lookup.extend(chunk, &mut ids);
            seen(&ids);
            let tx = self.tx.as_ref().expect("sender present until finish");
            tx.send(ids).map_err(|_| WriterStopped)?;
        }
        Ok(())
    }

    /// Waits for every queued id to be written.
    fn finish(mut self) -> std::io::Result<()> {
        self.tx.take();
        let writer = self.writer.take().expect("writer joined once");
        writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("writer thread panicked")))
    }
}

/// The writer thread has stopped (on a write error, which [`IdWriter::finish`] returns).
struct WriterStopped;

/// Reserves `bytes` of disk for a file about to be written: one extent allocation instead of one
/// per page as the writes come. Advisory; a file system without fallocate just writes normally.
fn preallocate(file: &File, bytes: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(len) = libc::off_t::try_from(bytes) {
            // SAFETY: a plain syscall on an open descriptor; KEEP_SIZE only allocates (the size
            // grows as data is written), and a failure changes nothing.
            unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
        }
    }
}

/// Codes per task when a window is remapped in parallel.
const REMAP_TASK_TOKENS: usize = 1 << 18;

/// Calls `f` on the spilled codes, `window` bytes at a time, through a shared writable mapping of
/// the codes file: what `f` writes goes back to the file, with no read or write copies.
fn for_each_window<C: CodeWord>(
    path: &Path,
    window: u64,
    interrupted: &AtomicBool,
    mut f: impl FnMut(&mut [C]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut offset = 0;
    while offset < len {
        if interrupted.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let n = window.min(len - offset);
        // SAFETY: the codes file is this build's own, in its staging directory: nothing else
        // writes or truncates it while it is mapped.
        let mut map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(n as usize)
                .map_mut(&file)
        }
        .map_err(io_err(path))?;
        f(words_mut(&mut map))?;
        offset += n;
    }
    Ok(())
}

/// Pass 2: codes (stored as `C`) -> ids, written as `W`; returns `unk` tokens per source.
fn pass2<C: CodeWord, W: CodeWord>(
    staging: &Path,
    p1: &mut Pass1<C>,
    tok: &KmerTokenizer,
    n_sources: usize,
    window: u64,
    interrupted: &AtomicBool,
) -> Result<Vec<u64>> {
    let codes_path = staging.join(CODES_FILE);
    let tokens_path = staging.join(TOKENS_FILE);
    let mut unk = UnkCounter {
        docs: &p1.docs,
        records: &p1.records,
        next_doc: 0,
        done: 0,
        per_source: vec![0; n_sources],
    };
    let lookup = IdLookup::new::<C>(tok);
    // The counts say whether any token maps to `unk` (an N in the k-mer, or a k-mer left out of
    // the vocabulary); usually none does, and pass 2 need not look for them.
    let any_unk = p1.unk_codes > 0
        || (p1.counts.iter().enumerate())
            .any(|(code, &n)| n > 0 && tok.id_of_code(code as u32) == crate::tokenize::UNK_ID);
    if matches!(p1.sink, CodeSink::File(_)) && C::BYTES == W::BYTES {
        // Ids as wide as the codes: they replace the codes where they lie (in parallel), and the
        // codes file becomes tokens.bin. No second file on disk, no copies.
        for_each_window::<C>(&codes_path, window, interrupted, |codes| {
            codes
                .par_chunks_mut(REMAP_TASK_TOKENS)
                .for_each(|chunk| lookup.remap(chunk));
            unk.add(codes, any_unk);
            Ok(())
        })?;
        std::fs::rename(&codes_path, &tokens_path).map_err(io_err(&tokens_path))?;
        return Ok(unk.per_source);
    }
    let file = File::create(&tokens_path).map_err(io_err(&tokens_path))?;
    let mut output = IdWriter::<W>::new(file, p1.tokens)?;
    let stopped = || io_err(&tokens_path)(std::io::Error::other("token writer stopped"));
    let fed = match &p1.sink {
        CodeSink::Memory(codes) => output
            .push(codes, &lookup, |ids| unk.add(ids, any_unk))
            .map_err(|WriterStopped| stopped()),
        CodeSink::File(_) => for_each_window::<C>(&codes_path, window, interrupted, |codes| {
            output
                .push(codes, &lookup, |ids| unk.add(ids, any_unk))
                .map_err(|WriterStopped| stopped())
        }),
    };
    // A writer that stopped early has the error that stopped it: that one first.
    output.finish().map_err(io_err(&tokens_path))?;
    fed?;
    if matches!(p1.sink, CodeSink::File(_)) {
        std::fs::remove_file(&codes_path).map_err(io_err(&codes_path))?;
    }
    Ok(unk.per_source)
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
    std::fs::write(&path, &bytes).map_err(io_err(&path))
}

/// Per input file: path, checksum (hashed while reading, else now), and what it contributed.
fn source_infos<C>(
    inputs: &[(PathBuf, SequenceFormat)],
    p1: &mut Pass1<C>,
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
fn corpus_counts<C>(p1: &Pass1<C>, unk_tokens: u64) -> Counts {
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

fn source_tallies<C>(n_sources: usize, p1: &Pass1<C>) -> Vec<SourceTally> {
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
    std::fs::write(path, text.as_bytes()).map_err(io_err(path))
}

/// Builds a corpus from a resolved config. `interrupted` (set by Ctrl-C) aborts cleanly.
pub fn build_corpus(
    cfg: &CorpusConfig,
    out: &Path,
    overwrite: bool,
    interrupted: &AtomicBool,
    show_progress: bool,
) -> Result<BuildReport> {
    build_corpus_with(
        cfg,
        out,
        overwrite,
        interrupted,
        show_progress,
        SPILL_LIMITS,
    )
}

fn build_corpus_with(
    cfg: &CorpusConfig,
    out: &Path,
    overwrite: bool,
    interrupted: &AtomicBool,
    show_progress: bool,
    spill: SpillLimits,
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
    let total_bytes: Option<u64> = inputs
        .iter()
        .map(|(p, _)| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        })
        .sum();
    let progress = Progress::bytes_with_bp(total_bytes, "corpus", show_progress);
    let run = Build {
        cfg,
        given,
        spec,
        inputs,
        staging,
        progress,
        interrupted,
        started,
        spill,
    };
    // Codes of k <= 7 fit in 16 bits: half the memory and spill file of 32-bit codes.
    if spec.k <= <u16 as CodeWord>::MAX_K {
        run.finish::<u16>()
    } else {
        run.finish::<u32>()
    }
}

/// A corpus build whose inputs and output are settled: the passes and the files.
struct Build<'a> {
    cfg: &'a CorpusConfig,
    given: Option<KmerTokenizer>,
    spec: KmerSpec,
    inputs: Vec<(PathBuf, SequenceFormat)>,
    staging: StagingDir,
    progress: Progress,
    interrupted: &'a AtomicBool,
    started: Instant,
    spill: SpillLimits,
}

impl Build<'_> {
    /// Runs both passes, storing codes as `C`, and commits the corpus directory.
    fn finish<C: CodeWord>(mut self) -> Result<BuildReport> {
        let (cfg, spec) = (self.cfg, self.spec);
        let staging = self.staging.path();
        let hashes = BackgroundHashes::start(&self.inputs)?;
        let mut p1: Pass1<C> = pass1(&self, &hashes.hash_inline())?;
        if p1.tokens == 0 {
            return Err(Error::NoTokens { k: spec.k });
        }
        let tok = match self.given.take() {
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
        self.progress.set_message("writing token ids");
        let (n_sources, window) = (self.inputs.len(), self.spill.map_window_bytes);
        let unk_per_source = match wide {
            true => pass2::<C, u32>(staging, &mut p1, &tok, n_sources, window, self.interrupted)?,
            false => pass2::<C, u16>(staging, &mut p1, &tok, n_sources, window, self.interrupted)?,
        };
        assign_split(&mut p1.docs, cfg.split.valid_frac, cfg.split.seed);
        for (slot, digest) in p1.source_sha256.iter_mut().zip(hashes.finish()?) {
            if digest.is_some() {
                *slot = digest;
            }
        }
        self.write_out(&mut p1, &tok, wide, &unk_per_source)
    }

    /// The document index, record table, tokenizer and manifest; then the directory is committed.
    fn write_out<C>(
        self,
        p1: &mut Pass1<C>,
        tok: &KmerTokenizer,
        wide: bool,
        unk_per_source: &[u64],
    ) -> Result<BuildReport> {
        let dir = self.staging.path();
        write_documents(dir, &p1.docs)?;
        write_records_tsv(&dir.join(RECORDS_FILE), &self.inputs, &p1.records)?;
        hf::save(tok, dir)?;

        let sources = source_infos(&self.inputs, p1, unk_per_source)?;
        let counts = corpus_counts(p1, unk_per_source.iter().sum());
        let tokenizer_sha = sha256_file(&dir.join(hf::TOKENIZER_FILE))?;
        let seconds = self.started.elapsed().as_secs_f64();
        let manifest = CorpusManifest {
            format_version: FORMAT_VERSION,
            genolm_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            build_seconds: seconds,
            tokenizer: TokenizerInfo {
                k: self.spec.k,
                stride: self.spec.stride,
                vocab_size: tok.vocab_size(),
                token_dtype: if wide { "u32" } else { "u16" }.into(),
                sha256: tokenizer_sha,
                from: self.cfg.tokenizer.from.clone(),
            },
            counts,
            sources,
            config: self.cfg.clone(),
        };
        let text = toml::to_string_pretty(&manifest).map_err(|e| Error::Config(e.to_string()))?;
        let mpath = dir.join(MANIFEST_FILE);
        std::fs::write(&mpath, text.as_bytes()).map_err(io_err(&mpath))?;
        if self.interrupted.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let final_dir = self.staging.commit()?;
        self.progress.finish();
        Ok(BuildReport {
            dir: final_dir,
            documents: manifest.counts.documents,
            valid_documents: manifest.counts.valid_documents,
            tokens: manifest.counts.tokens,
            bp: manifest.counts.bp,
            vocab_size: tok.vocab_size(),
            seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::config::TokenWidth;
    use crate::corpus::Corpus;

    /// Random bases with lowercase stretches, short N runs (`unk` k-mers) and long ones (which
    /// split documents).
    fn genome(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let mut seq: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        for _ in 0..len / 2000 {
            let at = rng.below(len as u64 - 40) as usize;
            let run = [1, 3, 12, 25][rng.below(4) as usize];
            seq[at..at + run].fill(b'N');
            let low = rng.below(len as u64 - 40) as usize;
            seq[low..low + 30].make_ascii_lowercase();
        }
        seq
    }

    fn write_fasta(path: &Path, records: &[(&str, &[u8])]) {
        let mut text = Vec::new();
        for (name, seq) in records {
            text.extend_from_slice(format!(">{name}\n").as_bytes());
            for line in seq.chunks(70) {
                text.extend_from_slice(line);
                text.push(b'\n');
            }
        }
        std::fs::write(path, text).unwrap();
    }

    /// Codes spilled to disk (a tiny in-memory limit, many small pass-2 windows) give the corpus
    /// built in memory, byte for byte, for every pairing of code and id width: u16 -> u16 and
    /// u32 -> u32 (remapped in place in the codes file), u16 -> u32 and u32 -> u16 (streamed).
    /// Each document's ids are also those the tokenizer gives its bases, and `unk`s are counted
    /// per source the same way.
    #[test]
    fn test_spilled_codes_give_the_in_memory_corpus() {
        let tmp = tempfile::tempdir().unwrap();
        let seqs = [genome(30_011, 1), genome(9_000, 2), genome(25_003, 3)];
        let (a, b) = (tmp.path().join("a.fa"), tmp.path().join("b.fa"));
        write_fasta(&a, &[("a1", &seqs[0]), ("a2", &seqs[1])]);
        write_fasta(&b, &[("b1", &seqs[2])]);
        let tiny = SpillLimits {
            memory_tokens: 1000,
            map_window_bytes: 4096,
        };
        let cases = [
            (3, 1, TokenWidth::Auto, 0, "u16"),
            (3, 1, TokenWidth::U32, 0, "u32"),
            (8, 2, TokenWidth::U32, 0, "u32"),
            (9, 3, TokenWidth::Auto, 500, "u16"),
        ];
        for (k, stride, width, max_vocab, dtype) in cases {
            let mut cfg = CorpusConfig::default();
            cfg.inputs.fasta = vec![a.clone(), b.clone()];
            cfg.tokenizer.k = Some(k);
            cfg.tokenizer.stride = Some(stride);
            cfg.tokenizer.token_width = width;
            cfg.tokenizer.max_vocab = max_vocab;
            let build = |name: &str, spill: SpillLimits| {
                let out = tmp.path().join(format!("{name}-{k}-{stride}-{dtype}"));
                build_corpus_with(&cfg, &out, false, &AtomicBool::new(false), false, spill)
                    .unwrap();
                Corpus::open(&out).unwrap()
            };
            let (memory, spilled) = (build("memory", SPILL_LIMITS), build("spilled", tiny));
            let case = format!("k={k} stride={stride} {dtype}");
            assert_eq!(spilled.manifest.tokenizer.token_dtype, dtype, "{case}");
            assert!(spilled.n_tokens() > 10 * tiny.memory_tokens, "{case}");
            let bytes = |c: &Corpus| std::fs::read(c.dir.join(TOKENS_FILE)).unwrap();
            assert!(
                bytes(&memory) == bytes(&spilled),
                "{case}: tokens.bin differs"
            );
            let unk = |c: &Corpus| -> Vec<u64> {
                c.manifest.sources.iter().map(|s| s.unk_tokens).collect()
            };
            assert_eq!(unk(&memory), unk(&spilled), "{case}");
            assert!(
                unk(&spilled).iter().all(|&n| n > 0),
                "{case}: N runs give unk"
            );
            let tok = hf::load(&spilled.dir).unwrap();
            for doc in &spilled.documents {
                let seq = &seqs[doc.record as usize];
                let bases = &seq[doc.start as usize..(doc.start + doc.n_bases as u64) as usize];
                assert_eq!(spilled.document_tokens(doc), tok.encode(bases), "{case}");
            }
        }
    }
}
