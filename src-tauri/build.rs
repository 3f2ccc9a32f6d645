//! Renders the icon set from icons/switchboard.svg (scripts/gen-icons.sh) when it is missing or
//! stale, then lets tauri-build read tauri.conf.json (the window icon is embedded from it).

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest)
        .parent()
        .expect("src-tauri lives inside the repository");
    let script = root.join("scripts/gen-icons.sh");
    println!("cargo:rerun-if-changed={}", script.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("icons/switchboard.svg").display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .arg(Path::new(&manifest).join("icons"))
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{} failed ({s}); see its message above", script.display()),
        Err(e) => panic!("cannot run {}: {e}", script.display()),
    }
    tauri_build::build()
}
