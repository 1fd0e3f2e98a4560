//! Cutting records into documents, streamed: the reader side of the corpus builder.
//!
//! A document ends at the end of a record, after `doc_len` bases, or at a run of at least
//! `n_run_split` non-ACGT bases (the run is dropped). Documents are handed to the tokenizer in blocks
//! of bounded size; a document longer than a block continues in the next one, which starts with the
//! bases of the first k-mer not yet tokenized, so pieces tokenize independently and exactly.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use crate::genome::nucleotide::{acgt_prefix_len, non_acgt_prefix_len, BaseCounts};
use crate::genome::open::InputTap;
use crate::genome::{self, RecordStream, SequenceFormat};
use crate::tokenize::KmerSpec;

/// Bases per block handed to the tokenizer: small enough that the few blocks in flight stay in the
/// CPU's caches (every block buffer is reused), large enough that handing one over is cheap.
pub const BLOCK_BASES: usize = 1 << 18;
/// Block buffers in circulation: one filling, two queued, one being tokenized.
pub const BLOCK_POOL: usize = 4;
const READ_PIECE: usize = 1 << 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocStart {
    pub record: u32,
    pub start: u64,
}

#[derive(Debug, Clone)]
pub struct Piece {
    pub range: Range<usize>,
    /// Set on the first piece of a document.
    pub starts_doc: Option<DocStart>,
    /// Genome bases of the document this piece adds (excluding the overlap carried from the last piece).
    pub new_bases: u64,
    /// Only A/C/G/T: the tokenizer may skip its validity tracking.
    pub clean: bool,
}

#[derive(Debug, Clone)]
pub struct RecordInfo {
    pub source: usize,
    pub name: String,
    pub length: u64,
    pub bases: BaseCounts,
    pub dropped_n: u64,
}

#[derive(Debug, Default)]
pub struct Block {
    pub bases: Vec<u8>,
    pub pieces: Vec<Piece>,
    /// Records finished in this block.
    pub records: Vec<RecordInfo>,
    /// Input files finished in this block: (source index, sha256).
    pub sources_done: Vec<(usize, String)>,
    /// The last block of an input file (each file's blocks come in order, and no block holds
    /// two files, so several readers can each take files of their own).
    pub ends_file: bool,
}

pub struct SegmentParams {
    pub spec: KmerSpec,
    pub doc_len: u64,
    pub n_run_split: u64,
    /// Bases per block ([`BLOCK_BASES`] outside tests).
    pub block_bases: usize,
    /// Threads a reader may inflate a bgzf file on.
    pub inflate_threads: usize,
}

/// Turns a stream of bases into document pieces inside blocks.
pub struct Segmenter<'a> {
    params: &'a SegmentParams,
    tx: &'a SyncSender<Result<Block, genome::Error>>,
    /// Base buffers handed back by the consumer, reused so memory is touched once.
    recycle: Option<&'a Receiver<Vec<u8>>>,
    /// Block buffers allocated so far (at most [`BLOCK_POOL`] when buffers come back).
    allocated: usize,
    block: Block,
    /// Start of the current piece in `block.bases`, when a document is open.
    piece_start: Option<usize>,
    piece_doc: Option<DocStart>,
    piece_new_bases: u64,
    piece_clean: bool,
    doc_bases: u64,
    record: u32,
    /// Genome position of the next base to place or drop.
    cursor: u64,
    pending_n: u64,
    pub dropped_n: u64,
}

impl<'a> Segmenter<'a> {
    pub fn new(
        params: &'a SegmentParams,
        tx: &'a SyncSender<Result<Block, genome::Error>>,
        recycle: Option<&'a Receiver<Vec<u8>>>,
    ) -> Self {
        let mut seg = Self {
            params,
            tx,
            recycle,
            allocated: 0,
            block: Block::default(),
            piece_start: None,
            piece_doc: None,
            piece_new_bases: 0,
            piece_clean: true,
            doc_bases: 0,
            record: 0,
            cursor: 0,
            pending_n: 0,
            dropped_n: 0,
        };
        seg.block.bases = seg.next_buffer();
        seg
    }

