//! An empty Tauri window: the memory baseline scripts/bench-desktop.sh compares the app with —
//! the same Tauri and WebKitGTK build and configuration, with nothing of Switchboard in it
//! (the window shows the placeholder page in dist/).
//!
//! cargo build --release --example empty_window --features bench-baseline

fn main() {
    let app = tauri::Builder::default()
        .setup(|app| {
            tauri::WebviewWindowBuilder::new(
                app,
                "main",
                tauri::WebviewUrl::App("index.html".into()),
            )
            .title("Empty Tauri window")
            .inner_size(1100.0, 720.0)
            .build()?;
            Ok(())
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
