//! Progress bars: training steps (loss, learning rate, tokens/s) and evaluation batches, with ETA
//! (stderr, terminals only).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn steps_bar(total: u64, position: u64, enabled: bool) -> ProgressBar {
    counting_bar("pretrain", "steps", total, position, enabled)
}

/// A bar counting `total` items of `unit`, starting at `position`, hidden unless `enabled`.
pub fn counting_bar(
    prefix: &str,
    unit: &str,
    total: u64,
    position: u64,
    enabled: bool,
) -> ProgressBar {
    let bar = if enabled {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} {{msg}} ETA {{eta}}"
        ))
        .expect("valid template"),
    );
    bar.set_prefix(prefix.to_string());
    bar.set_position(position);
    bar
}
