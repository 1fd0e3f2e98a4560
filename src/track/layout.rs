//! What a scan covers and the one order its windows come in.
//!
//! Windows of a target (a whole chromosome or a region of one) start at `start, start + step, ...`;
//! the last partial window is right-aligned to the target's end, so every base is covered. A
//! circular chromosome instead wraps windows across its origin: those that wrap come first (they
//! also cover the chromosome's first bases, which a track writes first), then the others in order.
//! With both strands, each position gives its '+' window, then its '-' window. The order is a
//! function of the layout alone, so a shard of it is the same windows as in the whole run.

use crate::genome::Strand;

use super::{Error, Result};

/// Which strands are scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StrandSet {
    #[serde(rename = "+")]
    Forward,
    #[serde(rename = "-")]
    Reverse,
    #[serde(rename = "both")]
    Both,
}

impl StrandSet {
    pub fn strands(self) -> &'static [Strand] {
        match self {
            StrandSet::Forward => &[Strand::Forward],
            StrandSet::Reverse => &[Strand::Reverse],
            StrandSet::Both => &[Strand::Forward, Strand::Reverse],
        }
    }
}

impl std::str::FromStr for StrandSet {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "+" => Ok(StrandSet::Forward),
            "-" => Ok(StrandSet::Reverse),
            "both" => Ok(StrandSet::Both),
            other => Err(format!("strand {other:?}: give '+', '-' or 'both'")),
        }
    }
}

/// Windows holding a non-ACGT base: left out (`skip`), or scored with such k-mers as `<unk>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NPolicy {
    #[default]
    Skip,
    Score,
}

/// What a window's score is spread over: every base it covers (`mean`: a base gets the mean of the
/// windows covering it), or a step-wide bin around its centre (`centre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TrackMode {
    #[default]
    Mean,
    Centre,
}

/// A span to scan: `[start, end)` (0-based) of chromosome `name` of `length` bases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub name: String,
    pub length: u64,
    pub start: u64,
    pub end: u64,
    /// Windows wrap across the origin (whole circular chromosomes only).
    pub circular: bool,
}

impl Target {
    pub fn bases(&self) -> u64 {
        self.end - self.start
    }
}

/// One window of a scan: `len` bases from `start` on `strand` of target `target`; when
/// `start + len` passes the chromosome's end, it continues at base 0 (circular).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub target: u32,
    pub start: u64,
    pub len: u64,
    pub strand: Strand,
}

/// Everything the tracks of a scan depend on; shards and their merge must agree on all of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanLayout {
    pub targets: Vec<Target>,
    pub window: u64,
    pub step: u64,
    pub strands: StrandSet,
    pub n_policy: NPolicy,
    pub track: TrackMode,
    /// The classes tracked, in score-column order.
    pub classes: Vec<String>,
    /// Windows per prediction batch: batches are cut from the canonical order, so a shard (whole
    /// batches) predicts exactly the batches the unsharded run does.
    pub batch: usize,
}

impl ScanLayout {
    pub fn validate(&self) -> Result<()> {
        if self.window == 0 {
            return Err(Error::Invalid("--window must be at least 1".into()));
        }
        if self.step == 0 {
            return Err(Error::Invalid("--step must be at least 1".into()));
        }
        if self.batch == 0 {
            return Err(Error::Invalid("--batch must be at least 1".into()));
        }
        if self.classes.is_empty() {
            return Err(Error::Invalid("no class to track".into()));
        }
        Ok(())
    }

    /// Window starts of target `t` and their length, in scan order (strands not expanded).
    pub fn starts(&self, t: &Target) -> Starts {
        Starts::new(t, self.window, self.step)
    }

    /// Every window of the scan, in the canonical order.
    pub fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        self.targets.iter().enumerate().flat_map(move |(i, t)| {
            self.starts(t).flat_map(move |(start, len)| {
                self.strands.strands().iter().map(move |&strand| Window {
                    target: i as u32,
                    start,
                    len,
                    strand,
                })
            })
        })
    }

    /// How many windows target `t` has, strands included (without enumerating them).
    pub fn n_windows_of(&self, t: &Target) -> u64 {
        Starts::count(t, self.window, self.step) * self.strands.strands().len() as u64
    }

    /// How many windows the scan has.
    pub fn n_windows(&self) -> u64 {
        self.targets.iter().map(|t| self.n_windows_of(t)).sum()
    }

    /// Bases scanned (all targets, one strand).
    pub fn bases(&self) -> u64 {
        self.targets.iter().map(Target::bases).sum()
    }

    /// The windows of shard `i` of `n` (0-based `i`): whole batches, `[first, end)` in canonical
    /// order, the batches shared out as evenly as they go.
    pub fn shard_range(&self, i: u32, n: u32) -> (u64, u64) {
        let total = self.n_windows();
        let batch = self.batch as u64;
        let batches = total.div_ceil(batch);
        let first_batch = batches * i as u64 / n as u64;
        let end_batch = batches * (i as u64 + 1) / n as u64;
        (
            (first_batch * batch).min(total),
            (end_batch * batch).min(total),
        )
    }
}

