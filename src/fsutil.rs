//! Outputs that are never half-written: files go to a temporary name and are renamed, directories
//! are built under a staging name and renamed into place when complete.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary sibling file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// An output file under a temporary sibling name until [`commit`](Self::commit) renames it to its
/// path; dropped uncommitted (an error, Ctrl-C) the temporary file is removed, so the path never
/// holds a half-written file. For files another library writes by path (a BigWig); [`AtomicFile`]
/// is the same for files written here.
/// While it exists it holds the path's [`OutputLock`]: a second run writing the same file refuses.
pub struct StagedPath {
    path: PathBuf,
    tmp: PathBuf,
    // Released (the lock file removed) after the rename or the clean-up.
    _lock: OutputLock,
}

impl StagedPath {
    /// The path's lock, and a temporary name beside it (a killed run's is removed first).
    pub fn create(path: &Path) -> io::Result<Self> {
        let lock = OutputLock::acquire(path).map_err(|e| match e {
            // The caller names the path; this says why.
            StagingError::Busy { pid, .. } => io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!("another genolm run (process {pid}) is writing this file; wait for it or choose another --out"),
            ),
            e => io::Error::other(e),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp: sibling(path, "tmp"),
            _lock: lock,
        })
    }

    /// Where to write until the commit.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file into place.
    pub fn commit(self) -> io::Result<()> {
        std::fs::rename(&self.tmp, &self.path)
    }
}

impl Drop for StagedPath {
    fn drop(&mut self) {
        // Committed: the temporary name no longer exists and this removes nothing. (Runs before
        // the lock field drops.)
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// A file written in pieces (a stream of predictions, say) through a [`StagedPath`]: it appears at
/// its path only when [`commit`](Self::commit) is called, and dropped uncommitted it is removed.
pub struct AtomicFile {
    // Closed before the staged path removes an uncommitted file (fields drop in order).
    writer: Option<io::BufWriter<std::fs::File>>,
    staged: StagedPath,
}

impl AtomicFile {
    pub fn create(path: &Path) -> io::Result<Self> {
        let staged = StagedPath::create(path)?;
        let file = std::fs::File::create(staged.tmp())?;
        Ok(Self {
            writer: Some(io::BufWriter::with_capacity(1 << 20, file)),
            staged,
        })
    }

    /// Flushes what was written and returns the temporary file's path, to read it back (to build
    /// another output from it) before [`commit`](Self::commit).
    pub fn staged(&mut self) -> io::Result<&Path> {
        self.flush()?;
        Ok(self.staged.tmp())
    }

    /// Flushes the data to the temporary file and renames it into place.
    pub fn commit(mut self) -> io::Result<()> {
        let writer = self.writer.take().expect("writer present until commit");
        writer.into_inner().map_err(|e| e.into_error())?;
        self.staged.commit()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("not committed").flush()
    }
}

/// A directory under construction. Dropped without [`commit`](Self::commit) (an error, Ctrl-C), it is
/// removed, so the final path either holds a complete result or nothing new.
pub struct StagingDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
    // Released (the lock file removed) after the rename or the clean-up.
    _lock: OutputLock,
}

/// Held while a run writes an output: a second run given the same output refuses instead of racing
/// the first (whose result it would replace, or whose checkpoints it would mix with its own). The
/// lock is a sibling file `.NAME.lock` holding the owner's process id, created exclusively; one
/// left by a run that was killed (its process gone) is taken over.
pub struct OutputLock {
    path: PathBuf,
}

impl OutputLock {
    /// The lock of an output directory, its parent directories created first.
    pub fn for_dir(target: &Path) -> Result<Self, StagingError> {
        create_parent(target)?;
        Self::acquire(target)
    }

