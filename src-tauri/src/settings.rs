//! What the desktop app remembers between launches, in `<data dir>/desktop.json`: the loopback
//! port it served on (the same port keeps the webview's origin, so the UI's local storage
//! survives a restart) and the view the window showed when it was closed. Window size and
//! position are the window-state plugin's (in the XDG config dir).
//!
//! Written to a temporary file and renamed, so a crash never leaves half a file; an unreadable
//! file is reported and replaced by the defaults rather than stopping the app.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "desktop.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The port served on last time; tried first at the next launch.
    pub port: Option<u16>,
    /// Path, query and fragment of the page the window showed at quit.
    pub view: Option<String>,
}

impl Settings {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// The settings, or the defaults with a warning naming the file and what is wrong.
    pub fn load(data_dir: &Path) -> Settings {
        let path = Settings::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Settings>(&bytes) {
                Ok(s) => s.sanitized(),
                Err(e) => {
                    tracing::warn!(
                        "{} is not valid ({e}); starting with default desktop settings",
                        path.display()
                    );
                    Settings::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}; using defaults", path.display());
                Settings::default()
            }
        }
    }

    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = Settings::path(data_dir);
        let tmp = data_dir.join(format!(".{FILE_NAME}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &path)
    }

    /// Drops what could not have come from this app: port 0, a view that is not a path on
    /// the server (it is handed to `/login?next=`).
    fn sanitized(mut self) -> Settings {
        if self.port == Some(0) {
            self.port = None;
        }
        if let Some(v) = &self.view {
            if !is_view_path(v) {
                self.view = None;
            }
        }
        self
    }
}

/// A path on the local server (`/…` but not `//…`), as `/login?next=` accepts.
pub fn is_view_path(v: &str) -> bool {
    v.starts_with('/')
        && !v.starts_with("//")
        && !v.starts_with("/\\")
        && !v.chars().any(char::is_control)
        && v.len() <= 2000
}

/// The view to remember from the window's URL: its path, query and fragment — unless it is
/// the sign-in page itself (its secret is used up and must never be stored).
pub fn view_of(url: &url::Url) -> Option<String> {
    if url.path() == "/login" {
        return None;
    }
    let mut v = url.path().to_string();
    if let Some(q) = url.query() {
        v.push('?');
        v.push_str(q);
    }
    if let Some(f) = url.fragment() {
        v.push('#');
        v.push_str(f);
    }
    is_view_path(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir (no tempfile crate: as a dev-dependency it
    /// changes features of shared dependencies and rebuilds them for the tests alone).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let d =
                std::env::temp_dir().join(format!("sb-desktop-test-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn round_trip_and_defaults() {
        let dir = TempDir::new("round-trip");
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let s = Settings {
            port: Some(41234),
            view: Some("/#message/7".into()),
        };
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()), s);
        assert!(!dir.path().join(".desktop.json.tmp").exists());
    }

    #[test]
    fn a_broken_or_hostile_file_gives_defaults() {
        let dir = TempDir::new("broken");
        std::fs::write(Settings::path(dir.path()), b"{not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        std::fs::write(
            Settings::path(dir.path()),
            br#"{"port": 0, "view": "//evil.example/"}"#,
        )
        .unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        std::fs::write(Settings::path(dir.path()), br#"{"unknown": true}"#).unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
    }

    #[test]
    fn remembers_the_view_but_never_the_sign_in_url() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            view_of(&u("http://127.0.0.1:5000/?q=x#message/3")),
            Some("/?q=x#message/3".into())
        );
        assert_eq!(view_of(&u("http://127.0.0.1:5000/")), Some("/".into()));
        assert_eq!(
            view_of(&u("http://127.0.0.1:5000/login?secret=abc&next=/")),
            None
        );
    }
}
