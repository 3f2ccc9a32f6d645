//! Embeds the built web UI (`ui/dist`, made by `make ui`) into the binary, so one file carries
//! the server and its front end. Without a build the server shows a page saying how to make one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let ui = manifest.join("../../ui");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_UI_DIST");
    let dist = std::env::var_os("SWITCHBOARD_UI_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| ui.join("dist"));
    let mut found = Vec::new();
    if dist.join("index.html").is_file() {
        // Any change in the build (vite rewrites it whole) embeds it again.
        println!("cargo:rerun-if-changed={}", dist.display());
        files(&dist, &mut found).expect("ui/dist is readable");
        found.sort();
    } else if ui.is_dir() {
        // Not built: notice when a build appears.
        println!("cargo:rerun-if-changed={}", ui.display());
    }
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for path in &found {
        let rel = path.strip_prefix(&dist).expect("inside dist");
        let url: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let abs = path.canonicalize().expect("an embedded file resolves");
        writeln!(
            code,
            "    ({:?}, include_bytes!({:?})),",
            format!("/{}", url.join("/")),
            abs.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("ui_assets.rs"), code).expect("OUT_DIR is writable");
}
