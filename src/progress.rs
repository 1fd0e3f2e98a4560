//! Progress bars (indicatif) on stderr: drawn only on a terminal, with throughput and ETA.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    bp: AtomicU64,
}

impl Progress {
    /// A bar over input bytes (compressed size, known up front) that also reports bases per second;
    /// `None` (a pipe among the inputs: no size to go by) counts bytes without a bar or ETA.
    pub fn bytes_with_bp(total_bytes: Option<u64>, label: &str, enabled: bool) -> Self {
        let bar = if enabled {
            ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let template = match total_bytes {
            Some(_) => {
                "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ETA {eta}"
            }
            None => "{prefix} [{elapsed_precise}] {spinner} {bytes} {msg}",
        };
        Self::styled(bar, template, label)
    }

    /// A bar over bases of a known total (a scan), with bases per second, a message and ETA.
    pub fn bases(total: u64, label: &str, enabled: bool) -> Self {
        let bar = if enabled {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let template = "{prefix} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} bp \
                        ({per_sec}) {msg} ETA {eta}";
        Self::styled(bar, template, label)
    }

    /// Moves a [`Self::bases`] bar to `bases` done.
    pub fn set_bases(&self, bases: u64, msg: String) {
        self.bar.set_position(bases);
        self.bar.set_message(msg);
    }

    fn styled(bar: ProgressBar, template: &str, label: &str) -> Self {
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.set_prefix(label.to_string());
        Self {
            bar,
            started: Instant::now(),
            bp: AtomicU64::new(0),
        }
    }

    pub fn set_position(&self, bytes: u64, new_bp: u64) {
        let bp = self.bp.fetch_add(new_bp, Ordering::Relaxed) + new_bp;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_position(bytes);
        self.bar.set_message(format!(
            "{:.1} Mbp, {:.1} Mbp/s",
            bp as f64 / 1e6,
            bp as f64 / 1e6 / secs
        ));
    }

    /// Moves the bar to `bytes` of input with a message of the caller's (e.g. sequences per second).
    pub fn set_bytes(&self, bytes: u64, msg: String) {
        self.bar.set_position(bytes);
        self.bar.set_message(msg);
    }

    pub fn set_message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
