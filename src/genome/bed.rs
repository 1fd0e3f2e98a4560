//! BED intervals (0-based, half-open): chrom, start, end, [name, score, strand], or a label column.

use std::io::BufRead;
use std::path::Path;

use super::region::{Interval, Strand};
use super::{Error, Result};

/// Which column (0-based) holds the label, if any; BED's 4th column (name) by default.
#[derive(Debug, Clone, Copy)]
pub struct BedColumns {
    pub label: Option<usize>,
    pub strand: Option<usize>,
}

impl Default for BedColumns {
    fn default() -> Self {
        Self {
            label: Some(3),
            strand: Some(5),
        }
    }
}

fn is_header(line: &str) -> bool {
    line.starts_with('#') || line.starts_with("track") || line.starts_with("browser")
}

fn parse_coordinate(path: &Path, line_no: u64, field: &str, what: &str) -> Result<u64> {
    field.trim().parse::<u64>().map_err(|_| {
        Error::parse(
            path,
            line_no,
            format!("BED {what} {field:?} is not a non-negative integer"),
        )
    })
}

/// Parses one BED line (already known not to be blank or a header).
pub fn parse_bed_line(path: &Path, line_no: u64, line: &str, cols: BedColumns) -> Result<Interval> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() < 3 {
        return Err(Error::parse(
            path,
            line_no,
            format!(
                "BED needs at least 3 tab-separated columns (chrom, start, end), found {}",
                fields.len()
            ),
        ));
    }
    let start = parse_coordinate(path, line_no, fields[1], "start")?;
    let end = parse_coordinate(path, line_no, fields[2], "end")?;
    if end <= start {
        return Err(Error::parse(
            path,
            line_no,
            format!("BED end {end} is not after start {start} (0-based half-open intervals)"),
        ));
    }
    let strand = match cols.strand.and_then(|c| fields.get(c)).map(|s| s.trim()) {
        None | Some(".") | Some("+") | Some("") => Strand::Forward,
        Some("-") => Strand::Reverse,
        Some(other) => {
            return Err(Error::parse(
                path,
                line_no,
                format!("BED strand {other:?} is not '+', '-' or '.'"),
            ))
        }
    };
    let label = cols
        .label
        .and_then(|c| fields.get(c))
        .map(|s| s.trim().to_string());
    Ok(Interval {
        name: fields[0].trim().to_string(),
        start,
        end,
        strand,
        label,
    })
}

/// Reads every interval of a BED file (plain or gzip); a file without any is an error.
pub fn read_bed(path: &Path, cols: BedColumns) -> Result<Vec<Interval>> {
    let out = read_bed_or_empty(path, cols)?;
    if out.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// [`read_bed`] for files that may hold no interval (a scan that called nothing).
pub fn read_bed_or_empty(path: &Path, cols: BedColumns) -> Result<Vec<Interval>> {
    let reader = super::open::open_decompressed(path)?;
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| super::fasta::read_error(path, e))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || is_header(line) {
            continue;
        }
        out.push(parse_bed_line(path, line_no, line, cols)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_bed6() {
        let i = parse_bed_line(
            Path::new("x.bed"),
            1,
            "chr1\t10\t20\tprom\t0\t-",
            BedColumns::default(),
        )
        .unwrap();
        assert_eq!((i.start, i.end, i.strand), (10, 20, Strand::Reverse));
        assert_eq!(i.label.as_deref(), Some("prom"));
    }

    #[test]
    fn test_parse_bed_errors_name_line() {
        let e = parse_bed_line(Path::new("x.bed"), 7, "chr1\t20\t10", BedColumns::default())
            .unwrap_err();
        assert!(e.to_string().contains("line 7"), "{e}");
        let e = parse_bed_line(Path::new("x.bed"), 2, "chr1\tx\t10", BedColumns::default())
            .unwrap_err();
        assert!(e.to_string().contains("start"), "{e}");
        let e = parse_bed_line(
            Path::new("x.bed"),
            2,
            "chr1\t1\t10\tn\t0\t*",
            BedColumns::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("strand"), "{e}");
    }
}
