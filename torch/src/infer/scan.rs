//! `genolm scan`: a classifier slid along whole chromosomes.
//!
//! A producer thread walks the layout's windows in canonical order, cutting their bases from a
//! rolling buffer (random access through .fai/.gzi, or the record stream), drops windows the N
//! policy skips and featurizes whole batches; the calling thread predicts each batch and hands the
//! scores to a [`WindowSink`] (the track writer, or a shard file). Memory is a window's bases and a
//! few batches, whatever the chromosome's length.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Instant;

use super::{Features, Featurizer, Predictor};
use crate::train::{Error, Result};
use genolm::genome::indexed::{is_gzip, sequence_length, with_suffix, Genome};
use genolm::genome::nucleotide::reverse_complement_in_place;
use genolm::genome::open::open_records;
use genolm::genome::{Interval, RecordStream, Region, Strand};
use genolm::track::{NPolicy, ScanLayout, ScanStats, ScoredWindow, Target, Window, WindowSink};

/// Bases read from the genome at a time.
const CHUNK: u64 = 1 << 20;

/// Sequence names and lengths of a genome, and how its bases are reached.
pub struct GenomeInfo {
    pub path: PathBuf,
    pub sequences: Vec<(String, u64)>,
    /// Random access through a .fai (plain FASTA, or bgzf with .gzi).
    pub indexed: bool,
}

impl GenomeInfo {
    /// Names and lengths from the index when there is one, else from one pass over the records
    /// (bases counted, not kept).
    pub fn open(path: &Path) -> Result<Self> {
        if with_suffix(path, ".fai").exists() {
            let g = Genome::open(path)?;
            return Ok(Self {
                path: path.to_path_buf(),
                sequences: g.sequences().to_vec(),
                indexed: true,
            });
        }
        let (_, mut stream) = open_records(path, None)?;
        let mut sequences = Vec::new();
        let mut scratch = Vec::with_capacity(CHUNK as usize);
        while let Some(name) = stream.next_record()? {
            let mut len = 0u64;
            loop {
                scratch.clear();
                let n = stream.read_bases(&mut scratch, CHUNK as usize)?;
                if n == 0 {
                    break;
                }
                len += n as u64;
            }
            sequences.push((name, len));
        }
        Ok(Self {
            path: path.to_path_buf(),
            sequences,
            indexed: false,
        })
    }

    fn length(&self, name: &str) -> Result<u64> {
        Ok(sequence_length(&self.path, &self.sequences, name)?)
    }

    /// The scan's targets: whole sequences (circular if asked), or the regions given, in genome
    /// order with overlapping regions of a sequence merged.
    pub fn targets(&self, regions: &[Interval], circular: bool) -> Result<Vec<Target>> {
        if regions.is_empty() {
            return Ok(self
                .sequences
                .iter()
                .map(|(name, length)| Target {
                    name: name.clone(),
                    length: *length,
                    start: 0,
                    end: *length,
                    circular,
                })
                .collect());
        }
        if !self.indexed && is_gzip(&self.path)? {
            return Err(Error::Setting {
                key: "--region".into(),
                problem: format!(
                    "{}: regions need random access, and this compressed FASTA has no index: \
                     recompress it with bgzip and index it (`zcat {0} | bgzip -@4 > genome.fa.gz \
                     && samtools faidx genome.fa.gz`, which writes .fai and .gzi), or scan it whole",
                    self.path.display()
                ),
            });
        }
        let order = |name: &str| self.sequences.iter().position(|(n, _)| n == name);
        let mut spans = Vec::new();
        for r in regions {
            let length = self.length(&r.name)?;
            if r.end > length || r.start >= r.end {
                return Err(Error::Setting {
                    key: format!("region {}:{}-{}", r.name, r.start + 1, r.end),
                    problem: format!("outside {} (length {length})", r.name),
                });
            }
            spans.push((
                order(&r.name).unwrap_or(0),
                r.start,
                r.end,
                length,
                r.name.clone(),
            ));
        }
        spans.sort();
        let mut targets: Vec<Target> = Vec::new();
        for (_, start, end, length, name) in spans {
            match targets.last_mut() {
                Some(t) if t.name == name && start <= t.end => t.end = t.end.max(end),
                _ => targets.push(Target {
                    name,
                    length,
                    start,
                    end,
                    circular: false,
                }),
            }
        }
        Ok(targets)
    }
}

