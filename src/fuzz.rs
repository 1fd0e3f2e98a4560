//! The mutation engine of genolm's stable-toolchain fuzzers (issue #24): `examples/fuzz.rs` for
//! the data crate's parsers, `torch/examples/fuzz_models.rs` for model configs and directories.
//! Each target's seed inputs (built in, plus `tests/fuzz/<target>/*`) are mutated at random (bit
//! flips, special bytes, inserted, deleted, duplicated and spliced ranges, truncation) and fed to
//! the target; a panic is a crash, an input that runs over `--timeout-ms` a hang. Both are saved
//! to `tests/fuzz/crashes/`. Errors are the expected outcome of bad input and count as passes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::rng::SplitMix64;

/// Runs the parser on one input (with a scratch directory it may write to): true if it was
/// accepted, false if refused with an error.
pub type Target = fn(&[u8], &Path) -> bool;

/// A fuzz target: its name, the function and its built-in seeds.
pub type Named = (&'static str, Target, Vec<Vec<u8>>);

/// Seeds for a directory target: one per file of the valid directory `dir`, each the file's index
/// in `names` (one byte) followed by its contents. See [`lay_out`].
pub fn dir_seeds(dir: &Path, names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut seed = vec![i as u8];
            seed.extend(std::fs::read(dir.join(name)).expect("a file of the valid directory"));
            seed
        })
        .collect()
}

/// Makes `work` a copy of the valid directory `pristine` in which the file named by the input's
/// first byte (modulo `names`) holds the rest of the input: a whole directory whose one file is
/// damaged, as a user's disk or a copy gone wrong leaves it. The other files are hard links to
/// `pristine`'s (targets only read them), so an input costs one write.
pub fn lay_out(input: &[u8], pristine: &Path, work: &Path, names: &[&str]) {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(work).expect("scratch dir");
    let changed = input
        .split_first()
        .map(|(&which, _)| names[which as usize % names.len()]);
    for name in names {
        let (p, w) = (pristine.join(name), work.join(name));
        let linked = match (std::fs::metadata(&p), std::fs::metadata(&w)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino(),
            _ => false,
        };
        if Some(*name) == changed || !linked {
            let _ = std::fs::remove_file(&w);
        }
        if Some(*name) != changed && !linked {
            std::fs::hard_link(&p, &w).expect("scratch link");
        }
    }
    if let (Some(name), Some((_, contents))) = (changed, input.split_first()) {
        std::fs::write(work.join(name), contents).expect("scratch file");
    }
}

const SPECIAL: &[u8] = b"\0\xff\n\r\t >@:-+,.=;/#\"'[]{}09NnACGTacgt";

