//! Called regions: runs of a track at or above a threshold, merged across short gaps, kept when
//! long enough; each with its peak value and summit (the middle of its first highest segment).

use crate::genome::Strand;

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct CallParams {
    pub threshold: f64,
    /// Regions at most this many bases apart are one region.
    pub merge_gap: u64,
    /// Regions shorter than this are dropped.
    pub min_length: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub start: u64,
    pub end: u64,
    pub strand: Strand,
    pub peak: f64,
    /// 0-based base of the summit (absolute).
    pub summit: u64,
}

impl Call {
    /// BED6 plus peak score and summit offset from the start: name, score (peak x 1000, as BED's
    /// 0-1000 score), strand.
    pub fn bed_line(&self, chrom: &str, name: &str) -> String {
        format!(
            "{chrom}\t{}\t{}\t{name}\t{}\t{}\t{}\t{}\n",
            self.start,
            self.end,
            (self.peak * 1000.0).round().clamp(0.0, 1000.0) as u32,
            self.strand,
            super::coverage::format_value(self.peak),
            self.summit - self.start
        )
    }
}

/// Calls regions from one track's segments, which arrive in order.
pub struct Caller {
    params: CallParams,
    strand: Strand,
    current: Option<Call>,
    pub done: Vec<Call>,
}

impl Caller {
    pub fn new(params: CallParams, strand: Strand) -> Self {
        Self {
            params,
            strand,
            current: None,
            done: Vec::new(),
        }
    }

    /// The track is `value` on `[start, end)`.
    pub fn segment(&mut self, start: u64, end: u64, value: f64) {
        if value < self.params.threshold {
            return;
        }
        let summit = start + (end - start - 1) / 2;
        match &mut self.current {
            Some(c) if start - c.end <= self.params.merge_gap => {
                c.end = end;
                if value > c.peak {
                    c.peak = value;
                    c.summit = summit;
                }
            }
            _ => {
                self.close();
                self.current = Some(Call {
                    start,
                    end,
                    strand: self.strand,
                    peak: value,
                    summit,
                });
            }
        }
    }

    /// The track ended (or a new target begins): the open region is complete.
    pub fn close(&mut self) {
        if let Some(c) = self.current.take() {
            if c.end - c.start >= self.params.min_length {
                self.done.push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(threshold: f64, merge_gap: u64, min_length: u64) -> CallParams {
        CallParams {
            threshold,
            merge_gap,
            min_length,
        }
    }

    #[test]
    fn test_regions_merge_across_short_gaps_and_short_ones_drop() {
        let mut c = Caller::new(params(0.5, 5, 10), Strand::Forward);
        c.segment(0, 10, 0.2);
        c.segment(10, 20, 0.6);
        c.segment(20, 24, 0.1); // gap of 4 <= 5: merged
        c.segment(24, 30, 0.9);
        c.segment(30, 50, 0.3);
        c.segment(50, 55, 0.7); // 5 long: dropped
        c.close();
        assert_eq!(c.done.len(), 1);
        let r = &c.done[0];
        assert_eq!((r.start, r.end, r.peak, r.summit), (10, 30, 0.9, 26));
        assert_eq!(
            r.bed_line("chr", "p.1"),
            "chr\t10\t30\tp.1\t900\t+\t0.9\t16\n"
        );
    }
}