/// Where the producer reads bases from.
enum Bases {
    Indexed(Box<Genome>),
    Stream {
        stream: Box<dyn RecordStream>,
        /// The record the stream is in.
        record: Option<String>,
        /// Bases read from the stream but not yet handed out: `[carry_start, carry_start + len)`
        /// (the reader returns whole lines, past what was asked).
        carry: Vec<u8>,
        carry_start: u64,
    },
}

/// Bases `[start, start + buf.len())` of the current target's chromosome.
struct Rolling {
    start: u64,
    buf: Vec<u8>,
}

impl Rolling {
    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Forgets bases before `p` (in large steps, so the copy is rare). Past the bases held (the
    /// windows of another shard were passed over), the buffer moves to `p`, so nothing before it is
    /// ever read into memory.
    fn drop_before(&mut self, p: u64) {
        if p >= self.end() {
            self.buf.clear();
            self.start = p;
            return;
        }
        let n = p.saturating_sub(self.start);
        if n >= CHUNK {
            self.buf.drain(..n as usize);
            self.start += n;
        }
    }

    fn slice(&self, a: u64, b: u64) -> &[u8] {
        &self.buf[(a - self.start) as usize..(b - self.start) as usize]
    }
}

impl Bases {
    fn open(info: &GenomeInfo) -> Result<Self> {
        if info.indexed {
            return Ok(Bases::Indexed(Box::new(Genome::open(&info.path)?)));
        }
        let (_, stream) = open_records(&info.path, None)?;
        Ok(Bases::Stream {
            stream,
            record: None,
            carry: Vec::with_capacity(CHUNK as usize),
            carry_start: 0,
        })
    }

    /// A rolling buffer at the start of `t`.
    fn begin(&mut self, t: &Target) -> Result<Rolling> {
        if let Bases::Stream {
            stream,
            record,
            carry,
            carry_start,
        } = self
        {
            // Targets come in file order; the next one is in this record or a later one.
            while record.as_deref() != Some(t.name.as_str()) || *carry_start > t.start {
                match stream.next_record()? {
                    Some(name) => {
                        *record = Some(name);
                        carry.clear();
                        *carry_start = 0;
                    }
                    None => {
                        return Err(Error::Mismatch {
                            subject: format!("sequence '{}'", t.name),
                            found: "the genome ended before the scan reached it".into(),
                            expected: "it was there when the scan started: was the file changed?"
                                .into(),
                        })
                    }
                }
            }
        }
        Ok(Rolling {
            start: t.start,
            buf: Vec::new(),
        })
    }

    /// Reads until `roll` holds bases up to `upto` (within `t`).
    fn fill(&mut self, t: &Target, roll: &mut Rolling, upto: u64) -> Result<()> {
        while roll.end() < upto {
            match self {
                Bases::Indexed(genome) => {
                    let end = (roll.end() + CHUNK).max(upto).min(t.end);
                    let seq = genome.fetch(&Interval {
                        name: t.name.clone(),
                        start: roll.end(),
                        end,
                        strand: Strand::Forward,
                        label: None,
                    })?;
                    roll.buf.extend_from_slice(&seq);
                }
                Bases::Stream {
                    stream,
                    carry,
                    carry_start,
                    ..
                } => {
                    if carry.is_empty() {
                        let n = stream.read_bases(carry, CHUNK as usize)? as u64;
                        if n == 0 {
                            return Err(Error::Mismatch {
                                subject: format!("sequence '{}'", t.name),
                                found: "shorter than when the scan started".into(),
                                expected: format!(
                                    "{} bases were counted before: was the file changed?",
                                    t.length
                                ),
                            });
                        }
                    }
                    // Bases before the buffer's end are not wanted; those past the target wait.
                    let carry_end = *carry_start + carry.len() as u64;
                    let from = roll.end().clamp(*carry_start, carry_end);
                    let to = t.end.clamp(from, carry_end);
                    roll.buf.extend_from_slice(
                        &carry[(from - *carry_start) as usize..(to - *carry_start) as usize],
                    );
                    carry.drain(..(to - *carry_start) as usize);
                    *carry_start = to;
                }
            }
        }
        Ok(())
    }
}

/// A batch cut by the producer: its windows in order, which of them were featurized (the others
/// are skipped), and the features of those.
struct Batch {
    windows: Vec<Window>,
    scored: Vec<bool>,
    features: Option<Features>,
    /// Bases of the scan passed once this batch is done (for the progress bar).
    progress_bases: u64,
}

fn is_acgt_only(s: &[u8]) -> bool {
    s.iter().all(|&b| matches!(b, b'A' | b'C' | b'G' | b'T'))
}

/// The producer: windows `[first, end)` of the canonical order, in batches.
struct Producer {
    layout: ScanLayout,
    info: GenomeInfo,
    featurizer: Arc<dyn Featurizer>,
    min_len: u64,
    range: (u64, u64),
}

impl Producer {
    fn run(self, tx: std::sync::mpsc::SyncSender<Result<Batch>>) {
        if let Err(e) = self.produce(&tx) {
            let _ = tx.send(Err(e));
        }
    }

