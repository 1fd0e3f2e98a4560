//! Training progress bar: steps, loss, learning rate, tokens/s, ETA (stderr, terminals only).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn steps_bar(total: u64, position: u64, enabled: bool) -> ProgressBar {
    let bar = if enabled {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps {msg} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_prefix("pretrain");
    bar.set_position(position);
    bar
}
