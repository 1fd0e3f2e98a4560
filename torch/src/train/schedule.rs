//! fastai's one-cycle policy: learning rate from lr/div up to lr (cosine) over the first pct_start of
//! training, then down to lr/(div*final_div); momentum (Adam's beta1) the mirror image, moms.0 ->
//! moms.1 -> moms.0.

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OneCycle {
    pub lr_max: f64,
    pub pct_start: f64,
    pub div: f64,
    pub final_div: f64,
    pub moms: (f64, f64),
    pub total_steps: u64,
}

fn cos_anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
}

impl OneCycle {
    /// (learning rate, momentum) at `step` (0-based); past the end it stays at the final values.
    pub fn at(&self, step: u64) -> (f64, f64) {
        let pct = (step as f64 / self.total_steps.max(1) as f64).min(1.0);
        let lr_start = self.lr_max / self.div;
        let lr_end = lr_start / self.final_div;
        let (m_hi, m_lo) = self.moms;
        if pct < self.pct_start {
            let p = pct / self.pct_start;
            (
                cos_anneal(lr_start, self.lr_max, p),
                cos_anneal(m_hi, m_lo, p),
            )
        } else {
            let p = (pct - self.pct_start) / (1.0 - self.pct_start).max(1e-12);
            (
                cos_anneal(self.lr_max, lr_end, p),
                cos_anneal(m_lo, m_hi, p),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_one_cycle_shape() {
        let s = OneCycle {
            lr_max: 1e-2,
            pct_start: 0.25,
            div: 25.0,
            final_div: 1e5,
            moms: (0.95, 0.85),
            total_steps: 100,
        };
        let (lr0, m0) = s.at(0);
        assert!((lr0 - 4e-4).abs() < 1e-12 && (m0 - 0.95).abs() < 1e-12);
        let (lr_peak, m_peak) = s.at(25);
        assert!((lr_peak - 1e-2).abs() < 1e-12 && (m_peak - 0.85).abs() < 1e-12);
        let (lr_end, m_end) = s.at(100);
        assert!((lr_end - 4e-9).abs() < 1e-15 && (m_end - 0.95).abs() < 1e-12);
        assert!(s.at(10).0 < s.at(20).0 && s.at(60).0 > s.at(80).0);
    }
}
