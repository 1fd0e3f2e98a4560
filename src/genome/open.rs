//! Opening a sequence file whatever its container: plain, gzip or bgzf; FASTA or GenBank.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::fasta::{read_error, FastaStream};
use super::genbank::GenBankStream;
use super::{Error, RecordStream, Result};

const READ_BUFFER: usize = 1 << 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequenceFormat {
    Fasta,
    GenBank,
}

impl std::fmt::Display for SequenceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SequenceFormat::Fasta => "fasta",
            SequenceFormat::GenBank => "genbank",
        })
    }
}

/// What a stream reports about the raw (compressed) bytes it reads: a count for progress bars and a
/// SHA-256 for provenance, computed on the way rather than by reading the file twice.
#[derive(Default)]
pub struct InputTap {
    pub bytes: AtomicU64,
    hasher: std::sync::Mutex<Option<Sha256>>,
    hashed: AtomicU64,
}

impl InputTap {
    /// Starts a new file, hashing what is read of it if `hash` (else it is hashed elsewhere).
    pub fn start_file(&self, hash: bool) {
        *self.hasher.lock().expect("tap lock") = hash.then(Sha256::new);
        self.hashed.store(0, Ordering::Relaxed);
    }

    /// The hex digest of the file read since `start_file` (a regular file is hashed again if the
    /// stream did not read it to the end; a pipe cannot be, and was read to its end), or `None` if
    /// it was started without hashing.
    pub fn finish_file(&self, path: &Path) -> Result<Option<String>> {
        let Some(hasher) = self.hasher.lock().expect("tap lock").take() else {
            return Ok(None);
        };
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() || self.hashed.load(Ordering::Relaxed) == meta.len() {
            return Ok(Some(hex(&hasher.finalize())));
        }
        sha256_file(path).map(Some)
    }
}

struct TappedReader {
    inner: File,
    tap: Option<Arc<InputTap>>,
}

impl Read for TappedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(tap) = &self.tap {
            tap.bytes.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(h) = tap.hasher.lock().expect("tap lock").as_mut() {
                h.update(&buf[..n]);
                tap.hashed.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        Ok(n)
    }
}

/// Opens a file as a byte stream, transparently decompressing gzip and bgzf (multi-member gzip).
pub fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    open_buffered(path, None, READ_BUFFER, io_threads())
}

/// Threads worth giving one reader's work (inflating bgzf blocks; reading files at once): one per
/// core, up to 8 (past that, parsing and tokenizing the bases are the limit).
pub fn io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Whether a stream that starts with `head` is bgzf: gzip whose first member carries the 'BC'
/// extra subfield (as bgzip and htslib write it), so its blocks inflate independently.
fn is_bgzf(head: &[u8]) -> bool {
    const FEXTRA: u8 = 0x04;
    head.len() >= 16
        && head[..3] == [0x1f, 0x8b, 8]
        && head[3] & FEXTRA != 0
        && head[12..16] == [b'B', b'C', 2, 0]
}

/// A file as a byte stream (gzip and bgzf decompressed) read through buffers of `capacity` bytes,
/// reporting what it reads to `tap`; bgzf is inflated on `threads` threads when that is more than one.
fn open_buffered(
    path: &Path,
    tap: Option<Arc<InputTap>>,
    capacity: usize,
    threads: usize,
) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::io(
            path,
            std::io::Error::other("is a directory, not a sequence file"),
        ));
    }
    let mut raw = BufReader::with_capacity(capacity, TappedReader { inner: file, tap });
    let magic = raw.fill_buf().map_err(|e| Error::io(path, e))?;
    if threads > 1 && is_bgzf(magic) {
        let threads = std::num::NonZero::new(threads).expect("more than one");
        let reader = noodles::bgzf::io::MultithreadedReader::with_worker_count(threads, raw);
        return Ok(Box::new(reader));
    }
    if magic.len() >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
        let decoder = MultiGzDecoder::new(raw);
        Ok(Box::new(BufReader::with_capacity(capacity, decoder)))
    } else {
        Ok(Box::new(raw))
    }
}

