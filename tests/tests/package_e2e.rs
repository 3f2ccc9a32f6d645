//! The Debian package, installed on this machine: `make package-test` builds the .deb, then runs
//! this test (it is `#[ignore]`d in a plain `cargo test` because it installs and removes a
//! system package with apt-get, as root or through `sudo -n`). It checks what the package
//! holds, runs the installed CLI from PATH, starts the installed app under Xvfb on a fresh home
//! and takes a screenshot of its first window, turns start-at-login on from the installed path
//! and starts the app the way the desktop would, then removes the package and checks the
//! programs are gone and the person's data is not.
//!
//! `make package-test` sets SWITCHBOARD_DEB (the .deb), SWITCHBOARD_BIN=/usr/bin/switchboard and
//! SWITCHBOARD_DESKTOP_BIN=/usr/bin/switchboard-desktop (the installed programs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use switchboard_tests::desktop::{self, WebDriver, Xvfb};
use switchboard_tests::Switchboard;

const PACKAGE: &str = "switchboard";
const DESKTOP: &str = "/usr/bin/switchboard-desktop";
const CLI: &str = "/usr/bin/switchboard";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

/// `apt-get`/`dpkg` as root: directly when we are root, else through `sudo -n`.
fn as_root(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

fn apt(args: &[&str]) -> Output {
    run(as_root("apt-get")
        .args(["-y", "-q"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn workspace_version() -> String {
    let toml = std::fs::read_to_string(switchboard_tests::workspace_root().join("Cargo.toml"))
        .expect("the workspace's Cargo.toml");
    toml.split("[workspace.package]")
        .nth(1)
        .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .expect("a version in [workspace.package]")
}

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn serving(data_dir: &Path) -> bool {
    let Ok(s) = std::fs::read_to_string(data_dir.join("desktop.json")) else {
        return false;
    };
    let Some(port) = serde_json::from_str::<Value>(&s)
        .ok()
        .and_then(|v| v["port"].as_u64())
    else {
        return false;
    };
    switchboard_tests::http::get(
        std::net::SocketAddr::from(([127, 0, 0, 1], port as u16)),
        "/health",
        &[],
    )
    .map(|r| r.status == 200)
    .unwrap_or(false)
}

#[test]
#[ignore = "installs the .deb system-wide with apt-get: run by `make package-test`"]
fn deb_installs_launches_and_uninstalls() {
    let deb = PathBuf::from(
        std::env::var_os("SWITCHBOARD_DEB")
            .expect("SWITCHBOARD_DEB names the .deb to test (make package-test sets it)"),
    );
    assert!(deb.is_file(), "{} does not exist", deb.display());
    let deb = deb.canonicalize().unwrap();
    let version = workspace_version();

    // The control file: name, version from the workspace, what it needs at run time.
    let field = |f: &str| stdout(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(f));
    assert_eq!(field("Package").trim(), PACKAGE);
    assert_eq!(field("Version").trim(), version);
    let depends = field("Depends");
    for dep in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libayatana-appindicator3-1",
    ] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    assert!(
        field("Maintainer").contains('@'),
        "a maintainer with an address"
    );
    assert!(field("Description").contains("inbox"));

    // Installing it like any package: apt resolves its dependencies.
    apt(&["install", deb.to_str().unwrap()]);
    let listed = stdout(Command::new("dpkg").args(["-L", PACKAGE]));
    let files: Vec<&str> = listed.lines().collect();
    let mut expected = vec![
        DESKTOP.to_string(),
        CLI.to_string(),
        "/usr/share/applications/Switchboard.desktop".to_string(),
        "/usr/share/icons/hicolor/scalable/apps/switchboard-desktop.svg".to_string(),
        "/usr/share/doc/switchboard/copyright".to_string(),
        "/usr/share/doc/switchboard/changelog.gz".to_string(),
        "/usr/share/doc/switchboard/README.Debian".to_string(),
    ];
    for n in [16, 24, 32, 48, 64, 128, 256, 512] {
        expected.push(format!(
            "/usr/share/icons/hicolor/{n}x{n}/apps/switchboard-desktop.png"
        ));
    }
    for f in &expected {
        assert!(files.contains(&f.as_str()), "dpkg -L lacks {f}:\n{listed}");
    }
    for f in &files {
        assert!(
            !f.starts_with("/home") && !f.starts_with("/root") && !f.starts_with("/etc/skel"),
            "the package must put nothing in a home directory: {f}"
        );
    }
    let entry = std::fs::read_to_string("/usr/share/applications/Switchboard.desktop").unwrap();
    assert!(
        entry.contains("\nCategories=Network;Email;InstantMessaging;\n"),
        "{entry}"
    );
    assert!(entry.contains("\nExec=switchboard-desktop\n"), "{entry}");
    assert!(entry.contains("\nIcon=switchboard-desktop\n"), "{entry}");
    run(Command::new("desktop-file-validate").arg("/usr/share/applications/Switchboard.desktop"));

    // The CLI is on PATH.
    let which = stdout(Command::new("sh").args(["-c", "command -v switchboard"]));
    assert_eq!(which.trim(), CLI);
    let v = stdout(Command::new("switchboard").arg("--version"));
    assert_eq!(v.trim(), format!("switchboard {version}"));
    let v = stdout(Command::new("switchboard-desktop").arg("--version"));
    assert_eq!(v.trim(), format!("switchboard-desktop {version}"));

    // First run of the installed app on a fresh home: nothing there before, the store and
    // settings created on demand, the window up.
    let sb = Switchboard::new().unwrap();
    assert_eq!(
        sb.bin(),
        Path::new(CLI),
        "the harness runs the installed CLI"
    );
    assert!(
        std::fs::read_dir(sb.data_dir()).unwrap().next().is_none(),
        "the data dir is empty before the first run"
    );
    let logs = sb.dir().join("logs");
    let x = Xvfb::start(&logs).unwrap();
    let mut env = sb.env();
    env.push(("DISPLAY".into(), x.display().to_string()));
    let wd = WebDriver::start(&env, &logs.join("installed.log")).unwrap();
    let session = wd.session(Path::new(DESKTOP), &[]).unwrap();
    wait_until("the first window's page", Duration::from_secs(60), || {
        session
            .text()
            .map(|t| !t.trim().is_empty())
            .unwrap_or(false)
    });
    let url = session.url().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let shot = desktop::artifacts_dir()
        .unwrap()
        .join("installed-first-window.png");
    let bytes = session.screenshot(&shot).unwrap();
    assert!(bytes > 2_000, "screenshot of {bytes} bytes");
    assert!(sb.data_dir().join("switchboard.sqlite3").is_file());
    assert!(sb.data_dir().join("desktop.json").is_file());

    // Start at login, from the installed path (handed to the running app).
    // tauri-plugin-autostart (auto-launch) writes under $HOME/.config/autostart whatever
    // XDG_CONFIG_HOME says; desktops read that directory when XDG_CONFIG_HOME is unset, as it
    // usually is.
    let autostart = sb.dir().join("home/.config/autostart/Switchboard.desktop");
    let desktop_cmd = |args: &[&str]| {
        let mut c = Command::new(DESKTOP);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    };
    run(&mut desktop_cmd(&["--autostart", "on"]));
    wait_until("the autostart entry", Duration::from_secs(20), || {
        autostart.is_file()
    });
    let entry = std::fs::read_to_string(&autostart).unwrap();
    let exec = entry
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .unwrap_or_else(|| panic!("no Exec= in {entry}"))
        .to_string();
    assert!(
        exec.starts_with(&format!("{DESKTOP} --hidden")),
        "autostart runs the installed app in the tray: {exec}"
    );
    session.delete().unwrap();
    wait_until("the app to stop", Duration::from_secs(30), || {
        !serving(sb.data_dir())
    });
    // What the desktop does at login: run the Exec line.
    let mut parts = exec.split_whitespace();
    let mut at_login = Command::new(parts.next().unwrap());
    at_login
        .args(parts)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.join("at-login.log")).unwrap());
    let mut child = at_login.spawn().unwrap();
    wait_until(
        "the app started at login to serve",
        Duration::from_secs(60),
        || serving(sb.data_dir()),
    );
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM quits cleanly: {status:?}");
    run(&mut desktop_cmd(&["--autostart", "off"]));
    assert!(!autostart.exists(), "start at login turned off again");

    // Removing: the programs go, the person's data stays; purge says what is left.
    apt(&["remove", PACKAGE]);
    for f in [DESKTOP, CLI, "/usr/share/applications/Switchboard.desktop"] {
        assert!(!Path::new(f).exists(), "{f} is still there after remove");
    }
    assert!(
        sb.data_dir().join("switchboard.sqlite3").is_file(),
        "remove leaves the user's data"
    );
    let purged = apt(&["purge", PACKAGE]);
    let said = String::from_utf8_lossy(&purged.stdout).into_owned()
        + &String::from_utf8_lossy(&purged.stderr);
    assert!(
        said.contains("~/.local/share/switchboard"),
        "purge names the data it leaves: {said}"
    );
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.contains("installed") || status.contains("not-installed"),
        "{status}"
    );
    drop(x);
}
