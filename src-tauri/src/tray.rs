//! The tray icon (StatusNotifierItem through libayatana-appindicator on Linux) and its menu:
//! the unread count, the active profile with a submenu to switch, "Open", "Sync now",
//! "Start at login", "Quit". Appindicator shows no tooltip and delivers no clicks on the icon,
//! so everything is in the menu; the unread count is also the label beside the icon.

use std::sync::Mutex;

use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

use crate::texts;

const OPEN: &str = "open";
const SYNC: &str = "sync";
const AUTOSTART: &str = "autostart";
const QUIT: &str = "quit";
const PROFILE_PREFIX: &str = "profile:";

/// What the tray shows; the inbox watcher sends a new one when something changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub unread: i64,
    /// The active profile, when routing is set up.
    pub profile: Option<String>,
    /// Every profile, in their order, for the switch menu.
    pub profiles: Vec<String>,
}

pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    unread: MenuItem<R>,
    profile: MenuItem<R>,
    switch: Submenu<R>,
    pub autostart: CheckMenuItem<R>,
    shown: Mutex<Status>,
}

/// What a click on a menu entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Open,
    SyncNow,
    ToggleAutostart,
    Quit,
    UseProfile(String),
}

impl Command {
    pub fn from_menu_id(id: &str) -> Option<Command> {
        Some(match id {
            OPEN => Command::Open,
            SYNC => Command::SyncNow,
            AUTOSTART => Command::ToggleAutostart,
            QUIT => Command::Quit,
            other => Command::UseProfile(other.strip_prefix(PROFILE_PREFIX)?.to_string()),
        })
    }
}

impl<R: Runtime> Tray<R> {
    pub fn build(
        app: &AppHandle<R>,
        autostart_enabled: bool,
        on_command: impl Fn(&AppHandle<R>, Command) + Send + Sync + 'static,
    ) -> tauri::Result<Tray<R>> {
        let status = Status::default();
        let unread = MenuItem::with_id(app, "unread", texts::unread_line(0), false, None::<&str>)?;
        let profile = MenuItem::with_id(
            app,
            "profile",
            texts::profile_line(None),
            false,
            None::<&str>,
        )?;
        let switch = Submenu::with_id(app, "switch", "Switch profile", false)?;
        let open = MenuItem::with_id(app, OPEN, "Open Switchboard", true, None::<&str>)?;
        let sync = MenuItem::with_id(app, SYNC, "Sync now", true, None::<&str>)?;
        let autostart = CheckMenuItem::with_id(
            app,
            AUTOSTART,
            "Start at login",
            true,
            autostart_enabled,
            None::<&str>,
        )?;
        let quit = MenuItem::with_id(app, QUIT, "Quit Switchboard", true, None::<&str>)?;
        let menu = Menu::with_items(
            app,
            &[
                &unread,
                &profile,
                &switch,
                &PredefinedMenuItem::separator(app)?,
                &open,
                &sync,
                &autostart,
                &PredefinedMenuItem::separator(app)?,
                &quit,
            ],
        )?;
        let mut builder = TrayIconBuilder::with_id("main")
            .menu(&menu)
            .show_menu_on_left_click(true)
            .tooltip(texts::tray_tooltip(0, None))
            .on_menu_event(move |app, event: MenuEvent| {
                if let Some(c) = Command::from_menu_id(event.id().as_ref()) {
                    on_command(app, c);
                }
            });
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        // libappindicator takes the icon as a file: keep it in the app's cache dir rather than
        // a shared temp dir.
        if let Ok(cache) = app.path().app_cache_dir() {
            builder = builder.temp_dir_path(cache.join("tray"));
        }
        let icon = builder.build(app)?;
        Ok(Tray {
            icon,
            unread,
            profile,
            switch,
            autostart,
            shown: Mutex::new(status),
        })
    }

    /// Shows `status`; entries are only touched when their text changed.
    pub fn update(&self, app: &AppHandle<R>, status: &Status) {
        let Ok(mut shown) = self.shown.lock() else {
            return;
        };
        if *shown == *status {
            return;
        }
        if shown.unread != status.unread {
            let _ = self.unread.set_text(texts::unread_line(status.unread));
            let label = texts::tray_label(status.unread);
            let _ = self
                .icon
                .set_title((!label.is_empty()).then_some(label.as_str()));
        }
        if shown.unread != status.unread || shown.profile != status.profile {
            let _ = self.icon.set_tooltip(Some(texts::tray_tooltip(
                status.unread,
                status.profile.as_deref(),
            )));
            let _ = self
                .profile
                .set_text(texts::profile_line(status.profile.as_deref()));
        }
        if shown.profiles != status.profiles || shown.profile != status.profile {
            if let Err(e) = self.fill_switch_menu(app, status) {
                tracing::warn!("cannot update the tray's profile menu: {e}");
            }
        }
        *shown = status.clone();
    }

    fn fill_switch_menu(&self, app: &AppHandle<R>, status: &Status) -> tauri::Result<()> {
        for item in self.switch.items()? {
            self.switch.remove(&item)?;
        }
        for name in &status.profiles {
            let active = status.profile.as_deref() == Some(name.as_str());
            let item = CheckMenuItem::with_id(
                app,
                format!("{PROFILE_PREFIX}{name}"),
                name,
                true,
                active,
                None::<&str>,
            )?;
            self.switch.append(&item)?;
        }
        self.switch.set_enabled(!status.profiles.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_map_to_commands() {
        assert_eq!(Command::from_menu_id("open"), Some(Command::Open));
        assert_eq!(Command::from_menu_id("sync"), Some(Command::SyncNow));
        assert_eq!(
            Command::from_menu_id("autostart"),
            Some(Command::ToggleAutostart)
        );
        assert_eq!(Command::from_menu_id("quit"), Some(Command::Quit));
        assert_eq!(
            Command::from_menu_id("profile:Do not disturb"),
            Some(Command::UseProfile("Do not disturb".into()))
        );
        assert_eq!(Command::from_menu_id("unread"), None);
    }
}
