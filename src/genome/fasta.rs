//! A streaming FASTA parser: records are read line by line into caller-sized pieces.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::nucleotide::{describe_byte, push_plain_lines, push_sequence_line_counted};
use super::{Error, RecordStream, RecordTally, Result};

pub struct FastaStream<R> {
    reader: R,
    path: PathBuf,
    line: Vec<u8>,
    /// Line number of the line held in `line` (1-based).
    line_no: u64,
    /// A header line read ahead of its record (the end marker of the previous record).
    pending_header: Option<(String, u64)>,
    current: Option<(String, u64)>,
    tally: RecordTally,
    eof: bool,
    at_line_start: bool,
}

impl<R: BufRead + Send> FastaStream<R> {
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Self {
        Self {
            reader,
            path: path.into(),
            line: Vec::with_capacity(256),
            line_no: 0,
            pending_header: None,
            current: None,
            tally: RecordTally::default(),
            eof: false,
            at_line_start: true,
        }
    }

    /// Reads the next line into `self.line` (without the newline). Returns false at end of input.
    fn next_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|e| read_error(&self.path, e))?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.line_no += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(true)
    }

    fn parse_header(&self) -> Result<String> {
        let text = String::from_utf8_lossy(&self.line[1..]);
        match text.split_whitespace().next() {
            Some(name) => Ok(name.to_string()),
            None => Err(Error::parse(
                &self.path,
                self.line_no,
                "FASTA header '>' has no sequence name",
            )),
        }
    }

    fn finish_current(&mut self) -> Result<()> {
        if let Some((name, line)) = self.current.take() {
            self.tally.check(&self.path, &name, line)?;
        }
        Ok(())
    }

    fn first_header(&mut self) -> Result<()> {
        while self.next_line()? {
            let first = self.line.iter().position(|b| !b.is_ascii_whitespace());
            match first {
                None => continue,
                Some(i) if self.line[i] == b'>' && i == 0 => {
                    self.pending_header = Some((self.parse_header()?, self.line_no));
                    return Ok(());
                }
                Some(_) => {
                    let shown: String = String::from_utf8_lossy(&self.line)
                        .chars()
                        .take(60)
                        .collect();
                    return Err(Error::UnknownFormat {
                        path: self.path.clone(),
                        first_line: shown,
                    });
                }
            }
        }
        Err(Error::Empty {
            path: self.path.clone(),
        })
    }
}

pub(crate) fn read_error(path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::InvalidInput | ErrorKind::InvalidData => {
            Error::Gzip {
                path: path.to_path_buf(),
                source: e,
            }
        }
        _ => Error::io(path, e),
    }
}

impl<R: BufRead + Send> RecordStream for FastaStream<R> {
    fn next_record(&mut self) -> Result<Option<String>> {
        if self.line_no == 0 && !self.eof {
            self.first_header()?;
        }
        // Skip whatever is left of the current record.
        let mut sink = Vec::new();
        while self.current.is_some() && self.read_bases(&mut sink, 1 << 20)? > 0 {
            sink.clear();
        }
        self.finish_current()?;
        match self.pending_header.take() {
            Some((name, line)) => {
                self.tally = RecordTally::default();
                self.current = Some((name.clone(), line));
                Ok(Some(name))
            }
            None => Ok(None),
        }
    }