    pub fn start_record(&mut self, record: u32) {
        self.record = record;
        self.cursor = 0;
        self.pending_n = 0;
        self.dropped_n = 0;
    }

    /// Appends a run of bases to the open document (opening one if needed), cutting documents at
    /// `doc_len` and blocks at `block_bases`. Works in slices: a genome without N is a few memcpys.
    /// `clean` says the run is only A/C/G/T.
    fn place_run(&mut self, mut run: &[u8], clean: bool) -> bool {
        while !run.is_empty() {
            if self.piece_start.is_none() {
                self.piece_start = Some(self.block.bases.len());
                self.piece_doc = Some(DocStart {
                    record: self.record,
                    start: self.cursor,
                });
                self.piece_new_bases = 0;
                self.doc_bases = 0;
                self.piece_clean = true;
            }
            self.piece_clean &= clean;
            let room_doc = match self.params.doc_len {
                0 => usize::MAX,
                d => (d - self.doc_bases) as usize,
            };
            let room_block = self
                .params
                .block_bases
                .saturating_sub(self.block.bases.len())
                .max(1);
            let take = run.len().min(room_doc).min(room_block);
            self.block.bases.extend_from_slice(&run[..take]);
            run = &run[take..];
            self.piece_new_bases += take as u64;
            self.doc_bases += take as u64;
            self.cursor += take as u64;
            if self.params.doc_len > 0 && self.doc_bases == self.params.doc_len {
                self.end_doc();
            }
            if self.block.bases.len() >= self.params.block_bases && !self.flush_block() {
                return false;
            }
        }
        true
    }

    fn emit_piece(&mut self) {
        if let Some(start) = self.piece_start {
            self.block.pieces.push(Piece {
                range: start..self.block.bases.len(),
                starts_doc: self.piece_doc.take(),
                new_bases: self.piece_new_bases,
                clean: self.piece_clean,
            });
        }
    }

    fn end_doc(&mut self) {
        self.emit_piece();
        self.piece_start = None;
    }

    /// Sends the full block on; an open document continues in the next block from its first
    /// untokenized k-mer. Returns false when the receiver has gone (it stopped on an error).
    fn flush_block(&mut self) -> bool {
        let carry = self.piece_start.map(|start| {
            self.emit_piece();
            let len = self.block.bases.len() - start;
            let spec = self.params.spec;
            let consumed = spec.n_tokens(len) * spec.stride;
            self.block.bases[start + consumed..].to_vec()
        });
        let block = std::mem::take(&mut self.block);
        if self.tx.send(Ok(block)).is_err() {
            return false;
        }
        self.block.bases = self.next_buffer();
        if let Some(carry) = carry {
            self.block.bases.extend_from_slice(&carry);
            self.piece_start = Some(0);
            self.piece_new_bases = 0;
        }
        true
    }

    /// A buffer for the next block: a returned one when the pool is fully allocated (waiting for it,
    /// so the same few buffers cycle through the caches), else a new one with room for a whole block.
    fn next_buffer(&mut self) -> Vec<u8> {
        let returned = match self.recycle {
            Some(r) if self.allocated >= BLOCK_POOL => r.recv().ok(),
            Some(r) => r.try_recv().ok(),
            None => None,
        };
        if let Some(mut buffer) = returned {
            buffer.clear();
            return buffer;
        }
        self.allocated += 1;
        Vec::with_capacity(self.params.block_bases + self.params.spec.k)
    }

    /// Feeds bases of the current record. Returns false if the consumer has stopped.
    pub fn feed(&mut self, mut bases: &[u8]) -> bool {
        while !bases.is_empty() {
            let acgt = acgt_prefix_len(bases);
            if acgt > 0 {
                if self.pending_n > 0 && !self.resolve_pending(false) {
                    return false;
                }
                if !self.place_run(&bases[..acgt], true) {
                    return false;
                }
                bases = &bases[acgt..];
            }
            let other = non_acgt_prefix_len(bases);
            self.pending_n += other as u64;
            bases = &bases[other..];
        }
        true
    }

    /// Feeds bases known to be only A/C/G/T (the reader counted no other base in them): no scan.
    pub fn feed_clean(&mut self, bases: &[u8]) -> bool {
        if bases.is_empty() {
            return true;
        }
        if self.pending_n > 0 && !self.resolve_pending(false) {
            return false;
        }
        self.place_run(bases, true)
    }