/// One random edit of `b` (never longer than 64 KiB).
fn mutate(b: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut SplitMix64) {
    let pick = |rng: &mut SplitMix64, n: usize| rng.below(n.max(1) as u64) as usize;
    match rng.below(8) {
        0 if !b.is_empty() => {
            let i = pick(rng, b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 if !b.is_empty() => {
            let i = pick(rng, b.len());
            b[i] = SPECIAL[pick(rng, SPECIAL.len())];
        }
        2 => {
            let i = pick(rng, b.len() + 1);
            let n = 1 + pick(rng, 8);
            for _ in 0..n {
                b.insert(i.min(b.len()), rng.below(256) as u8);
            }
        }
        3 if !b.is_empty() => {
            let i = pick(rng, b.len());
            let n = 1 + pick(rng, 16);
            b.drain(i..(i + n).min(b.len()));
        }
        4 if !b.is_empty() => {
            let i = pick(rng, b.len());
            let n = 1 + pick(rng, 64.min(b.len() - i));
            let part: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
            let at = pick(rng, b.len() + 1);
            b.splice(
                at..at,
                part.iter()
                    .copied()
                    .cycle()
                    .take(part.len() * (1 + pick(rng, 4))),
            );
        }
        5 => {
            let other = &seeds[pick(rng, seeds.len())];
            if !other.is_empty() {
                let i = pick(rng, other.len());
                let n = 1 + pick(rng, other.len() - i);
                let at = pick(rng, b.len() + 1);
                b.splice(at..at, other[i..i + n].iter().copied());
            }
        }
        6 if !b.is_empty() => b.truncate(pick(rng, b.len())),
        _ => {
            let i = pick(rng, b.len() + 1);
            b.insert(i.min(b.len()), SPECIAL[pick(rng, SPECIAL.len())]);
        }
    }
    b.truncate(64 << 10);
}

fn seeds_of(root: &Path, name: &str, builtin: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let dir = root.join("tests/fuzz").join(name);
    let mut seeds = builtin;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        seeds.extend(files.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    seeds
}

/// Runs every target of `targets` (or `--target NAME`) for `--inputs N` inputs (`--seed S`,
/// `--timeout-ms T` from the command line); seeds and crashes live under `root/tests/fuzz`. Exits
/// 1 if any input crashed, 2 on a hang.
pub fn main(targets: Vec<Named>, root: &Path) -> ! {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let inputs: u64 = arg("--inputs").map_or(100_000, |v| v.parse().expect("--inputs N"));
    let seed: u64 = arg("--seed").map_or(1, |v| v.parse().expect("--seed S"));
    let timeout =
        Duration::from_millis(arg("--timeout-ms").map_or(2_000, |v| v.parse().expect("ms")));
    let only = arg("--target");
    let crashes_dir = root.join("tests/fuzz/crashes");
    let scratch = std::env::temp_dir().join(format!("genolm-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    std::panic::set_hook(Box::new(|_| {}));
    // Watchdog: an input running past the timeout is a hang; it is saved by the main loop's
    // record of the current input and the process stops.
    let started_ms = Arc::new(AtomicU64::new(u64::MAX));
    let current: Arc<std::sync::Mutex<(String, Vec<u8>)>> = Arc::default();
    let clock = Instant::now();
    {
        let (started_ms, current, crashes_dir) = (
            Arc::clone(&started_ms),
            Arc::clone(&current),
            crashes_dir.clone(),
        );
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let s = started_ms.load(Ordering::Relaxed);
            if s != u64::MAX && clock.elapsed().as_millis() as u64 > s + timeout.as_millis() as u64
            {
                let (name, input) = current.lock().map(|c| c.clone()).unwrap_or_default();
                let _ = std::fs::create_dir_all(&crashes_dir);
                let path = crashes_dir.join(format!("{name}-hang.bin"));
                let _ = std::fs::write(&path, input);
                eprintln!("HANG in {name}: input saved to {}", path.display());
                std::process::exit(2);
            }
        });
    }
    let mut failed = false;
    for (name, target, builtin) in targets {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let seeds = seeds_of(root, name, builtin);
        let valid = seeds.iter().filter(|b| target(b, &scratch)).count();
        println!(
            "{name}: {valid} of {} seeds accepted as they are",
            seeds.len()
        );
        let mut rng = SplitMix64::new(seed ^ name.len() as u64);
        let (mut crashes, mut accepted, t0) = (0u64, 0u64, Instant::now());
        let mut messages = std::collections::BTreeSet::new();
        for i in 0..inputs {
            let mut b = seeds[rng.below(seeds.len() as u64) as usize].clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut b, &seeds, &mut rng);
            }
            if let Ok(mut c) = current.lock() {
                *c = (name.to_string(), b.clone());
            }
            started_ms.store(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&b, &scratch)));
            started_ms.store(u64::MAX, Ordering::Relaxed);
            accepted += u64::from(matches!(r, Ok(true)));
            if let Err(p) = r {
                crashes += 1;
                let text = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if messages.insert(text.clone()) {
                    std::fs::create_dir_all(&crashes_dir).expect("crashes dir");
                    let path = crashes_dir.join(format!("{name}-{i}.bin"));
                    std::fs::write(&path, &b).expect("save crash");
                    eprintln!(
                        "CRASH in {name} (input {i}): {text}; saved to {}",
                        path.display()
                    );
                }
            }
        }
        failed |= crashes > 0;
        println!(
            "{name}: {inputs} inputs in {:.1} s ({accepted} accepted, {} refused with an error), \
             {crashes} crashes ({} distinct), 0 hangs (timeout {} ms)",
            t0.elapsed().as_secs_f64(),
            inputs - accepted - crashes,
            messages.len(),
            timeout.as_millis()
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    std::process::exit(i32::from(failed));
}