    fn read_bases(&mut self, out: &mut Vec<u8>, max: usize) -> Result<usize> {
        if self.current.is_none() || self.pending_header.is_some() || self.eof {
            return Ok(0);
        }
        let start = out.len();
        // Works on the reader's buffer directly: a line is found with memchr and normalised in place
        // into `out`, with no per-line copy.
        while out.len() - start < max {
            let buf = self
                .reader
                .fill_buf()
                .map_err(|e| read_error(&self.path, e))?;
            if buf.is_empty() {
                self.eof = true;
                break;
            }
            if self.at_line_start && (buf[0] == b'>' || buf[0] == b';') {
                let header = buf[0] == b'>';
                self.next_line()?;
                if header {
                    self.pending_header = Some((self.parse_header()?, self.line_no));
                    break;
                }
                continue; // old-style FASTA comment line
            }
            // Many plain lines at once where the text allows; what it stops at goes line by line.
            let room = (max - (out.len() - start))
                .saturating_add(64)
                .min(buf.len());
            let (consumed, newlines) = push_plain_lines(&buf[..room], out, &mut self.tally.counts);
            if consumed > 0 {
                self.at_line_start = buf[consumed - 1] == b'\n';
                self.line_no += newlines;
                self.reader.consume(consumed);
                continue;
            }
            let (chunk, consumed, line_ends) = match memchr::memchr(b'\n', buf) {
                Some(p) => (&buf[..p], p + 1, true),
                None => (buf, buf.len(), false),
            };
            if let Err(i) = push_sequence_line_counted(chunk, out, &mut self.tally.counts) {
                let bad = chunk[i];
                let record = self
                    .current
                    .as_ref()
                    .map(|c| c.0.clone())
                    .unwrap_or_default();
                return Err(Error::parse(
                    &self.path,
                    self.line_no + 1,
                    format!(
                        "{} is not a nucleotide (record '{record}')",
                        describe_byte(bad)
                    ),
                ));
            }
            self.reader.consume(consumed);
            if line_ends {
                self.line_no += 1;
            }
            self.at_line_start = line_ends;
        }
        Ok(out.len() - start)
    }

    fn composition(&self) -> crate::genome::nucleotide::BaseCounts {
        self.tally.counts
    }
}

/// Reads every record of a (small) stream into memory: (name, sequence) pairs.
pub fn read_all(stream: &mut dyn RecordStream) -> Result<Vec<(String, Vec<u8>)>> {
    read_batch(stream, usize::MAX, usize::MAX)
}