    /// Decides what a held-back run of non-ACGT bases is: a split (dropped) or part of the document.
    /// Their letters do not matter downstream (any k-mer with one is `unk`), so they are placed as N.
    fn resolve_pending(&mut self, at_record_end: bool) -> bool {
        const NS: [u8; 4096] = [b'N'; 4096];
        let run = std::mem::take(&mut self.pending_n);
        let split = self.params.n_run_split > 0 && run >= self.params.n_run_split;
        if split || (at_record_end && self.piece_start.is_none()) {
            self.end_doc();
            self.cursor += run;
            self.dropped_n += run;
            return true;
        }
        let mut left = run as usize;
        while left > 0 {
            let take = left.min(NS.len());
            if !self.place_run(&NS[..take], false) {
                return false;
            }
            left -= take;
        }
        true
    }

    pub fn end_record(&mut self) -> bool {
        if self.pending_n > 0 && !self.resolve_pending(true) {
            return false;
        }
        self.end_doc();
        true
    }

    pub fn push_record_info(&mut self, info: RecordInfo) {
        self.block.records.push(info);
    }

    pub fn push_source_done(&mut self, source: usize, sha256: String) {
        self.block.sources_done.push((source, sha256));
    }

    /// Sends the last block of the current input file; with `more` files to come, takes a
    /// buffer for the next one. Returns false if the consumer has stopped.
    pub fn end_file(&mut self, more: bool) -> bool {
        self.end_doc();
        let mut block = std::mem::take(&mut self.block);
        block.ends_file = true;
        if self.tx.send(Ok(block)).is_err() {
            return false;
        }
        if more {
            self.block.bases = self.next_buffer();
        }
        true
    }
}

/// A reader's ends of its two channels: blocks out, block buffers back.
pub struct ReaderSide {
    pub tx: SyncSender<Result<Block, genome::Error>>,
    pub recycle: Receiver<Vec<u8>>,
}

