//! The desktop notifications of the delivery engine running in this process, shown so that a
//! click opens the message in the window.
//!
//! What is notified, when, and in which words is the engine's business: it routes every new
//! message by the active profile and its rules (held, muted, rate-limited, digests, hidden
//! content) and records each attempt in the tracker (`switchboard_deliver`). This notifier
//! is plugged into it (`Embedded::set_notifier`) and only talks to the freedesktop
//! notification service through notify-rust: with no session bus that fails at once, with a bus
//! but no daemon D-Bus answers `ServiceUnknown` at once; the first failure is logged, later ones
//! are not (the engine records each and retries per the profile's policy). A shown
//! notification is watched from its own thread for the "default" action (a click), which
//! brings the window up on the message.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_deliver::notify::{DesktopNote, Notifier, NotifyFailure};
use switchboard_route::Urgency;
use tauri::{AppHandle, Runtime};

/// Threads waiting for a click on a shown notification. Beyond this, notifications are still
/// shown but a click on them does nothing (a daemon that keeps notifications forever would
/// otherwise pin one thread each).
const MAX_WAITING: usize = 16;

pub struct DesktopNotifier<R: Runtime> {
    app: AppHandle<R>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    unavailable_logged: AtomicBool,
    waiting: AtomicUsize,
}

impl<R: Runtime> DesktopNotifier<R> {
    pub fn new(app: AppHandle<R>) -> DesktopNotifier<R> {
        DesktopNotifier {
            app,
            state: Arc::new(State::default()),
        }
    }
}

/// How long the engine's call waits for the notification service's answer. D-Bus answers at
/// once when there is no service; this only bounds a service that hangs.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

impl<R: Runtime> Notifier for DesktopNotifier<R> {
    fn show(&self, note: &DesktopNote) -> Result<String, NotifyFailure> {
        // libdbus's handle cannot leave the thread that made it, and waiting for a click
        // blocks: one thread shows the notification, answers here, then waits for the click.
        let (answer_tx, answer_rx) = std::sync::mpsc::sync_channel(1);
        let notification = notification(note);
        let message = note.message_id;
        let app = self.app.clone();
        let state = self.state.clone();
        let spawned = std::thread::Builder::new()
            .name("notification".into())
            .spawn(move || {
                let handle = match notification.show() {
                    Ok(h) => {
                        let _ = answer_tx.send(Ok(h.id()));
                        h
                    }
                    Err(e) => {
                        let _ = answer_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                if state.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
                    state.waiting.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                handle.wait_for_action(|action| {
                    if action == "default" {
                        crate::window::open_view(&app, &crate::window::view_for(message));
                    }
                });
                state.waiting.fetch_sub(1, Ordering::Relaxed);
            });
        if let Err(e) = spawned {
            return Err(NotifyFailure {
                answer: format!("cannot start a notification thread: {e}"),
                transient: true,
            });
        }
        let failure = match answer_rx.recv_timeout(ANSWER_WITHIN) {
            Ok(Ok(id)) => return Ok(format!("shown as notification {id}")),
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {} s", ANSWER_WITHIN.as_secs()),
        };
        if !self.state.unavailable_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "desktop notifications are unavailable ({failure}); new messages show in the \
                 tray and the window, and the tracker retries them per the profile"
            );
        }
        Err(NotifyFailure {
            answer: format!("the desktop notification service did not take it: {failure}"),
            transient: true,
        })
    }
}

/// The notification for `note`: the app's name and icon, a "default" action for clicks.
fn notification(note: &DesktopNote) -> notify_rust::Notification {
    let mut n = notify_rust::Notification::new();
    n.appname("Switchboard")
        .summary(&note.summary)
        .body(&note.body)
        .icon("switchboard-desktop")
        .hint(notify_rust::Hint::Category("email.arrived".into()))
        .hint(notify_rust::Hint::DesktopEntry("Switchboard".into()))
        .urgency(match note.urgency {
            Urgency::Low => notify_rust::Urgency::Low,
            Urgency::Normal => notify_rust::Urgency::Normal,
            Urgency::Critical => notify_rust::Urgency::Critical,
        })
        .action("default", "Open");
    n
}
