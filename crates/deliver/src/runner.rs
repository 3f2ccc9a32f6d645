//! Who is making an attempt. Each process that delivers registers a runner: a random id and
//! a lock file `<data dir>/runners/<id>.lock` it holds locked (flock) for as long as it lives.
//! The tracker writes the runner's id into every delivery it marks `sending`. Whoever later
//! finds a delivery in `sending` can tell whether its runner still works on it: if the lock
//! can be taken, the process is gone (killed, crashed, the machine rebooted) and the attempt
//! was interrupted. Several processes (`serve`, `send`) may deliver from one data dir at the
//! same time without ever taking each other's attempts.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

const DIR: &str = "runners";

#[derive(Debug)]
pub struct Runner {
    id: String,
    path: PathBuf,
    // Held open (and locked) for the runner's life.
    _lock: File,
}

fn fresh_id() -> String {
    let mut bytes = [0u8; 8];
    // Without a random source the pid and time still make a distinct id.
    let _ = getrandom::getrandom(&mut bytes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{:x}-{}",
        std::process::id(),
        now % 0xffff_ffff,
        hex::encode(bytes)
    )
}

fn lock_path(data_dir: &Path, id: &str) -> Option<PathBuf> {
    // Ids are made here; anything else (a damaged row) never names a path outside the dir.
    let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then(|| data_dir.join(DIR).join(format!("{id}.lock")))
}

impl Runner {
    /// Registers a runner for this process.
    pub fn register(data_dir: &Path) -> io::Result<Runner> {
        std::fs::create_dir_all(data_dir.join(DIR))?;
        let id = fresh_id();
        let path =
            lock_path(data_dir, &id).ok_or_else(|| io::Error::other("cannot make a runner id"))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        lock.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => io::Error::other("the runner lock is taken"),
            TryLockError::Error(e) => e,
        })?;
        Ok(Runner {
            id,
            path,
            _lock: lock,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the runner `id` of this data dir is gone (its attempts were interrupted).
    /// A runner that cannot be checked counts as alive: an attempt is never taken over on a
    /// guess.
    pub fn is_gone(data_dir: &Path, id: &str) -> bool {
        let Some(path) = lock_path(data_dir, id) else {
            return true;
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(_) => return false,
        };
        match file.try_lock() {
            Ok(()) => {
                // Nobody holds it: the process ended without cleaning up.
                let _ = std::fs::remove_file(&path);
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_runner_is_alive_and_a_dropped_one_gone() {
        let dir = tempfile::tempdir().unwrap();
        let a = Runner::register(dir.path()).unwrap();
        let b = Runner::register(dir.path()).unwrap();
        assert_ne!(a.id(), b.id());
        assert!(!Runner::is_gone(dir.path(), a.id()));
        let id = a.id().to_string();
        drop(a);
        assert!(Runner::is_gone(dir.path(), &id));
        assert!(Runner::is_gone(dir.path(), "never-existed"));
        assert!(Runner::is_gone(dir.path(), "../../etc/passwd"));
        // A lock file left behind by a killed process is not held by anyone.
        let stale = dir.path().join(DIR).join("123-abc.lock");
        std::fs::write(&stale, b"").unwrap();
        assert!(Runner::is_gone(dir.path(), "123-abc"));
        assert!(!stale.exists(), "cleaned up");
        assert!(!Runner::is_gone(dir.path(), b.id()));
    }
}
