//! glibc's malloc, set for training loops.
//!
//! libtorch frees and allocates the same large activation and gradient buffers every step. With
//! glibc's defaults they go back to the kernel (blocks above the adaptive mmap threshold, heap
//! trimming) and come back as fresh pages, so every step pays page faults on ~100 MB: on this
//! project's 2-core VM that was a fifth of a small LSTM's step. Keeping freed memory in the process
//! (no mmap for any block, no trimming, heap grown in 256 MB steps) costs peak RSS (~500 -> ~700 MB
//! at the small LM shape, 1.5 -> 2.1 GB at the paper shape) and makes steps 1.2-1.5x faster
//! (BENCHMARKS.md, issue #4). mmap is off altogether because glibc maps a block above its largest
//! mmap threshold (32 MB) afresh whenever the heap's free top is too small for it: oneDNN's LSTM
//! training workspaces are such blocks (61 MB at the small classifier shape), and with mmap allowed
//! a 22-step classifier run took 435k page faults instead of 98k and trained ~25 % slower.

/// Applies the settings, unless the user chose their own with glibc's `MALLOC_*_` variables.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = std::env::vars_os().any(|(k, _)| {
            let k = k.to_string_lossy();
            k.starts_with("MALLOC_") && k.ends_with('_')
        });
        if user_set {
            return;
        }
        // SAFETY: mallopt only sets allocator parameters (under its own lock); no memory is touched.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        }
    }
}