    /// The lock of `target` (whose parent must exist). Once held, what killed runs left beside
    /// `target` is cleaned up (see [`recover`]).
    pub fn acquire(target: &Path) -> Result<Self, StagingError> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = target.with_file_name(format!(".{name}.lock"));
        let create_err = |source| StagingError::Create {
            path: target.to_path_buf(),
            source,
        };
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    let lock = Self { path };
                    recover(target).map_err(create_err)?;
                    return Ok(lock);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if pid != std::process::id() && process_alive(pid) => {
                            return Err(StagingError::Busy {
                                path: target.to_path_buf(),
                                pid,
                            });
                        }
                        // A killed run's lock (or one being written this instant: retried once).
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(create_err(e)),
            }
        }
        Err(StagingError::Busy {
            path: target.to_path_buf(),
            pid: 0,
        })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn create_parent(target: &Path) -> Result<(), StagingError> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StagingError::Create {
            path: target.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// What a run killed (kill -9, power loss) while writing `target` left beside it, dealt with by
/// the next run that holds `target`'s lock (so no live run can own them): a replaced directory
/// that was moved aside but whose successor never arrived (`.NAME.old-PID`, only where the
/// filesystem cannot swap atomically) goes back to `target`; staging directories and temporary
/// files (`.NAME.partial-PID`, `.NAME.tmp-PID`) are removed.
pub fn recover(target: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let name = name.to_string_lossy();
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mine = std::process::id().to_string();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name
            .strip_prefix('.')
            .and_then(|r| r.strip_prefix(name.as_ref()))
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        let Some((tag, pid)) = rest.split_once('-') else {
            continue;
        };
        if pid == mine || pid.parse::<u32>().is_err() {
            continue;
        }
        let path = entry.path();
        match tag {
            "old" if !target.exists() => std::fs::rename(&path, target)?,
            "old" | "partial" | "tmp" => remove_any(&path)?,
            _ => {}
        }
    }
    Ok(())
}

/// Removes a directory so that a kill part-way never leaves it half-deleted under its name: it is
/// first renamed aside (a staging name, which [`recover`] cleans up).
pub fn remove_dir_atomic(path: &Path) -> io::Result<()> {
    let aside = sibling(path, "partial");
    match std::fs::rename(path, &aside) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(()) => std::fs::remove_dir_all(&aside),
    }
}

