//! The main window: the UI served by the in-process server, shown and hidden (closing it keeps
//! the app in the tray), pointed at a message when a notification is clicked.
//!
//! The UI's views are addressed by the URL fragment (ui/src/lib/route.ts): `/#message/<id>`
//! opens a message, `/` is the inbox. The UI reads the fragment when the page loads.

use tauri::{AppHandle, Manager, Runtime, WebviewWindow};

use crate::Shell;

pub const MAIN: &str = "main";

/// The view (path and fragment on the local server) that shows message `id`, or the inbox.
pub fn view_for(message: Option<i64>) -> String {
    match message {
        Some(id) => format!("/#message/{id}"),
        None => "/".to_string(),
    }
}

/// The script that takes the page to `url`. A change of the fragment alone is not a page
/// load, and the UI reads its view from the fragment when it loads: so the new fragment is
/// set and the page reloaded, in one script (the order is kept).
pub fn go_script(url: &str) -> String {
    let quoted = serde_json::to_string(url).unwrap_or_else(|_| "\"/\"".to_string());
    if url.contains('#') {
        format!("location.replace({quoted}); location.reload();")
    } else {
        format!("location.replace({quoted});")
    }
}

pub fn main_window<R: Runtime>(app: &AppHandle<R>) -> Option<WebviewWindow<R>> {
    app.get_webview_window(MAIN)
}

/// Brings the window up: shown, not minimised, focused.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    let Some(w) = main_window(app) else {
        return;
    };
    let _ = w.show();
    let _ = w.unminimize();
    let _ = w.set_focus();
}

/// Shows `view` (e.g. from [`view_for`]) in the window and brings it up.
pub fn open_view<R: Runtime>(app: &AppHandle<R>, view: &str) {
    let (Some(w), Some(shell)) = (main_window(app), app.try_state::<Shell>()) else {
        return;
    };
    let on_server = w
        .url()
        .map(|u| u.as_str().starts_with(&shell.base_url))
        .unwrap_or(false);
    let target = format!("{}{view}", shell.base_url);
    let went = if on_server {
        w.eval(go_script(&target)).map_err(|e| e.to_string())
    } else {
        url::Url::parse(&target)
            .map_err(|e| e.to_string())
            .and_then(|u| w.navigate(u).map_err(|e| e.to_string()))
    };
    if let Err(e) = went {
        tracing::warn!("cannot open {view} in the window: {e}");
    }
    show(app);
    // Remembered now rather than at quit: the app may be ended without one.
    let mut s = crate::settings::Settings::load(&shell.data_dir);
    s.view = Some(view.to_string());
    if let Err(e) = s.save(&shell.data_dir) {
        tracing::warn!("cannot remember the view: {e}");
    }
}

/// What the window shows now, to restore at the next launch (never the sign-in URL).
pub fn current_view<R: Runtime>(app: &AppHandle<R>) -> Option<String> {
    let url = main_window(app)?.url().ok()?;
    crate::settings::view_of(&url)
}

/// `&`, `<`, `>` and quotes as entities, for text put into a page.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `data:` URL holding `html`.
pub fn data_url(html: &str) -> Result<url::Url, url::ParseError> {
    let mut s = String::from("data:text/html;charset=utf-8,");
    for b in html.bytes() {
        if b.is_ascii_alphanumeric() || b" -_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    url::Url::parse(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_fragments_of_the_root() {
        assert_eq!(view_for(Some(42)), "/#message/42");
        assert_eq!(view_for(None), "/");
        assert!(crate::settings::is_view_path(&view_for(Some(1))));
    }

    #[test]
    fn a_new_fragment_reloads_the_page() {
        assert_eq!(
            go_script("http://127.0.0.1:5/#message/7"),
            "location.replace(\"http://127.0.0.1:5/#message/7\"); location.reload();"
        );
        assert_eq!(
            go_script("http://127.0.0.1:5/"),
            "location.replace(\"http://127.0.0.1:5/\");"
        );
        // Whatever the URL holds stays inside the string.
        assert!(go_script("http://x/#a\");alert(1)//")
            .starts_with("location.replace(\"http://x/#a\\\""));
    }

    #[test]
    fn error_pages_are_escaped_and_encoded() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        let u = data_url("<p>100% sure</p>").unwrap();
        assert_eq!(u.scheme(), "data");
        assert_eq!(
            u.as_str(),
            "data:text/html;charset=utf-8,%3Cp%3E100%25 sure%3C%2Fp%3E"
        );
    }
}
