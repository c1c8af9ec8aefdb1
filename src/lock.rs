//! The data directory lock: `<data_dir>/i2i.lock`, held shared by every process that uses
//! the data directory (servers, `reindex`, the other commands on SQLite) and exclusively by
//! `i2i restore`, which replaces the database and the index under them.
//!
//! It is an advisory `flock(2)`, released by the kernel when the process ends however it
//! ends (SIGKILL included), so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The file's name inside the data directory.
pub const LOCK_FILE: &str = "i2i.lock";

/// A held lock; dropping it (closing the file) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock shared, as users of the data directory do: many may hold it at once
    /// (several servers in one test process, a server and `reindex`), but not while a
    /// restore is replacing the files.
    pub fn shared(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let (file, path) = open(data_dir)?;
        if !try_flock(&file, libc::LOCK_SH)? {
            anyhow::bail!(
                "{} is locked by a running `i2i restore`; try again when it has finished",
                path.display()
            );
        }
        Ok(DataDirLock { _file: file })
    }

    /// Takes the lock exclusively, for `restore`: fails at once while any server or other
    /// command uses the data directory.
    pub fn exclusive(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        let (file, _) = open(data_dir)?;
        if !try_flock(&file, libc::LOCK_EX)? {
            anyhow::bail!(
                "{} is in use by a running i2i (server or command); stop it first",
                data_dir.display()
            );
        }
        Ok(DataDirLock { _file: file })
    }
}

fn open(data_dir: &Path) -> anyhow::Result<(File, PathBuf)> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((file, path))
}

/// Tries `flock(operation | LOCK_NB)`; false when another holder is in the way.
fn try_flock(file: &File, operation: libc::c_int) -> anyhow::Result<bool> {
    // SAFETY: the descriptor is owned by `file`, which outlives the call.
    let result = unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(err).context("locking the data directory")
}

#[cfg(test)]
mod tests {
    use super::DataDirLock;

    #[test]
    fn shared_holders_coexist_and_keep_an_exclusive_one_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::shared(dir.path()).expect("first shared");
        let second = DataDirLock::shared(dir.path()).expect("second shared");
        assert!(DataDirLock::exclusive(dir.path()).is_err(), "servers are running");
        drop((first, second));
        let exclusive = DataDirLock::exclusive(dir.path()).expect("nobody left");
        assert!(DataDirLock::shared(dir.path()).is_err(), "a restore is running");
        drop(exclusive);
        DataDirLock::shared(dir.path()).expect("restore finished");
    }
}