fn remove_any(path: &Path) -> io::Result<()> {
    let r = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Swaps two paths in one step (Linux's renameat2 RENAME_EXCHANGE). Ok(false) where the
/// filesystem or system cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
        };
        let (ca, cb) = (c(a)?, c(b)?);
        // SAFETY: two valid NUL-terminated paths; renameat2 only reads them.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
            _ => Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("{path}: output directory already exists (use --force to replace it)", path = path.display())]
    Exists { path: PathBuf },
    #[error("{path}: cannot create output directory: {source}", path = path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: another genolm run (process {pid}) is writing this output; wait for it or choose another --out", path = path.display())]
    Busy { path: PathBuf, pid: u32 },
    #[error("{path}: cannot move the finished output into place: {source}", path = path.display())]
    Commit {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StagingDir {
    pub fn create(target: &Path, overwrite: bool) -> Result<Self, StagingError> {
        let lock = OutputLock::for_dir(target)?;
        if target.exists() && !overwrite {
            return Err(StagingError::Exists {
                path: target.to_path_buf(),
            });
        }
        let create_err = |source| StagingError::Create {
            path: target.to_path_buf(),
            source,
        };
        let staging = sibling(target, "partial");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(create_err)?;
        }
        std::fs::create_dir(&staging).map_err(create_err)?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            committed: false,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.staging
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished directory into place, replacing an older one only now that the new one is whole.
    pub fn commit(mut self) -> Result<PathBuf, StagingError> {
        let commit_err = |source| StagingError::Commit {
            path: self.target.clone(),
            source,
        };
        if self.target.exists() {
            // One atomic swap where the filesystem allows it: a kill at any moment leaves the
            // old directory or the new one at the target, never neither.
            if exchange(&self.staging, &self.target).map_err(commit_err)? {
                let _ = std::fs::remove_dir_all(&self.staging);
            } else {
                // Killed between these renames, the next run's [`recover`] moves the old one back.
                let old = sibling(&self.target, "old");
                std::fs::rename(&self.target, &old).map_err(commit_err)?;
                std::fs::rename(&self.staging, &self.target).map_err(commit_err)?;
                let _ = std::fs::remove_dir_all(&old);
            }
        } else {
            std::fs::rename(&self.staging, &self.target).map_err(commit_err)?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second run on an output a live process holds refuses; a killed run's lock is taken over;
    /// the lock goes when the output is committed or abandoned.
    #[test]
    fn test_output_lock_refuses_a_second_run() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let lock = root.path().join(".out.lock");
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(&lock, live.id().to_string()).unwrap();
        let err = StagingDir::create(&target, false).err().expect("refused");
        assert!(
            matches!(err, StagingError::Busy { pid, .. } if pid == live.id()),
            "{err}"
        );
        assert!(err.to_string().contains("another genolm run"), "{err}");
        live.kill().unwrap();
        live.wait().unwrap();
        // The same pid, now dead: a killed run's lock, taken over.
        let staging = StagingDir::create(&target, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            std::process::id().to_string()
        );
        std::fs::write(staging.path().join("x"), b"1").unwrap();
        staging.commit().unwrap();
        assert!(!lock.exists(), "released at commit");
        assert!(target.join("x").exists());
    }

    #[test]
    fn test_staging_dir_removed_unless_committed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        {
            let s = StagingDir::create(&target, false).unwrap();
            std::fs::write(s.path().join("x"), b"1").unwrap();
        }
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
        let s = StagingDir::create(&target, false).unwrap();
        std::fs::write(s.path().join("x"), b"2").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(target.join("x")).unwrap(), b"2");
        assert!(StagingDir::create(&target, false).is_err());
        let s = StagingDir::create(&target, true).unwrap();
        s.commit().unwrap();
        assert!(!target.join("x").exists(), "replaced by the new output");
    }

    /// What killed runs leave beside an output is dealt with by the next holder of its lock: a
    /// directory moved aside mid-swap comes back, staging and temporary names go, others stay.
    #[test]
    fn test_recover_after_a_killed_run() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("state");
        let dead = 999_999_999u32;
        std::fs::create_dir(root.path().join(format!(".state.old-{dead}"))).unwrap();
        std::fs::write(root.path().join(format!(".state.old-{dead}/w")), b"kept").unwrap();
        std::fs::create_dir(root.path().join(format!(".state.partial-{dead}"))).unwrap();
        std::fs::write(root.path().join(format!(".state.tmp-{dead}")), b"").unwrap();
        std::fs::write(root.path().join(".stateful.tmp-1"), b"").unwrap();
        std::fs::write(root.path().join(".state.lock"), dead.to_string()).unwrap();
        let lock = OutputLock::acquire(&target).unwrap();
        assert_eq!(std::fs::read(target.join("w")).unwrap(), b"kept");
        let mut names: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".state.lock", ".stateful.tmp-1", "state"]);
        drop(lock);
        // With the target present, an old copy is removed, not restored.
        std::fs::create_dir(root.path().join(format!(".state.old-{dead}"))).unwrap();
        recover(&target).unwrap();
        assert!(!root.path().join(format!(".state.old-{dead}")).exists());
        assert_eq!(std::fs::read(target.join("w")).unwrap(), b"kept");
    }

    /// Replacing a directory swaps it in one step; the old one is gone afterwards.
    #[test]
    fn test_commit_replaces_without_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        for text in [b"1", b"2"] {
            let s = StagingDir::create(&target, true).unwrap();
            std::fs::write(s.path().join("x"), text).unwrap();
            s.commit().unwrap();
        }
        assert_eq!(std::fs::read(target.join("x")).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        remove_dir_atomic(&target).unwrap();
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        remove_dir_atomic(&target).unwrap();
    }

    #[test]
    fn test_atomic_file_appears_only_when_committed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("preds.tsv");
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        std::fs::write(&target, b"old").unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new ").unwrap();
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"old",
            "old file kept until commit"
        );
        f.write_all(b"whole").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new whole");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        assert!(AtomicFile::create(&root.path().join("no/such/dir/x")).is_err());
    }
}