    fn produce(&self, tx: &std::sync::mpsc::SyncSender<Result<Batch>>) -> Result<()> {
        let mut bases = Bases::open(&self.info)?;
        let batch_size = self.layout.batch as u64;
        let (first, end) = self.range;
        let mut index = 0u64;
        let mut done_bases = 0u64;
        let mut windows = Vec::new();
        let mut seqs: Vec<Vec<u8>> = Vec::new();
        let mut scored = Vec::new();
        for (ti, t) in self.layout.targets.iter().enumerate() {
            let n_target = self.layout.n_windows_of(t);
            if index + n_target <= first || index >= end {
                index += n_target;
                done_bases += t.bases();
                continue;
            }
            let mut roll = bases.begin(t)?;
            if t.circular {
                bases.fill(t, &mut roll, t.end)?;
            }
            for (start, len) in self.layout.starts(t) {
                for &strand in self.layout.strands.strands() {
                    let i = index;
                    index += 1;
                    if i < first || i >= end {
                        continue;
                    }
                    let w = Window {
                        target: ti as u32,
                        start,
                        len,
                        strand,
                    };
                    let seq = self.cut(&mut bases, t, &mut roll, &w)?;
                    let keep = len >= self.min_len
                        && (self.layout.n_policy == NPolicy::Score || is_acgt_only(&seq));
                    if keep {
                        seqs.push(seq);
                    }
                    scored.push(keep);
                    windows.push(w);
                    if (i + 1).is_multiple_of(batch_size) || i + 1 == end {
                        let progress = done_bases + (start + len).min(t.end) - t.start;
                        let batch = self.batch(&mut windows, &mut seqs, &mut scored, progress);
                        if tx.send(Ok(batch)).is_err() {
                            return Ok(()); // the consumer stopped (an error, Ctrl-C)
                        }
                    }
                }
                if !t.circular {
                    // Later windows start here or after (the right-aligned last one too).
                    roll.drop_before(start);
                }
            }
            done_bases += t.bases();
            if index >= end {
                break;
            }
        }
        if !windows.is_empty() {
            let batch = self.batch(&mut windows, &mut seqs, &mut scored, done_bases);
            let _ = tx.send(Ok(batch));
        }
        Ok(())
    }

    fn batch(
        &self,
        windows: &mut Vec<Window>,
        seqs: &mut Vec<Vec<u8>>,
        scored: &mut Vec<bool>,
        progress_bases: u64,
    ) -> Batch {
        let refs: Vec<&[u8]> = seqs.iter().map(Vec::as_slice).collect();
        let features = (!refs.is_empty()).then(|| self.featurizer.featurize(&refs));
        seqs.clear();
        Batch {
            windows: std::mem::take(windows),
            scored: std::mem::take(scored),
            features,
            progress_bases,
        }
    }

