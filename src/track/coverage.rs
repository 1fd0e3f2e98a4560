//! Per-base means of the windows covering each base, streamed: only bases not yet final are held.
//!
//! Windows arrive with non-decreasing starts, so once a window starting at `p` arrives every base
//! before `p` has all its windows and is written out ([`Coverage::flush_to`]). Contributions far
//! ahead of the bases held (the part before the origin-crossing of a circular chromosome's wrapping
//! windows, which come first) wait in a short list until the scan reaches them.

/// One lane per (class, strand) tracked.
pub struct Coverage {
    /// First base not yet written.
    origin: u64,
    sum: Vec<Vec<f64>>,
    count: Vec<Vec<u32>>,
    /// Adds starting further ahead than this wait in `deferred`.
    horizon: u64,
    deferred: Vec<(usize, u64, u64, f64)>,
    values: Vec<Option<f64>>,
}

impl Coverage {
    pub fn new(lanes: usize, origin: u64, horizon: u64) -> Self {
        Self {
            origin,
            sum: vec![Vec::new(); lanes],
            count: vec![Vec::new(); lanes],
            horizon,
            deferred: Vec::new(),
            values: vec![None; lanes],
        }
    }

    /// Adds `value` to every base of `[a, b)` of `lane` (`a` at or after the first unwritten base).
    pub fn add(&mut self, lane: usize, a: u64, b: u64, value: f64) {
        debug_assert!(
            a >= self.origin,
            "{a} is before the written bases {}",
            self.origin
        );
        if a > self.origin + self.horizon {
            self.deferred.push((lane, a, b, value));
            return;
        }
        let (from, to) = ((a - self.origin) as usize, (b - self.origin) as usize);
        let (sum, count) = (&mut self.sum[lane], &mut self.count[lane]);
        if sum.len() < to {
            sum.resize(to, 0.0);
            count.resize(to, 0);
        }
        for (s, c) in sum[from..to].iter_mut().zip(&mut count[from..to]) {
            *s += value;
            *c += 1;
        }
    }

    /// Writes every base before `p`: `emit(base, values)`, one value per lane (`None`: no window
    /// covered it in that lane). Bases no lane covers are not emitted.
    pub fn flush_to(&mut self, p: u64, mut emit: impl FnMut(u64, &[Option<f64>])) {
        if p <= self.origin {
            return;
        }
        self.apply_deferred_before(p);
        let n = (p - self.origin) as usize;
        for i in 0..n {
            let mut any = false;
            for (lane, v) in self.values.iter_mut().enumerate() {
                *v = match (self.sum[lane].get(i), self.count[lane].get(i)) {
                    (Some(&s), Some(&c)) if c > 0 => Some(s / c as f64),
                    _ => None,
                };
                any |= v.is_some();
            }
            if any {
                emit(self.origin + i as u64, &self.values);
            }
        }
        for lane in 0..self.sum.len() {
            let k = n.min(self.sum[lane].len());
            self.sum[lane].drain(..k);
            self.count[lane].drain(..k);
        }
        self.origin = p;
    }

    /// Writes everything up to `end` (the target is done).
    pub fn finish(&mut self, end: u64, emit: impl FnMut(u64, &[Option<f64>])) {
        self.flush_to(end, emit);
    }

    fn apply_deferred_before(&mut self, p: u64) {
        if self.deferred.is_empty() {
            return;
        }
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| d.1 < p);
        self.deferred = wait;
        let horizon = std::mem::replace(&mut self.horizon, u64::MAX);
        for (lane, a, b, v) in ready {
            let a = a.max(self.origin);
            if a < b {
                self.add(lane, a, b, v);
            }
        }
        self.horizon = horizon;
    }
}

/// Run-length encoding of a per-base track into bedGraph segments of equal value.
#[derive(Default)]
pub struct Runs {
    current: Option<(u64, u64, f64)>,
}

/// A track value as written: rounded to 6 decimals, so equal-looking values merge into one segment.
pub fn rounded(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

impl Runs {
    /// The value at `base` (`None`: no value); returns a segment `(start, end, value)` that ended.
    pub fn push(&mut self, base: u64, value: Option<f64>) -> Option<(u64, u64, f64)> {
        let value = value.map(rounded);
        match (&mut self.current, value) {
            (Some((_, end, v)), Some(x)) if *end == base && *v == x => {
                *end += 1;
                None
            }
            (cur, Some(x)) => cur.replace((base, base + 1, x)),
            (cur, None) => cur.take(),
        }
    }

    /// The segment still open, if any (the target ended).
    pub fn finish(&mut self) -> Option<(u64, u64, f64)> {
        self.current.take()
    }
}

/// A value as bedGraph writes it: at most 6 decimals, without trailing zeros.
pub fn format_value(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(cov: &mut Coverage, p: u64) -> Vec<(u64, Vec<Option<f64>>)> {
        let mut out = Vec::new();
        cov.flush_to(p, |b, v| out.push((b, v.to_vec())));
        out
    }

    #[test]
    fn test_each_base_gets_the_mean_of_its_windows() {
        let mut cov = Coverage::new(1, 0, 100);
        cov.add(0, 0, 4, 1.0);
        cov.add(0, 2, 6, 0.0);
        let got = collect(&mut cov, 2);
        assert_eq!(got, vec![(0, vec![Some(1.0)]), (1, vec![Some(1.0)])]);
        let got = collect(&mut cov, 6);
        let v: Vec<f64> = got.iter().map(|(_, v)| v[0].unwrap()).collect();
        assert_eq!(v, vec![0.5, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn test_gaps_are_not_emitted_and_deferred_adds_land() {
        let mut cov = Coverage::new(2, 0, 10);
        cov.add(1, 500, 510, 0.25); // far ahead: deferred
        cov.add(0, 0, 2, 1.0);
        let got = collect(&mut cov, 505);
        let bases: Vec<u64> = got.iter().map(|g| g.0).collect();
        assert_eq!(bases, vec![0, 1, 500, 501, 502, 503, 504]);
        assert_eq!(got[2].1, vec![None, Some(0.25)]);
        let mut rest = Vec::new();
        cov.finish(520, |b, _| rest.push(b));
        assert_eq!(rest, (505..510).collect::<Vec<_>>());
    }

    #[test]
    fn test_runs_merge_equal_values_and_break_at_gaps() {
        let mut r = Runs::default();
        let mut segs = Vec::new();
        for (b, v) in [
            (0, Some(0.1)),
            (1, Some(0.1000000001)),
            (2, Some(0.2)),
            (3, None),
            (4, Some(0.2)),
            (6, Some(0.2)),
        ] {
            segs.extend(r.push(b, v));
        }
        segs.extend(r.finish());
        assert_eq!(
            segs,
            vec![(0, 2, 0.1), (2, 3, 0.2), (4, 5, 0.2), (6, 7, 0.2)]
        );
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1234567), "0.123457");
    }
}
