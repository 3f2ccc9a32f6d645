//! `switchboard-desktop`: the desktop app. It runs the embedded server and sync in this process
//! on a loopback port and shows their web UI in a window, signed in with the launch's one-time
//! secret (exchanged for an HttpOnly session cookie). Native parts — tray, notifications,
//! start at login, one instance per store, window geometry — are here; everything the UI
//! does goes through the same HTTP API a browser on another device uses.

mod args;
mod backend;
mod inbox;
mod notifier;
mod settings;
mod texts;
mod tray;
mod window;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use switchboard_server::SyncTrigger;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent, Wry};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_window_state::{AppHandleExt, StateFlags};
use tokio::sync::Notify;

use crate::settings::Settings;
use crate::tray::{Command, Tray};

/// What the native parts share once the server runs.
pub struct Shell {
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:PORT` of the embedded server.
    pub base_url: String,
    pub sync: SyncTrigger,
    /// Asks the inbox watcher for a fresh look (after a profile switch).
    pub refresh: Arc<Notify>,
}

/// The tray, when the desktop has one.
struct TrayState(Option<Tray<Wry>>);

/// For the app's own notice (closed to the tray); message notifications come from the engine.
struct HintNotifier(Arc<notifier::DesktopNotifier<Wry>>);

/// Set when startup failed and the error window is shown: the exit code is then 1.
static FAILED: AtomicBool = AtomicBool::new(false);
/// The "still running in the tray" hint is given once per launch.
static TRAY_HINT_GIVEN: AtomicBool = AtomicBool::new(false);
/// Moves and resizes since start; a save waits until they stop for a moment.
static GEOMETRY_CHANGES: AtomicU64 = AtomicU64::new(0);

/// What of the window is kept between launches.
const WINDOW_STATE: StateFlags = StateFlags::SIZE
    .union(StateFlags::POSITION)
    .union(StateFlags::MAXIMIZED);

fn main() -> ExitCode {
    init_logging();
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!("{}", args::USAGE);
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("switchboard-desktop {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let env_dir = std::env::var_os("SWITCHBOARD_DATA_DIR").map(PathBuf::from);
    let explicit_dir = args.data_dir.is_some() || env_dir.is_some();
    let data_dir = match args::data_dir(&args, env_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(args, data_dir, explicit_dir) {
        Ok(()) if FAILED.load(Ordering::Relaxed) => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,zbus=warn,tao=warn,wry=warn,tracing=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn run(args: args::Args, data_dir: PathBuf, explicit_dir: bool) -> anyhow::Result<()> {
    let app = tauri::Builder::default()
        // First, so that a second launch hands over before anything else starts.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id(&data_dir, explicit_dir))
                .callback(|app, argv, _cwd| second_launch(app, argv))
                .build(),
        )
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(WINDOW_STATE)
                .build(),
        )
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args(autostart_args(&data_dir, explicit_dir))
                .build(),
        )
        .setup(move |app| {
            setup(app, &args, &data_dir)?;
            Ok(())
        })
        .on_window_event(|window, event| {
            if window.label() != window::MAIN {
                return;
            }
            let app = window.app_handle();
            match event {
                WindowEvent::CloseRequested { api, .. } => {
                    remember_view(app);
                    if has_tray(app) {
                        api.prevent_close();
                        let _ = window.hide();
                        tray_hint(app);
                    }
                }
                WindowEvent::Moved(_) | WindowEvent::Resized(_) => save_geometry_soon(app),
                _ => {}
            }
        })
        .build(tauri::generate_context!())
        .context("cannot start the desktop app")?;
    app.run(|_, _: RunEvent| {});
    Ok(())
}

/// The D-Bus name that makes the app single-instance: one per store, so a second launch on
/// the same data dir shows the running window, while a test or a second person's data dir
/// given explicitly runs on its own.
fn instance_id(data_dir: &Path, explicit: bool) -> String {
    const ID: &str = "org.switchboard.desktop";
    if !explicit {
        return ID.to_string();
    }
    // FNV-1a: stable across releases, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data_dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{ID}.d{h:016x}")
}

/// The arguments start-at-login launches with: in the tray only, on this data dir when it was
/// chosen explicitly (an autostart entry cannot quote, so a path with spaces is left out).
fn autostart_args(data_dir: &Path, explicit: bool) -> Vec<String> {
    let mut a = vec!["--hidden".to_string()];
    if explicit {
        match data_dir.to_str() {
            Some(d) if !d.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') => {
                a.push(format!("--data-dir={d}"))
            }
            _ => tracing::warn!(
                "start at login will use the default data dir: {} cannot be written into an autostart entry",
                data_dir.display()
            ),
        }
    }
    a
}

fn setup(app: &mut tauri::App, args: &args::Args, data_dir: &Path) -> anyhow::Result<()> {
    let handle = app.handle().clone();
    if let Some(on) = args.autostart {
        let code = match set_autostart(&handle, on) {
            Ok(msg) => {
                println!("{msg}");
                0
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        };
        handle.exit(code);
        return Ok(());
    }

    let mut settings = Settings::load(data_dir);
    let mut embedded = match tauri::async_runtime::block_on(backend::bind(data_dir, settings.port))
    {
        Ok(e) => e,
        Err(e) => {
            show_fatal(
                &handle,
                &format!("The store in {} cannot be served: {e}", data_dir.display()),
            );
            return Ok(());
        }
    };
    tracing::info!(
        "serving {} on {} (data dir {})",
        env!("CARGO_PKG_VERSION"),
        embedded.base_url(),
        data_dir.display()
    );
    let port = embedded.local_addr().port();
    if settings.port != Some(port) {
        settings.port = Some(port);
        if let Err(e) = settings.save(data_dir) {
            tracing::warn!("cannot save {}: {e}", Settings::path(data_dir).display());
        }
    }
    let login: url::Url = embedded
        .login_url(settings.view.as_deref())
        .parse()
        .context("the server's sign-in URL")?;
    let refresh = Arc::new(Notify::new());
    app.manage(Shell {
        data_dir: data_dir.to_path_buf(),
        base_url: embedded.base_url(),
        sync: embedded.sync_now(),
        refresh: refresh.clone(),
    });

    WebviewWindowBuilder::new(app, window::MAIN, WebviewUrl::External(login))
        .title("Switchboard")
        .inner_size(1100.0, 720.0)
        .min_inner_size(420.0, 320.0)
        .visible(!args.hidden)
        .build()
        .context("cannot open the window")?;

    let autostart_on = handle.autolaunch().is_enabled().unwrap_or(false);
    let tray = match Tray::build(&handle, autostart_on, tray_command) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("no tray icon ({e}); closing the window quits");
            None
        }
    };
    app.manage(TrayState(tray));

    let notifier = Arc::new(notifier::DesktopNotifier::new(handle.clone()));
    app.manage(HintNotifier(notifier.clone()));
    embedded.set_notifier(notifier);
    let index = embedded.index();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = embedded.run(backend::reporter()).await {
            tracing::error!("the embedded server stopped: {e}");
        }
    });
    quit_on_signals(handle.clone());
    inbox::Watch {
        data_dir: data_dir.to_path_buf(),
        index,
        refresh,
        on_status: Box::new(|app: &AppHandle<Wry>, status: &tray::Status| {
            if let Some(TrayState(Some(tray))) = app.try_state::<TrayState>().as_deref() {
                tray.update(app, status);
            }
        }),
        app: handle,
    }
    .spawn();
    Ok(())
}

fn has_tray(app: &AppHandle<Wry>) -> bool {
    app.try_state::<TrayState>().is_some_and(|t| t.0.is_some())
}

/// A second `switchboard-desktop` was started: it handed its arguments over and exits.
fn second_launch(app: &AppHandle<Wry>, argv: Vec<String>) {
    match args::parse(argv.into_iter().skip(1)) {
        Ok(a) if a.autostart.is_some() => {
            let on = a.autostart.unwrap_or(false);
            match set_autostart(app, on) {
                Ok(msg) => tracing::info!("{msg}"),
                Err(e) => tracing::warn!("{e:#}"),
            }
        }
        // Start at login while already running: nothing to do.
        Ok(a) if a.hidden => {}
        _ => window::show(app),
    }
}

fn set_autostart(app: &AppHandle<Wry>, on: bool) -> anyhow::Result<String> {
    let launcher = app.autolaunch();
    if on {
        launcher.enable().context("cannot turn start at login on")?;
    } else {
        launcher
            .disable()
            .context("cannot turn start at login off")?;
    }
    if let Some(TrayState(Some(tray))) = app.try_state::<TrayState>().as_deref() {
        let _ = tray.autostart.set_checked(on);
    }
    Ok(if on {
        "Switchboard starts at login (in the tray)".to_string()
    } else {
        "Switchboard no longer starts at login".to_string()
    })
}

fn tray_command(app: &AppHandle<Wry>, command: Command) {
    match command {
        Command::Open => window::show(app),
        Command::SyncNow => {
            if let Some(shell) = app.try_state::<Shell>() {
                tracing::info!("sync requested from the tray");
                shell.sync.fire();
            }
        }
        Command::ToggleAutostart => {
            // The menu has already flipped the check mark; make the setting follow it.
            let wanted = app
                .try_state::<TrayState>()
                .and_then(|t| t.0.as_ref().and_then(|t| t.autostart.is_checked().ok()))
                .unwrap_or(false);
            match set_autostart(app, wanted) {
                Ok(msg) => tracing::info!("{msg}"),
                Err(e) => {
                    tracing::warn!("{e:#}");
                    if let Some(TrayState(Some(tray))) = app.try_state::<TrayState>().as_deref() {
                        let _ = tray.autostart.set_checked(!wanted);
                    }
                }
            }
        }
        Command::Quit => {
            remember_view(app);
            app.exit(0);
        }
        Command::UseProfile(name) => {
            let Some(shell) = app.try_state::<Shell>() else {
                return;
            };
            let data_dir = shell.data_dir.clone();
            let refresh = shell.refresh.clone();
            tauri::async_runtime::spawn_blocking(move || {
                let now = switchboard_store::clock::now();
                let switched = switchboard_store::Store::open_in(&data_dir)
                    .and_then(|mut s| s.use_profile(&name, false, now));
                match switched {
                    Ok(active) => tracing::info!("profile '{}' in use", active.name),
                    Err(e) => tracing::warn!("cannot switch to profile '{name}': {e}"),
                }
                refresh.notify_one();
            });
        }
    }
}

/// SIGTERM (logout, `kill`), SIGINT and SIGHUP quit as the tray's "Quit" does: the window's
/// view and geometry are saved first.
fn quit_on_signals(app: AppHandle<Wry>) {
    use tokio::signal::unix::{signal, SignalKind};
    tauri::async_runtime::spawn(async move {
        let streams = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        );
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = streams else {
            tracing::warn!("cannot watch for SIGTERM/SIGINT/SIGHUP; they end the app abruptly");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        tracing::info!("signal received; quitting");
        remember_view(&app);
        app.exit(0);
    });
}

/// Saves the window's size and position once it has stopped moving for a second, so that a
/// crash or a killed session still finds the last geometry (the plugin itself saves at exit).
fn save_geometry_soon(app: &AppHandle<Wry>) {
    let ticket = GEOMETRY_CHANGES.fetch_add(1, Ordering::Relaxed) + 1;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if GEOMETRY_CHANGES.load(Ordering::Relaxed) == ticket {
            if let Err(e) = app.save_window_state(WINDOW_STATE) {
                tracing::warn!("cannot save the window's size and position: {e}");
            }
        }
    });
}

/// Keeps the window's current view for the next launch.
fn remember_view(app: &AppHandle<Wry>) {
    let (Some(shell), Some(view)) = (app.try_state::<Shell>(), window::current_view(app)) else {
        return;
    };
    let mut s = Settings::load(&shell.data_dir);
    if s.view.as_deref() != Some(view.as_str()) {
        s.view = Some(view);
        if let Err(e) = s.save(&shell.data_dir) {
            tracing::warn!("cannot remember the window's view: {e}");
        }
    }
}

/// The first time the window is closed to the tray, say so (once per launch).
fn tray_hint(app: &AppHandle<Wry>) {
    if TRAY_HINT_GIVEN.swap(true, Ordering::Relaxed) {
        return;
    }
    let Some(n) = app.try_state::<HintNotifier>() else {
        return;
    };
    let n = n.0.clone();
    // Off the main thread: talking to the notification service blocks for a moment.
    std::thread::spawn(move || {
        use switchboard_deliver::notify::Notifier;
        let _ = n.show(&switchboard_deliver::notify::DesktopNote {
            summary: "Switchboard is still running".into(),
            body: "It keeps your mail in sync from the tray; quit it from the tray's menu.".into(),
            urgency: switchboard_route::Urgency::Low,
            message_id: None,
        });
    });
}

/// Startup failed: say why in a window (a desktop launch has no terminal to print to).
fn show_fatal(app: &AppHandle<Wry>, message: &str) {
    tracing::error!("{message}");
    FAILED.store(true, Ordering::Relaxed);
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>Switchboard</title>\
         <body style=\"font:15px sans-serif;margin:2em;max-width:50em\">\
         <h1>Switchboard cannot start</h1><p style=\"white-space:pre-wrap\">{}</p>\
         <p>Close this window; the details are also in the log.</p>",
        window::escape_html(message)
    );
    let shown = window::data_url(&html)
        .map_err(anyhow::Error::from)
        .and_then(|url| {
            WebviewWindowBuilder::new(app, "error", WebviewUrl::External(url))
                .title("Switchboard cannot start")
                .inner_size(640.0, 320.0)
                .build()
                .map_err(anyhow::Error::from)
        });
    if let Err(e) = shown {
        tracing::error!("cannot show the error window either: {e}");
        app.exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instance_per_store() {
        let default = instance_id(Path::new("/home/a/.local/share/switchboard"), false);
        assert_eq!(default, "org.switchboard.desktop");
        let a = instance_id(Path::new("/tmp/a"), true);
        let b = instance_id(Path::new("/tmp/b"), true);
        assert_ne!(a, b);
        assert_eq!(a, instance_id(Path::new("/tmp/a"), true), "stable");
        // A D-Bus name element must not start with a digit.
        assert!(a.rsplit('.').next().unwrap().starts_with('d'));
    }

    #[test]
    fn autostart_keeps_an_explicit_data_dir() {
        assert_eq!(autostart_args(Path::new("/x"), false), ["--hidden"]);
        assert_eq!(
            autostart_args(Path::new("/srv/mail"), true),
            ["--hidden", "--data-dir=/srv/mail"]
        );
        assert_eq!(autostart_args(Path::new("/my mail"), true), ["--hidden"]);
    }

    #[test]
    fn version_is_the_workspace_version() {
        let root = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
            .expect("the repository's Cargo.toml");
        let section = root
            .split("[workspace.package]")
            .nth(1)
            .expect("a [workspace.package] section");
        let version = section
            .lines()
            .find_map(|l| l.trim().strip_prefix("version = "))
            .expect("a version in [workspace.package]")
            .trim_matches('"');
        assert_eq!(
            version,
            env!("CARGO_PKG_VERSION"),
            "src-tauri/Cargo.toml's version must follow the workspace's"
        );
    }
}