/// Window starts of one target and their lengths: see the module doc.
pub struct Starts {
    window: u64,
    step: u64,
    target_start: u64,
    target_end: u64,
    /// Wrapping starts still to give (circular), then regular ones from `next`, then `tail`.
    wrap_next: Option<u64>,
    next: Option<u64>,
    /// The right-aligned last window, when the grid does not reach the end.
    tail: Option<(u64, u64)>,
}

impl Starts {
    fn new(t: &Target, window: u64, step: u64) -> Self {
        let bases = t.bases();
        let mut s = Starts {
            window,
            step,
            target_start: t.start,
            target_end: t.end,
            wrap_next: None,
            next: Some(t.start).filter(|_| bases > 0),
            tail: None,
        };
        if t.circular && bases > window {
            // Regular windows end within the chromosome; the ones past them wrap.
            let regular = (bases - window) / step + 1;
            s.wrap_next = Some(t.start + regular * step).filter(|&w| w < t.end);
        } else if bases > window && !(bases - window).is_multiple_of(step) {
            s.tail = Some((t.end - window, window));
        }
        s
    }

    fn count(t: &Target, window: u64, step: u64) -> u64 {
        let bases = t.bases();
        if bases == 0 {
            0
        } else if bases <= window {
            1
        } else if t.circular {
            bases.div_ceil(step)
        } else {
            (bases - window) / step + 1 + u64::from(!(bases - window).is_multiple_of(step))
        }
    }
}

impl Iterator for Starts {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if let Some(w) = self.wrap_next {
            self.wrap_next = Some(w + self.step).filter(|&f| f < self.target_end);
            return Some((w, self.window));
        }
        let Some(start) = self.next else {
            return self.tail.take();
        };
        let bases = self.target_end - self.target_start;
        if bases <= self.window {
            self.next = None;
            return Some((start, bases));
        }
        self.next = Some(start + self.step).filter(|&f| f + self.window <= self.target_end);
        Some((start, self.window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(length: u64, start: u64, end: u64, circular: bool) -> Target {
        Target {
            name: "c".into(),
            length,
            start,
            end,
            circular,
        }
    }

    fn starts(t: &Target, w: u64, s: u64) -> Vec<(u64, u64)> {
        Starts::new(t, w, s).collect()
    }

    #[test]
    fn test_linear_windows_cover_every_base_and_end_right_aligned() {
        let t = target(100, 0, 100, false);
        let got = starts(&t, 30, 20);
        assert_eq!(got, vec![(0, 30), (20, 30), (40, 30), (60, 30), (70, 30)]);
        assert_eq!(Starts::count(&t, 30, 20), got.len() as u64);
        // On the grid: no extra tail.
        let got = starts(&t, 40, 20);
        assert_eq!(got, vec![(0, 40), (20, 40), (40, 40), (60, 40)]);
        assert_eq!(Starts::count(&t, 40, 20), 4);
    }

    #[test]
    fn test_short_target_is_one_window() {
        let t = target(1000, 10, 25, false);
        assert_eq!(starts(&t, 30, 10), vec![(10, 15)]);
        assert_eq!(Starts::count(&t, 30, 10), 1);
    }

    #[test]
    fn test_circular_windows_wrap_first_then_in_order() {
        let t = target(100, 0, 100, true);
        let got = starts(&t, 30, 20);
        // Regular: 0, 20, 40, 60 (end 90); wrapping: 80 (to 110 = base 10).
        assert_eq!(got, vec![(80, 30), (0, 30), (20, 30), (40, 30), (60, 30)]);
        assert_eq!(Starts::count(&t, 30, 20), got.len() as u64);
        let got = starts(&t, 30, 30);
        assert_eq!(got, vec![(90, 30), (0, 30), (30, 30), (60, 30)]);
        assert_eq!(Starts::count(&t, 30, 30), 4);
    }

    #[test]
    fn test_counts_match_enumeration() {
        for len in [1u64, 7, 29, 30, 31, 64, 100, 257] {
            for (w, s) in [(30u64, 1u64), (30, 7), (30, 30), (30, 45), (5, 2)] {
                for circular in [false, true] {
                    let t = target(len, 0, len, circular);
                    let n = starts(&t, w, s).len() as u64;
                    assert_eq!(
                        Starts::count(&t, w, s),
                        n,
                        "len {len} w {w} s {s} {circular}"
                    );
                }
            }
        }
    }

    #[test]
    fn test_shards_partition_whole_batches() {
        let layout = ScanLayout {
            targets: vec![target(1000, 0, 1000, false), target(333, 0, 333, false)],
            window: 50,
            step: 10,
            strands: StrandSet::Both,
            n_policy: NPolicy::Skip,
            track: TrackMode::Mean,
            classes: vec!["x".into()],
            batch: 16,
        };
        let total = layout.n_windows();
        assert_eq!(total, layout.windows().count() as u64);
        for n in 1..5 {
            let mut at = 0;
            for i in 0..n {
                let (a, b) = layout.shard_range(i, n);
                assert_eq!(a, at);
                assert!(a % 16 == 0);
                at = b;
            }
            assert_eq!(at, total);
        }
    }
}