    /// The window's bases, reverse-complemented on '-'.
    fn cut(
        &self,
        bases: &mut Bases,
        t: &Target,
        roll: &mut Rolling,
        w: &Window,
    ) -> Result<Vec<u8>> {
        let end = w.start + w.len;
        let mut seq = if end <= t.length {
            bases.fill(t, roll, end)?;
            roll.slice(w.start, end).to_vec()
        } else {
            // Wraps the origin: the whole chromosome is in the buffer (circular).
            let mut s = roll.slice(w.start, t.length).to_vec();
            s.extend_from_slice(roll.slice(0, end - t.length));
            s
        };
        if w.strand == Strand::Reverse {
            reverse_complement_in_place(&mut seq);
        }
        Ok(seq)
    }
}

/// Runs windows `range` of `layout` through `p` into `sink`. `class_idx` are the positions of
/// the layout's classes among the predictor's. Ctrl-C (`stop`) ends it after the current batch
/// with [`Error::Cancelled`] naming `out`.
#[allow(clippy::too_many_arguments)]
pub fn scan(
    p: &dyn Predictor,
    layout: &ScanLayout,
    info: GenomeInfo,
    range: (u64, u64),
    class_idx: &[usize],
    sink: &mut dyn WindowSink,
    progress: bool,
    stop: &AtomicBool,
    out: &Path,
) -> Result<ScanStats> {
    let started = Instant::now();
    let producer = Producer {
        layout: layout.clone(),
        info,
        featurizer: p.featurizer(),
        min_len: p.min_len() as u64,
        range,
    };
    // Two batches ahead: the next one is cut and featurized while this one is predicted.
    let (tx, rx) = sync_channel::<Result<Batch>>(2);
    let handle = std::thread::Builder::new()
        .name("genolm-scan-windows".into())
        .spawn(move || producer.run(tx))
        .map_err(|e| Error::Internal(format!("cannot start the window thread: {e}")))?;
    let result = consume(p, layout, rx, class_idx, sink, progress, stop, out, started);
    let _ = handle.join();
    result
}

#[allow(clippy::too_many_arguments)]
fn consume(
    p: &dyn Predictor,
    layout: &ScanLayout,
    rx: Receiver<Result<Batch>>,
    class_idx: &[usize],
    sink: &mut dyn WindowSink,
    progress: bool,
    stop: &AtomicBool,
    out: &Path,
    started: Instant,
) -> Result<ScanStats> {
    let total = layout.bases();
    let bar = genolm::progress::Progress::bases(total, "scan", progress);
    let (mut scored_n, mut skipped_n) = (0u64, 0u64);
    for batch in rx {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled {
                path: out.to_path_buf(),
            });
        }
        let batch = batch?;
        let probs = match batch.features {
            Some(f) => p.predict_features(f, layout.batch)?,
            None => Vec::new(),
        };
        let mut rows = probs.into_iter();
        for (w, &scored) in batch.windows.iter().zip(&batch.scored) {
            let scores = if scored {
                let row = rows
                    .next()
                    .ok_or_else(|| Error::Internal("a batch lost rows".into()))?;
                scored_n += 1;
                Some(class_idx.iter().map(|&c| row[c] as f32).collect())
            } else {
                skipped_n += 1;
                None
            };
            sink.accept(&ScoredWindow { window: *w, scores })?;
        }
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_bases(
            batch.progress_bases,
            format!("{:.0} windows/s", (scored_n + skipped_n) as f64 / secs),
        );
    }
    bar.finish();
    Ok(ScanStats::new(
        scored_n,
        skipped_n,
        total,
        started.elapsed().as_secs_f64(),
        genolm::mem::peak_rss_bytes(),
    ))
}

/// Regions of `--region` (1-based, inclusive) and `--regions` (BED) as intervals.
pub fn regions_of(
    regions: &[Region],
    bed: Option<&Path>,
    info: &GenomeInfo,
) -> Result<Vec<Interval>> {
    let mut out = Vec::new();
    for r in regions {
        // The length closes an open-ended region; GenomeInfo::targets checks the bounds of all.
        out.push(r.to_interval(info.length(&r.name)?));
    }
    if let Some(bed) = bed {
        let cols = genolm::genome::bed::BedColumns {
            label: None,
            strand: None,
        };
        out.extend(genolm::genome::bed::read_bed(bed, cols)?);
    }
    Ok(out)
}
