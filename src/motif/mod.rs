//! Sequence motifs: position probability matrices, MEME's text format (read and write), their
//! similarity (for `genolm motifs compare`), seqlets found in attributions and clustered into
//! motifs ([`seqlets`]), and pictures: logos, saliency bars, mutagenesis heatmaps ([`plot`]).

pub mod plot;
pub mod seqlets;

use std::path::{Path, PathBuf};

/// Bases in the matrices' column order.
pub const BASES: [u8; 4] = *b"ACGT";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {what}")]
    Format {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A motif: per position, the probability of A, C, G, T.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    pub name: String,
    pub probs: Vec<[f64; 4]>,
    /// Sites it was built from (0: unknown).
    pub sites: usize,
}

impl Motif {
    /// From aligned sites' base counts per position, with a pseudocount per base.
    pub fn from_counts(name: &str, counts: &[[f64; 4]], pseudo: f64) -> Self {
        let sites = counts
            .first()
            .map(|c| c.iter().sum::<f64>().round() as usize)
            .unwrap_or(0);
        let probs = counts
            .iter()
            .map(|c| {
                let total: f64 = c.iter().sum::<f64>() + 4.0 * pseudo;
                let mut p = [0.0; 4];
                for (v, &n) in p.iter_mut().zip(c) {
                    *v = (n + pseudo) / total;
                }
                p
            })
            .collect();
        Self {
            name: name.to_string(),
            probs,
            sites,
        }
    }

    pub fn width(&self) -> usize {
        self.probs.len()
    }

    /// Information content of each position, in bits (0 to 2).
    pub fn information(&self) -> Vec<f64> {
        self.probs
            .iter()
            .map(|p| {
                2.0 + p
                    .iter()
                    .filter(|&&v| v > 0.0)
                    .map(|&v| v * v.log2())
                    .sum::<f64>()
            })
            .collect()
    }

    /// The most probable base per position.
    pub fn consensus(&self) -> String {
        self.probs
            .iter()
            .map(|p| {
                let best = (0..4).fold(0, |b, i| if p[i] > p[b] { i } else { b });
                BASES[best] as char
            })
            .collect()
    }

    /// The motif of the other strand.
    pub fn reverse_complement(&self) -> Self {
        Self {
            name: self.name.clone(),
            probs: self
                .probs
                .iter()
                .rev()
                .map(|p| [p[3], p[2], p[1], p[0]])
                .collect(),
            sites: self.sites,
        }
    }

    /// Without the flanking positions under `min_bits` of information (at least one position kept).
    pub fn trimmed(&self, min_bits: f64) -> Self {
        let ic = self.information();
        let first = ic.iter().position(|&v| v >= min_bits);
        let last = ic.iter().rposition(|&v| v >= min_bits);
        let (a, b) = match (first, last) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                let best = (0..ic.len()).fold(0, |b, i| if ic[i] > ic[b] { i } else { b });
                (best, best)
            }
        };
        Self {
            name: self.name.clone(),
            probs: self.probs[a..=b].to_vec(),
            sites: self.sites,
        }
    }
}

/// MEME's minimal motif format (meme-suite.org/meme/doc/meme-format.html), DNA, uniform background.
pub fn to_meme(motifs: &[Motif]) -> String {
    let mut s = String::from(
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n\
         Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n",
    );
    for m in motifs {
        s.push_str(&format!(
            "MOTIF {} {}\nletter-probability matrix: alength= 4 w= {} nsites= {} E= 0\n",
            m.name,
            m.consensus(),
            m.width(),
            m.sites
        ));
        for p in &m.probs {
            s.push_str(&format!(
                " {:.6} {:.6} {:.6} {:.6}\n",
                p[0], p[1], p[2], p[3]
            ));
        }
        s.push('\n');
    }
    s
}

/// Motifs of a MEME file (version 4 or 5 text; DNA). An error names the file and line.
pub fn read_meme(path: &Path) -> Result<Vec<Motif>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_meme(&text, path)
}

