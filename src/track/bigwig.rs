//! BigWig from a bedGraph written by [`super::TrackSink`] (bigtools), read back as a stream, as
//! bedGraphToBigWig does: the values are never all in memory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use bigtools::beddata::BedParserStreamingIterator;
use bigtools::{BigWigWrite, Value};

use super::{io_err, Error, Result};

/// Writes `out` from `bedgraph` (sorted, non-overlapping; a `track` line is skipped) with at most
/// `zooms` zoom levels. A bedGraph without values (every window skipped) makes no BigWig, which
/// cannot be empty: returns false.
pub fn bedgraph_to_bigwig(
    bedgraph: &Path,
    out: &Path,
    chrom_sizes: &[(String, u64)],
    zooms: u32,
) -> Result<bool> {
    if !has_values(bedgraph)? {
        return Ok(false);
    }
    let sizes: HashMap<String, u32> = chrom_sizes
        .iter()
        .map(|(n, l)| {
            u32::try_from(*l)
                .map(|l| (n.clone(), l))
                .map_err(|_| Error::Invalid(format!("{n}: {l} bases is over BigWig's 4 Gbp limit")))
        })
        .collect::<Result<_>>()?;
    let file = std::fs::File::open(bedgraph).map_err(io_err(bedgraph))?;
    let mut failed: Option<Error> = None;
    let values = BufReader::with_capacity(1 << 20, file)
        .lines()
        .map_while(|line| match line {
            Ok(l) => Some(l),
            Err(e) => {
                failed = Some(Error::Io {
                    path: bedgraph.to_path_buf(),
                    source: e,
                });
                None
            }
        })
        .filter(|l| !l.starts_with("track") && !l.is_empty())
        .filter_map(|l| parse_line(&l));
    let mut writer = BigWigWrite::create_file(out, sizes).map_err(io_err(out))?;
    writer.options.max_zooms = zooms;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(io_err(out))?;
    let result = writer.write(
        BedParserStreamingIterator::wrap_infallible_iter(values, false),
        runtime,
    );
    if let Some(e) = failed {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    result.map_err(|e| {
        let _ = std::fs::remove_file(out);
        Error::Invalid(format!("{}: writing BigWig: {e}", out.display()))
    })?;
    Ok(true)
}

fn has_values(bedgraph: &Path) -> Result<bool> {
    let file = std::fs::File::open(bedgraph).map_err(io_err(bedgraph))?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(io_err(bedgraph))?;
        if !line.starts_with("track") && !line.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn parse_line(line: &str) -> Option<(String, Value)> {
    let mut f = line.split('\t');
    let chrom = f.next()?.to_string();
    let start = f.next()?.parse().ok()?;
    let end = f.next()?.parse().ok()?;
    let value = f.next()?.parse().ok()?;
    Some((chrom, Value { start, end, value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bigwig_reads_back_the_bedgraph_values() {
        let dir = tempfile::tempdir().unwrap();
        let bg = dir.path().join("t.bedGraph");
        std::fs::write(
            &bg,
            "track type=bedGraph\nc1\t0\t10\t0.5\nc1\t10\t25\t0.25\nc2\t5\t6\t1\n",
        )
        .unwrap();
        let bw = dir.path().join("t.bw");
        let sizes = vec![("c1".to_string(), 100), ("c2".to_string(), 50)];
        bedgraph_to_bigwig(&bg, &bw, &sizes, 10).unwrap();
        let mut r = bigtools::BigWigRead::open_file(&bw).unwrap();
        let v: Vec<Value> = r
            .get_interval("c1", 0, 100)
            .unwrap()
            .map(|v| v.unwrap())
            .collect();
        assert_eq!(
            v,
            vec![
                Value {
                    start: 0,
                    end: 10,
                    value: 0.5
                },
                Value {
                    start: 10,
                    end: 25,
                    value: 0.25
                }
            ]
        );
        // An empty track makes no BigWig (bigtools cannot write one).
        std::fs::write(&bg, "track type=bedGraph\n").unwrap();
        let other = dir.path().join("empty.bw");
        assert!(!bedgraph_to_bigwig(&bg, &other, &sizes, 10).unwrap());
        assert!(!other.exists());
    }
}