/// Looks at the first non-blank line of the (decompressed) stream.
fn sniff(path: &Path, reader: &mut dyn BufRead) -> Result<SequenceFormat> {
    loop {
        let buf = reader.fill_buf().map_err(|e| read_error(path, e))?;
        if buf.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip == buf.len() {
            reader.consume(skip);
            continue;
        }
        let rest = &buf[skip..];
        if rest[0] == b'>' {
            return Ok(SequenceFormat::Fasta);
        }
        if rest.starts_with(b"LOCUS") {
            return Ok(SequenceFormat::GenBank);
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(rest.len())
            .min(60);
        return Err(Error::UnknownFormat {
            path: path.to_path_buf(),
            first_line: String::from_utf8_lossy(&rest[..end]).into_owned(),
        });
    }
}

/// Detects the format of a sequence file without reading it all.
pub fn detect_format(path: &Path) -> Result<SequenceFormat> {
    // A small buffer: only the first line is looked at.
    let mut reader = open_buffered(path, None, 8 << 10, 1)?;
    sniff(path, &mut *reader)
}

/// Opens any supported sequence file as a [`RecordStream`]. `expected` (when given) must match the
/// detected format, so `--genbank x.fa` is an error rather than a surprise.
pub fn open_records(
    path: &Path,
    expected: Option<SequenceFormat>,
) -> Result<(SequenceFormat, Box<dyn RecordStream>)> {
    open_records_tapped(path, expected, None, io_threads())
}

/// [`open_records`], reporting the raw bytes it reads to `tap` (count and SHA-256), with bgzf
/// inflated on `inflate_threads` threads.
pub fn open_records_tapped(
    path: &Path,
    expected: Option<SequenceFormat>,
    tap: Option<Arc<InputTap>>,
    inflate_threads: usize,
) -> Result<(SequenceFormat, Box<dyn RecordStream>)> {
    let mut reader = open_buffered(path, tap, READ_BUFFER, inflate_threads)?;
    let format = sniff(path, &mut *reader)?;
    if let Some(want) = expected {
        if want != format {
            return Err(Error::FormatMismatch {
                path: path.to_path_buf(),
                detected: format.to_string(),
                given: want.to_string(),
            });
        }
    }
    let stream: Box<dyn RecordStream> = match format {
        SequenceFormat::Fasta => Box::new(FastaStream::new(reader, path)),
        SequenceFormat::GenBank => Box::new(GenBankStream::new(reader, path)),
    };
    Ok((format, stream))
}

/// Reads a whole small file (FASTA or GenBank) into (name, sequence) pairs.
pub fn read_sequences(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let (_, mut stream) = open_records(path, None)?;
    super::fasta::read_all(&mut *stream)
}

/// SHA-256 of a file's bytes, hex-encoded, for provenance records.
pub fn sha256_file(path: &Path) -> Result<String> {
    sha256_file_unless(path, &AtomicBool::new(false)).map(|d| d.expect("never stopped"))
}

/// [`sha256_file`] that gives up (`None`) once `stop` is set, for hashing beside other work.
pub fn sha256_file_unless(path: &Path, stop: &AtomicBool) -> Result<Option<String>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Some(hex(&hasher.finalize())))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn test_bgzf_is_told_from_plain_gzip() {
        let text = b">x\nACGTACGTAC\n".repeat(5000);
        let mut w = noodles::bgzf::io::Writer::new(Vec::new());
        w.write_all(&text).unwrap();
        let bgzf = w.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        assert!(is_bgzf(&bgzf));
        assert!(!is_bgzf(&gz));
        assert!(!is_bgzf(&text));
        assert!(!is_bgzf(&bgzf[..15]), "too short to tell");
    }
}