/// Reads the stream's next records into memory: up to `max_records` of them, stopping once
/// `max_bases` bases are read (a record is never split), so large inputs go chunk by chunk.
/// Empty at the end of the stream.
pub fn read_batch(
    stream: &mut dyn RecordStream,
    max_records: usize,
    max_bases: usize,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut records = Vec::new();
    let mut bases = 0;
    while records.len() < max_records && bases < max_bases {
        let Some(name) = stream.next_record()? else {
            break;
        };
        let mut seq = Vec::new();
        while stream.read_bases(&mut seq, 1 << 22)? > 0 {}
        bases += seq.len();
        records.push((name, seq));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut s = FastaStream::new(text.as_bytes(), "test.fa");
        read_all(&mut s)
    }

    #[test]
    fn test_multi_record_wrapped_crlf_lowercase() {
        let recs = parse(">chr1 desc\r\nacgT\r\nNNac\r\n>chr2\nGG\nCC\n").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0], ("chr1".to_string(), b"ACGTNNAC".to_vec()));
        assert_eq!(recs[1], ("chr2".to_string(), b"GGCC".to_vec()));
    }

    #[test]
    fn test_batches_follow_on_to_the_whole_file() {
        let text = ">a\nAC\nGT\n>b\nGGGGGG\n>c\nT\n>d\nCC\n>e\nA\n";
        let whole = parse(text).unwrap();
        for (max_records, max_bases) in [(1, usize::MAX), (2, usize::MAX), (usize::MAX, 5), (3, 1)]
        {
            let mut s = FastaStream::new(text.as_bytes(), "test.fa");
            let mut joined = Vec::new();
            loop {
                let batch = read_batch(&mut s, max_records, max_bases).unwrap();
                if batch.is_empty() {
                    break;
                }
                assert!(batch.len() <= max_records);
                let bases: usize = batch.iter().map(|r| r.1.len()).sum();
                let last = batch.last().unwrap().1.len();
                assert!(
                    bases - last < max_bases,
                    "stops once the base budget is reached"
                );
                joined.extend(batch);
            }
            assert_eq!(
                joined, whole,
                "{max_records} records / {max_bases} bases per batch"
            );
        }
    }

    #[test]
    fn test_header_with_space_after_marker() {
        let recs = parse("> 17\nACGT\n").unwrap();
        assert_eq!(recs[0].0, "17");
    }

    #[test]
    fn test_tiny_reader_buffer_splits_lines_anywhere() {
        let text = ">x\nACGTAC\nGT\n;comment\nacgt\n>y\nTT";
        let reader = std::io::BufReader::with_capacity(3, text.as_bytes());
        let mut s = FastaStream::new(reader, "t.fa");
        let recs = read_all(&mut s).unwrap();
        assert_eq!(
            recs,
            vec![
                ("x".into(), b"ACGTACGTACGT".to_vec()),
                ("y".into(), b"TT".to_vec())
            ]
        );
    }

    #[test]
    fn test_pieces_are_bounded_and_concatenate() {
        let seq: String = "ACGT".repeat(1000);
        let text = format!(">r\n{}\n{}\n", &seq[..2000], &seq[2000..]);
        let mut s = FastaStream::new(text.as_bytes(), "t.fa");
        s.next_record().unwrap();
        let mut out = Vec::new();
        let mut pieces = Vec::new();
        loop {
            let n = s.read_bases(&mut out, 100).unwrap();
            if n == 0 {
                break;
            }
            pieces.push(n);
        }
        assert_eq!(out, seq.as_bytes());
        // "About max": a piece may run to the end of the line it is in, never past it.
        assert!(pieces.len() >= 2, "{pieces:?}");
        assert!(pieces.iter().all(|&n| n <= 2000), "{pieces:?}");
    }

    /// What a FASTA text should parse to, read the obvious way.
    fn naive(text: &str) -> Vec<(String, Vec<u8>)> {
        let mut recs: Vec<(String, Vec<u8>)> = Vec::new();
        for line in text.lines() {
            if let Some(h) = line.strip_prefix('>') {
                recs.push((h.split_whitespace().next().unwrap().to_string(), Vec::new()));
            } else if let Some(r) = recs.last_mut() {
                let bases = line.trim_end_matches('\r').bytes().map(|b| match b {
                    b'u' | b'U' => b'T',
                    b => b.to_ascii_uppercase(),
                });
                r.1.extend(bases);
            }
        }
        recs
    }

    #[test]
    fn test_random_texts_parse_as_read_line_by_line() {
        // Line widths around the 32-byte chunks of the many-lines fast path, lowercase, N runs,
        // CRLF and records ending anywhere; several reader buffer sizes.
        let mut state = 5u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        for case in 0..60 {
            let mut text = String::new();
            for r in 0..1 + next(3) {
                let width = [1, 31, 32, 33, 60, 63, 64, 65, 80, 100, 5000][next(11)];
                let len = next(3000);
                let eol = if next(5) == 0 { "\r\n" } else { "\n" };
                text.push_str(&format!(">r{r} case {case}{eol}"));
                let seq: String = (0..len)
                    .map(|_| match next(100) {
                        0 => 'N',
                        1..=10 => b"acgt"[next(4)] as char,
                        _ => b"ACGT"[next(4)] as char,
                    })
                    .collect();
                for line in seq.as_bytes().chunks(width) {
                    text.push_str(std::str::from_utf8(line).unwrap());
                    text.push_str(eol);
                }
            }
            let expected = naive(&text);
            // `all` holds for an empty record too.
            if expected.iter().any(|r| r.1.iter().all(|&b| b == b'N')) {
                continue; // an empty or all-N record is an error, tested elsewhere
            }
            for capacity in [7, 100, 4096, 1 << 18] {
                let reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
                let got = read_all(&mut FastaStream::new(reader, "t.fa")).unwrap();
                assert_eq!(got, expected, "case {case}, buffer {capacity}");
            }
        }
    }

    #[test]
    fn test_error_line_is_counted_through_plain_lines() {
        // The fast path takes many lines at once; the line number of a bad byte after them must
        // still be right.
        let line = "ACGT".repeat(20);
        let mut text = String::from(">r\n");
        for _ in 0..500 {
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str("ACGTACGTACGTACGTACGTACGTACGTACGTACGTAC#T\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 502") && err.contains("'#'"), "{err}");
    }

    #[test]
    fn test_errors_name_line_and_record() {
        let err = parse(">a\nACGT\nAC9T\n").unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("'9'") && err.contains("'a'"),
            "{err}"
        );
        let err = parse(">a\n>b\nACGT\n").unwrap_err().to_string();
        assert!(err.contains("'a'") && err.contains("no sequence"), "{err}");
        let err = parse(">a\nNNNN\n").unwrap_err().to_string();
        assert!(err.contains("none of them"), "{err}");
        let err = parse("hello\n").unwrap_err().to_string();
        assert!(err.contains("not FASTA"), "{err}");
        let err = parse("\n\n").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
