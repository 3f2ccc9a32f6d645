//! What the browser tests (ui_*_e2e) share: the tools they need and a polling wait.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Fails loudly, naming the package, when Node.js, ui/node_modules or Chromium is missing.
pub fn require_ui_deps(ui: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        matches!(node, Ok(ref o) if o.status.success()),
        "node is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"
    );
    assert!(
        ui.join("node_modules/playwright-core").is_dir(),
        "ui/node_modules is missing: run `make ui` (npm ci in ui/)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (scripts/install-deps.sh test)"
    );
}

/// Polls `check` every 100 ms; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}