pub fn parse_meme(text: &str, path: &Path) -> Result<Vec<Motif>> {
    let bad = |line: usize, what: String| Error::Format {
        path: path.to_path_buf(),
        line,
        what,
    };
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("MEME version"));
    if header.is_none() {
        return Err(bad(
            1,
            "not a MEME motif file: no \"MEME version\" line".into(),
        ));
    }
    let mut motifs = Vec::new();
    let mut name: Option<(String, usize)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(alphabet) = line.strip_prefix("ALPHABET=") {
            if alphabet.trim() != "ACGT" {
                return Err(bad(
                    i + 1,
                    format!("alphabet {:?}: only ACGT (DNA) is read", alphabet.trim()),
                ));
            }
        } else if let Some(rest) = line.strip_prefix("MOTIF") {
            let id = rest
                .split_whitespace()
                .next()
                .ok_or_else(|| bad(i + 1, "MOTIF without a name".into()))?;
            name = Some((id.to_string(), i + 1));
        } else if line.starts_with("letter-probability matrix") {
            let (id, _) = name
                .take()
                .ok_or_else(|| bad(i + 1, "a matrix before any MOTIF line".into()))?;
            let field = |key: &str| -> Option<usize> {
                let at = line.find(key)? + key.len();
                line[at..].split_whitespace().next()?.parse().ok()
            };
            if let Some(a) = field("alength=") {
                if a != 4 {
                    return Err(bad(i + 1, format!("alength= {a}: DNA motifs have 4")));
                }
            }
            let w = field("w=").ok_or_else(|| bad(i + 1, "no w= (motif width)".into()))?;
            let sites = field("nsites=").unwrap_or(0);
            let mut probs = Vec::with_capacity(w);
            for r in 0..w {
                let n = i + 1 + r;
                let row = lines.get(n).ok_or_else(|| {
                    bad(
                        n,
                        format!("motif {id}: {w} rows expected, the file ends after {r}"),
                    )
                })?;
                let v: Vec<f64> = row
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad(n + 1, format!("motif {id}: {row:?} is not 4 numbers")))?;
                let sum: f64 = v.iter().sum();
                if v.len() != 4
                    || v.iter().any(|&x| !(0.0..=1.0).contains(&x))
                    || (sum - 1.0).abs() > 0.02
                {
                    return Err(bad(
                        n + 1,
                        format!(
                            "motif {id}: {row:?} must be 4 probabilities in [0, 1] summing to 1"
                        ),
                    ));
                }
                probs.push([v[0] / sum, v[1] / sum, v[2] / sum, v[3] / sum]);
            }
            if probs.is_empty() {
                return Err(bad(i + 1, format!("motif {id}: width 0")));
            }
            motifs.push(Motif {
                name: id,
                probs,
                sites,
            });
            i += w;
        }
        i += 1;
    }
    if let Some((id, line)) = name {
        return Err(bad(
            line,
            format!("motif {id} has no letter-probability matrix"),
        ));
    }
    if motifs.is_empty() {
        return Err(bad(lines.len().max(1), "no motifs".into()));
    }
    Ok(motifs)
}

