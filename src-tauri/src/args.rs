//! The command line of `switchboard-desktop`. Small on purpose: everything else is in the
//! window or in the `switchboard` CLI.

use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: switchboard-desktop [OPTIONS]

One consolidated inbox for all your mail accounts, in a window with a tray icon.

Options:
      --data-dir <DIR>     Where the store lives (default: $SWITCHBOARD_DATA_DIR, or the XDG
                           data dir, e.g. ~/.local/share/switchboard)
      --hidden             Start in the tray without opening the window (start at login uses it)
      --autostart <on|off> Start Switchboard at login, or stop doing so, then exit (a running
                           Switchboard applies it)
  -h, --help               Print this help
  -V, --version            Print the version

A second launch shows the running Switchboard's window instead of starting another one.
Passwords live in the OS keyring (Secret Service); SWITCHBOARD_KEYRING=kernel selects the
kernel keyring. RUST_LOG sets the log detail (default: info).";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    pub data_dir: Option<PathBuf>,
    pub hidden: bool,
    pub autostart: Option<bool>,
    pub help: bool,
    pub version: bool,
}

/// Parses the arguments after the program name. Unknown options are an error naming them, so
/// a typo in an autostart entry shows up in the log rather than being ignored.
pub fn parse<I, S>(args: I) -> Result<Args, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut out = Args::default();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "--data-dir" => out.data_dir = Some(PathBuf::from(value("a directory")?)),
            "--hidden" => out.hidden = true,
            "--autostart" => {
                out.autostart = Some(match value("on or off")?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--autostart takes on or off, not '{other}'")),
                })
            }
            "-h" | "--help" => out.help = true,
            "-V" | "--version" => out.version = true,
            other => return Err(format!("unknown argument '{other}' (see --help)")),
        }
    }
    Ok(out)
}

/// The data dir: `--data-dir`, then `$SWITCHBOARD_DATA_DIR`, then the XDG data dir — the rules
/// of the `switchboard` CLI, so both always open the same store.
pub fn data_dir(args: &Args, env: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(d) = &args.data_dir {
        return Ok(d.clone());
    }
    if let Some(d) = env.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(d);
    }
    directories::ProjectDirs::from("", "", "switchboard")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or_else(|| "cannot determine a data directory; pass --data-dir".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_knows() {
        assert_eq!(parse(Vec::<String>::new()), Ok(Args::default()));
        let a = parse(["--data-dir", "/d", "--hidden"]).unwrap();
        assert_eq!(a.data_dir, Some(PathBuf::from("/d")));
        assert!(a.hidden);
        assert_eq!(parse(["--autostart=on"]).unwrap().autostart, Some(true));
        assert_eq!(
            parse(["--autostart", "off"]).unwrap().autostart,
            Some(false)
        );
        assert!(parse(["-V"]).unwrap().version);
        assert!(parse(["--help"]).unwrap().help);
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert_eq!(
            parse(["--autostart", "maybe"]),
            Err("--autostart takes on or off, not 'maybe'".to_string())
        );
        assert_eq!(
            parse(["--data-dir"]),
            Err("--data-dir needs a directory".to_string())
        );
        assert_eq!(
            parse(["--bogus"]),
            Err("unknown argument '--bogus' (see --help)".to_string())
        );
    }

    #[test]
    fn data_dir_follows_the_cli_rules() {
        let given = parse(["--data-dir", "/a"]).unwrap();
        assert_eq!(
            data_dir(&given, Some("/b".into())).unwrap(),
            PathBuf::from("/a")
        );
        let none = Args::default();
        assert_eq!(
            data_dir(&none, Some("/b".into())).unwrap(),
            PathBuf::from("/b")
        );
        let xdg = data_dir(&none, None).unwrap();
        assert!(xdg.ends_with("switchboard"), "{}", xdg.display());
    }
}
