//! How a test skips, for both crates' test helpers (included by path): where a prerequisite is
//! missing, CI fails; elsewhere the test prints a SKIPPED line and, for scripts/test.sh to count,
//! appends one line to the file named by $GENOLM_SKIP_LOG.

use std::io::Write;

/// Whether this run must have every prerequisite (CI, or GENOLM_REQUIRE_SHARED_DATA=1).
pub fn everything_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("GENOLM_REQUIRE_SHARED_DATA").is_ok_and(|v| v == "1")
}

/// `what` is missing (`why` it is needed, where it comes from): a panic when everything is
/// required; otherwise a SKIPPED line, counted. The caller then returns early.
pub fn missing(what: &str, why: &str) {
    assert!(
        !everything_required(),
        "{what} is missing, and CI must have it: {why}"
    );
    eprintln!("SKIPPED: needs {what} ({why})");
    if let Some(log) = std::env::var_os("GENOLM_SKIP_LOG") {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed test")
            .to_string();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{test}\tneeds {what} ({why})");
        }
    }
}