/// Pearson correlation of two columns (0 when either is flat).
fn column_pcc(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let (ma, mb) = (a.iter().sum::<f64>() / 4.0, b.iter().sum::<f64>() / 4.0);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..4 {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa < 1e-12 || sbb < 1e-12 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// How one motif sits on another: the best alignment found by [`similarity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    /// Sum of the aligned columns' Pearson correlations over the shorter motif's width (-1 to 1;
    /// 1: the shorter one is exactly a part of the longer, up to scale).
    pub similarity: f64,
    /// Position of `b`'s first column in `a` (negative: `b` starts before `a`).
    pub offset: i64,
    /// `b` matched as its reverse complement.
    pub reverse: bool,
}

/// The best alignment of `b` on `a`, over every offset and both strands of `b`: column Pearson
/// correlations summed over the overlap and divided by the shorter width (TOMTOM's PCC distance
/// idea, with unaligned columns counting 0).
pub fn similarity(a: &Motif, b: &Motif) -> Alignment {
    let mut best = Alignment {
        similarity: f64::NEG_INFINITY,
        offset: 0,
        reverse: false,
    };
    let shorter = a.width().min(b.width()) as f64;
    for (reverse, bb) in [(false, b.clone()), (true, b.reverse_complement())] {
        for offset in -(bb.width() as i64) + 1..a.width() as i64 {
            let sum: f64 = (0..bb.width() as i64)
                .filter_map(|j| {
                    let i = offset + j;
                    (0..a.width() as i64)
                        .contains(&i)
                        .then(|| column_pcc(&a.probs[i as usize], &bb.probs[j as usize]))
                })
                .sum();
            let s = sum / shorter;
            if s > best.similarity + 1e-12 {
                best = Alignment {
                    similarity: s,
                    offset,
                    reverse,
                };
            }
        }
    }
    best
}

/// A motif of one sequence (each base 1 - 3e, the others e): for consensus strings.
pub fn from_consensus(name: &str, consensus: &str, e: f64) -> Result<Motif> {
    let probs = consensus
        .bytes()
        .map(
            |b| match BASES.iter().position(|&x| x == b.to_ascii_uppercase()) {
                Some(i) => {
                    let mut p = [e; 4];
                    p[i] = 1.0 - 3.0 * e;
                    Ok(p)
                }
                None => Err(Error::Invalid(format!(
                    "{consensus:?}: {:?} is not A, C, G or T",
                    b as char
                ))),
            },
        )
        .collect::<Result<_>>()?;
    Ok(Motif {
        name: name.to_string(),
        probs,
        sites: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_meme_round_trip_and_errors() {
        let m = from_consensus("m1", "TATAAT", 0.05).unwrap();
        let text = to_meme(std::slice::from_ref(&m));
        let back = parse_meme(&text, Path::new("x.meme")).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].consensus(), "TATAAT");
        for (a, b) in back[0].probs.iter().zip(&m.probs) {
            for i in 0..4 {
                assert!((a[i] - b[i]).abs() < 1e-6);
            }
        }
        let err = parse_meme(">seq\nACGT\n", Path::new("x.fa"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.fa") && err.contains("not a MEME"), "{err}");
        let broken = text.replace(
            " 0.850000 0.050000 0.050000 0.050000",
            " 0.85 0.05 zero 0.05",
        );
        let err = parse_meme(&broken, Path::new("b.meme"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("b.meme, line") && err.contains("not 4 numbers"),
            "{err}"
        );
        let short = text.replace("w= 6", "w= 9");
        assert!(parse_meme(&short, Path::new("s.meme")).is_err());
    }

    #[test]
    fn test_similarity_finds_a_part_on_either_strand() {
        let long = from_consensus("l", "GGTTGACAATTTAAAT", 0.05).unwrap();
        let part = from_consensus("p", "TTGACA", 0.05).unwrap();
        let a = similarity(&long, &part);
        assert!(a.similarity > 0.99 && a.offset == 2 && !a.reverse, "{a:?}");
        let rc = part.reverse_complement();
        let b = similarity(&long, &rc);
        assert!(b.similarity > 0.99 && b.reverse, "{b:?}");
        let other = from_consensus("o", "CCCGGG", 0.05).unwrap();
        assert!(similarity(&long, &other).similarity < 0.7);
    }

    #[test]
    fn test_information_and_trim() {
        let mut m = from_consensus("m", "ACGT", 0.0).unwrap();
        m.probs.insert(0, [0.25; 4]);
        m.probs.push([0.25; 4]);
        let ic = m.information();
        assert!((ic[0]).abs() < 1e-9 && (ic[1] - 2.0).abs() < 1e-9);
        assert_eq!(m.trimmed(0.5).consensus(), "ACGT");
    }
}
