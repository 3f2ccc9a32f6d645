//! The state dir: `state.json` (the last sequence, the last full check, the known ids with their
//! size and body state) and `bodies/<id>.json` (downloaded messages as the server sent them).
//! Every file is written to a temporary name and renamed into place, so a crash leaves the old
//! version or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::logic::{State, STATE_VERSION};
use crate::ClientError;

pub(crate) struct StateDir {
    dir: PathBuf,
}

fn state_err(path: &Path, detail: impl std::fmt::Display) -> ClientError {
    ClientError::State {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(state_err(path, format!("cannot write: {e}")));
    }
    Ok(())
}

impl StateDir {
    /// Creates the dir if needed and reads the state (a fresh state when there is none yet).
    pub(crate) fn open(dir: &Path) -> Result<(StateDir, State), ClientError> {
        let bodies = dir.join("bodies");
        std::fs::create_dir_all(&bodies).map_err(|e| state_err(&bodies, e))?;
        let sd = StateDir {
            dir: dir.to_path_buf(),
        };
        let path = sd.state_file();
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).map_err(|e| {
                    state_err(
                        &path,
                        format!(
                            "is not a state file this client wrote ({e}); remove it to start over"
                        ),
                    )
                })?;
                if state.version > STATE_VERSION {
                    return Err(state_err(
                        &path,
                        format!(
                            "was written by a newer client (version {}, this one knows {STATE_VERSION})",
                            state.version
                        ),
                    ));
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                version: STATE_VERSION,
                ..Default::default()
            },
            Err(e) => return Err(state_err(&path, format!("cannot read: {e}"))),
        };
        Ok((sd, state))
    }

    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub(crate) fn save(&self, state: &State) -> Result<(), ClientError> {
        let path = self.state_file();
        let bytes = serde_json::to_vec(state).map_err(|e| state_err(&path, e))?;
        write_atomic(&path, &bytes)
    }

    pub(crate) fn body_file(&self, id: i64) -> PathBuf {
        self.dir.join("bodies").join(format!("{id}.json"))
    }

    pub(crate) fn read_body(&self, id: i64) -> Option<Vec<u8>> {
        std::fs::read(self.body_file(id)).ok()
    }

    pub(crate) fn write_body(&self, id: i64, bytes: &[u8]) -> Result<(), ClientError> {
        write_atomic(&self.body_file(id), bytes)
    }

    pub(crate) fn remove_body(&self, id: i64) {
        let _ = std::fs::remove_file(self.body_file(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::{BodyState, Known};

    #[test]
    fn state_survives_a_reopen_and_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (sd, mut state) = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.seq, None);
        state.seq = Some(12);
        state.last_full_check = Some(1_700_000_000);
        state.messages.insert(
            5,
            Known {
                size: 1234,
                body: BodyState::Deferred,
            },
        );
        sd.save(&state).unwrap();
        let (_, back) = StateDir::open(dir.path()).unwrap();
        assert_eq!(back, state);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_damaged_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), b"{not json").unwrap();
        let err = StateDir::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("state.json") && err.contains("remove it"),
            "{err}"
        );
    }

    #[test]
    fn bodies_are_kept_per_id() {
        let dir = tempfile::tempdir().unwrap();
        let (sd, _) = StateDir::open(dir.path()).unwrap();
        assert!(sd.read_body(3).is_none());
        sd.write_body(3, b"{\"id\":3}").unwrap();
        assert_eq!(sd.read_body(3).unwrap(), b"{\"id\":3}");
        sd.remove_body(3);
        assert!(sd.read_body(3).is_none());
    }
}