/// Reads the inputs numbered `files` (ascending), segments each and sends its blocks down `tx`,
/// the last block of each file marked. Errors are sent too. Record numbers in the blocks count
/// from 0 in each file (the consumer, which sees the files in order, offsets them).
/// `hash_inline[i]`: hash input i from the bytes read here (a pipe, say), rather than elsewhere.
pub fn read_inputs(
    inputs: &[(PathBuf, SequenceFormat)],
    files: &[usize],
    hash_inline: &[bool],
    params: &SegmentParams,
    ends: ReaderSide,
    interrupted: &AtomicBool,
    tap: &Arc<InputTap>,
) {
    let ReaderSide { tx, recycle } = ends;
    let mut seg = Segmenter::new(params, &tx, Some(&recycle));
    let mut buf = Vec::with_capacity(READ_PIECE + 4096);
    for (nth, &source) in files.iter().enumerate() {
        let (path, format) = &inputs[source];
        let mut record_id: u32 = 0;
        tap.start_file(hash_inline[source]);
        let opened = genome::open::open_records_tapped(
            path,
            Some(*format),
            Some(Arc::clone(tap)),
            params.inflate_threads,
        );
        let mut stream: Box<dyn RecordStream> = match opened {
            Ok((_, s)) => s,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        loop {
            let name = match stream.next_record() {
                Ok(Some(name)) => name,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            seg.start_record(record_id);
            let mut info = RecordInfo {
                source,
                name,
                length: 0,
                bases: BaseCounts::default(),
                dropped_n: 0,
            };
            loop {
                if interrupted.load(Ordering::Relaxed) {
                    return;
                }
                buf.clear();
                let other_before = stream.composition().other;
                match stream.read_bases(&mut buf, READ_PIECE) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                info.length += buf.len() as u64;
                let clean = stream.composition().other == other_before;
                let fed = if clean {
                    seg.feed_clean(&buf)
                } else {
                    seg.feed(&buf)
                };
                if !fed {
                    return;
                }
            }
            info.bases = stream.composition();
            if !seg.end_record() {
                return;
            }
            info.dropped_n = seg.dropped_n;
            seg.push_record_info(info);
            record_id += 1;
        }
        // The record check (empty / all-N) of the last record runs on the final next_record().
        drop(stream);
        match tap.finish_file(path) {
            Ok(Some(digest)) => seg.push_source_done(source, digest),
            Ok(None) => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
        if !seg.end_file(nth + 1 < files.len()) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    /// Runs the segmenter over records and returns (doc start, doc bases) pairs, rebuilt from pieces.
    fn segment(
        records: &[&[u8]],
        doc_len: u64,
        n_run_split: u64,
        spec: KmerSpec,
    ) -> Vec<(DocStart, Vec<u8>)> {
        let a = segment_blocks(records, doc_len, n_run_split, spec, BLOCK_BASES);
        for block_bases in [1, 2, 5, 7] {
            assert_eq!(
                a,
                segment_blocks(records, doc_len, n_run_split, spec, block_bases),
                "block {block_bases}"
            );
        }
        a
    }

    fn segment_blocks(
        records: &[&[u8]],
        doc_len: u64,
        n_run_split: u64,
        spec: KmerSpec,
        block_bases: usize,
    ) -> Vec<(DocStart, Vec<u8>)> {
        let params = SegmentParams {
            spec,
            doc_len,
            n_run_split,
            block_bases,
            inflate_threads: 1,
        };
        let (tx, rx) = sync_channel(1000);
        {
            let mut seg = Segmenter::new(&params, &tx, None);
            for (i, r) in records.iter().enumerate() {
                seg.start_record(i as u32);
                for chunk in r.chunks(3) {
                    let clean = chunk.iter().all(|b| b"ACGT".contains(b));
                    assert!(if clean {
                        seg.feed_clean(chunk)
                    } else {
                        seg.feed(chunk)
                    });
                }
                assert!(seg.end_record());
            }
            assert!(seg.end_file(false));
        }
        drop(tx);
        let mut docs: Vec<(DocStart, Vec<u8>)> = Vec::new();
        for block in rx {
            let block = block.unwrap();
            for p in &block.pieces {
                let bases = &block.bases[p.range.clone()];
                match p.starts_doc {
                    Some(start) => docs.push((start, bases.to_vec())),
                    None => {
                        // A continuation repeats the bases of the first untokenized k-mer.
                        let overlap = bases.len() - p.new_bases as usize;
                        let last = &mut docs.last_mut().unwrap().1;
                        assert_eq!(&last[last.len() - overlap..], &bases[..overlap]);
                        last.extend_from_slice(&bases[overlap..]);
                    }
                }
            }
        }
        docs
    }

    #[test]
    fn test_long_n_runs_split_and_short_runs_stay() {
        let spec = KmerSpec::new(3, 1).unwrap();
        let docs = segment(&[b"ACGTNNACGTNNNNNGGGCCC"], 0, 5, spec);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].1, b"ACGTNNACGT");
        assert_eq!(docs[1].0.start, 15);
        assert_eq!(docs[1].1, b"GGGCCC");
    }

    #[test]
    fn test_doc_len_cuts_and_coordinates() {
        let spec = KmerSpec::new(2, 2).unwrap();
        let docs = segment(&[b"AAAACCCCGG", b"TTTT"], 4, 0, spec);
        let got: Vec<(u32, u64, &[u8])> = docs
            .iter()
            .map(|(s, b)| (s.record, s.start, b.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 0, &b"AAAA"[..]),
                (0, 4, &b"CCCC"[..]),
                (0, 8, &b"GG"[..]),
                (1, 0, &b"TTTT"[..])
            ]
        );
    }

    #[test]
    fn test_leading_and_trailing_n() {
        let spec = KmerSpec::new(2, 1).unwrap();
        let docs = segment(&[b"NNACGTNN"], 0, 3, spec);
        assert_eq!(docs[0].1, b"NNACGTNN");
        assert_eq!(docs[0].0.start, 0);
        let docs = segment(&[b"NNNNACGTNNNN"], 0, 3, spec);
        assert_eq!((docs[0].0.start, docs[0].1.as_slice()), (4, &b"ACGT"[..]));
    }
}
