//! Typed genome coordinates: 1-based inclusive regions (samtools style) and 0-based half-open intervals
//! (BED style), never a bare pair of integers.

use std::fmt;
use std::str::FromStr;

use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Strand {
    #[serde(rename = "+")]
    Forward,
    #[serde(rename = "-")]
    Reverse,
}

impl Strand {
    pub fn as_char(self) -> char {
        match self {
            Strand::Forward => '+',
            Strand::Reverse => '-',
        }
    }

    pub fn as_byte(self) -> u8 {
        self.as_char() as u8
    }
}

impl fmt::Display for Strand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// `chr`, `chr:start-end` or `chr:start` (1-based, inclusive; commas allowed in numbers), with an
/// optional trailing `:+` / `:-` strand. The name is split at the last ':' so names may contain ':'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// 1-based first base; 1 when absent.
    pub start: u64,
    /// 1-based last base (inclusive); `None` = to the end of the sequence.
    pub end: Option<u64>,
    pub strand: Strand,
}

impl Region {
    /// The same span as a 0-based half-open interval, given the sequence length (for open ends).
    pub fn to_interval(&self, seq_len: u64) -> Interval {
        Interval {
            name: self.name.clone(),
            start: self.start - 1,
            end: self.end.unwrap_or(seq_len),
            strand: self.strand,
            label: None,
        }
    }
}

fn parse_position(text: &str, s: &str) -> Result<u64, Error> {
    s.replace(',', "")
        .parse::<u64>()
        .map_err(|_| Error::Region {
            text: text.to_string(),
            message: format!("{s:?} is not a position"),
        })
}

impl FromStr for Region {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |message: &str| Error::Region {
            text: text.to_string(),
            message: message.to_string(),
        };
        let (body, strand) = match text.rsplit_once(':') {
            Some((b, "+")) => (b, Strand::Forward),
            Some((b, "-")) => (b, Strand::Reverse),
            _ => (text, Strand::Forward),
        };
        if body.is_empty() {
            return Err(err("empty region"));
        }
        let Some((name, span)) = body.rsplit_once(':') else {
            return Ok(Region {
                name: body.to_string(),
                start: 1,
                end: None,
                strand,
            });
        };
        if name.is_empty() {
            return Err(err("empty sequence name"));
        }
        let (start, end) = match span.split_once('-') {
            Some((a, b)) => (parse_position(text, a)?, Some(parse_position(text, b)?)),
            None => (parse_position(text, span)?, None),
        };
        if start == 0 {
            return Err(err("positions are 1-based: start must be at least 1"));
        }
        if let Some(end) = end {
            if end < start {
                return Err(err("end is before start"));
            }
        }
        Ok(Region {
            name: name.to_string(),
            start,
            end,
            strand,
        })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}:{}-{}", self.name, self.start, end)?,
            None => write!(f, "{}:{}", self.name, self.start)?,
        }
        if self.strand == Strand::Reverse {
            write!(f, ":-")?;
        }
        Ok(())
    }
}

/// A 0-based, half-open interval on a named sequence (BED coordinates), with strand and optional label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub name: String,
    pub start: u64,
    pub end: u64,
    pub strand: Strand,
    pub label: Option<String>,
}

impl Interval {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The same span as a 1-based inclusive region.
    pub fn to_region(&self) -> Region {
        Region {
            name: self.name.clone(),
            start: self.start + 1,
            end: Some(self.end),
            strand: self.strand,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_region_forms() {
        let r: Region = "chr20:1,000-2,000".parse().unwrap();
        assert_eq!(
            (r.name.as_str(), r.start, r.end),
            ("chr20", 1000, Some(2000))
        );
        let r: Region = "HLA-A*01:01:5-10:-".parse().unwrap();
        assert_eq!(
            (r.name.as_str(), r.start, r.end, r.strand),
            ("HLA-A*01:01", 5, Some(10), Strand::Reverse)
        );
        let r: Region = "20".parse().unwrap();
        assert_eq!((r.start, r.end), (1, None));
    }

    #[test]
    fn test_parse_region_errors() {
        for bad in ["", "chr1:0-5", "chr1:10-5", "chr1:a-b", ":1-2"] {
            assert!(bad.parse::<Region>().is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn test_region_interval_round_trip() {
        let r: Region = "chrX:11-20".parse().unwrap();
        let i = r.to_interval(100);
        assert_eq!((i.start, i.end, i.len()), (10, 20, 10));
        assert_eq!(i.to_region(), r);
    }
}
