//! Tiny line-based IMAP and POP3 clients over the plain ports, to check from a test what the
//! server itself says (capabilities, UIDVALIDITY, UIDs, UIDLs) without going through the code
//! under test. They do not parse literals, so use them for commands whose answers have none
//! (CAPABILITY, LOGIN, SELECT, STATUS, UID SEARCH, NOOP; POP3 CAPA, STAT, UIDL, LIST).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

/// A plaintext IMAP connection to 127.0.0.1.
#[derive(Debug)]
pub struct ImapProbe {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    /// The greeting line (`* OK [CAPABILITY ...] ...`).
    pub greeting: String,
}

/// What SELECT reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SelectInfo {
    pub exists: u32,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: Option<u64>,
}

impl ImapProbe {
    pub fn connect(port: u16) -> Result<Self> {
        let s = TcpStream::connect(("127.0.0.1", port))
            .with_context(|| format!("cannot connect to IMAP on 127.0.0.1:{port}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(s.try_clone()?);
        let mut greeting = String::new();
        reader.read_line(&mut greeting)?;
        ensure!(
            greeting.starts_with("* OK"),
            "bad IMAP greeting {greeting:?}"
        );
        Ok(Self {
            reader,
            writer: s,
            tag: 0,
            greeting,
        })
    }

    /// Sends `command` and returns the untagged lines; errors unless the tagged reply is OK.
    pub fn command(&mut self, command: &str) -> Result<Vec<String>> {
        self.tag += 1;
        let tag = format!("p{}", self.tag);
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())?;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line)?;
            ensure!(
                n > 0,
                "IMAP server closed the connection during {command:?}"
            );
            let line = line.trim_end().to_string();
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                ensure!(rest.starts_with("OK"), "{command:?} failed: {rest}");
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    /// CAPABILITY, as upper-case atoms.
    pub fn capabilities(&mut self) -> Result<Vec<String>> {
        let lines = self.command("CAPABILITY")?;
        let line = lines
            .iter()
            .find(|l| l.starts_with("* CAPABILITY "))
            .context("no CAPABILITY line")?;
        Ok(line["* CAPABILITY ".len()..]
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect())
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .map(drop)
    }

    pub fn select(&mut self, mailbox: &str) -> Result<SelectInfo> {
        let lines = self.command(&format!("SELECT {}", quote(mailbox)))?;
        let mut info = SelectInfo::default();
        for l in &lines {
            if let Some(n) = l.strip_prefix("* ").and_then(|r| r.strip_suffix(" EXISTS")) {
                info.exists = n.parse()?;
            }
            if let Some(v) = code_value(l, "UIDVALIDITY") {
                info.uidvalidity = v.parse()?;
            }
            if let Some(v) = code_value(l, "UIDNEXT") {
                info.uidnext = v.parse()?;
            }
            if let Some(v) = code_value(l, "HIGHESTMODSEQ") {
                info.highestmodseq = Some(v.parse()?);
            }
        }
        ensure!(
            info.uidvalidity != 0,
            "SELECT gave no UIDVALIDITY: {lines:?}"
        );
        Ok(info)
    }

    /// UID SEARCH ALL in the selected mailbox.
    pub fn uid_search_all(&mut self) -> Result<Vec<u32>> {
        let lines = self.command("UID SEARCH ALL")?;
        let mut uids = Vec::new();
        for l in lines {
            if let Some(rest) = l.strip_prefix("* SEARCH") {
                for n in rest.split_whitespace() {
                    uids.push(n.parse()?);
                }
            }
        }
        Ok(uids)
    }

    pub fn logout(mut self) -> Result<()> {
        self.command("LOGOUT").map(drop)
    }
}

fn code_value<'a>(line: &'a str, code: &str) -> Option<&'a str> {
    let start = line.find(&format!("[{code} "))? + code.len() + 2;
    let end = line[start..].find(']')? + start;
    Some(&line[start..end])
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A plaintext POP3 connection to 127.0.0.1.
#[derive(Debug)]
pub struct Pop3Probe {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The greeting line (`+OK ...`).
    pub greeting: String,
}

impl Pop3Probe {
    pub fn connect(port: u16) -> Result<Self> {
        let s = TcpStream::connect(("127.0.0.1", port))
            .with_context(|| format!("cannot connect to POP3 on 127.0.0.1:{port}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(s.try_clone()?);
        let mut greeting = String::new();
        reader.read_line(&mut greeting)?;
        ensure!(
            greeting.starts_with("+OK"),
            "bad POP3 greeting {greeting:?}"
        );
        Ok(Self {
            reader,
            writer: s,
            greeting,
        })
    }

    /// Sends a one-line command; returns the status line's text after `+OK`.
    pub fn command(&mut self, command: &str) -> Result<String> {
        self.writer.write_all(format!("{command}\r\n").as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end();
        let verb = command.split_whitespace().next().unwrap_or("");
        match line.strip_prefix("+OK") {
            Some(rest) => Ok(rest.trim().to_string()),
            None => bail!("POP3 {verb} failed: {line}"),
        }
    }

    /// Sends a command with a multi-line answer; returns the lines (dot-unstuffed).
    pub fn multiline(&mut self, command: &str) -> Result<Vec<String>> {
        self.command(command)?;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line)?;
            ensure!(n > 0, "POP3 server closed the connection during {command}");
            let line = line.trim_end_matches(['\r', '\n']);
            if line == "." {
                return Ok(lines);
            }
            lines.push(line.strip_prefix('.').unwrap_or(line).to_string());
        }
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("USER {user}"))?;
        self.command(&format!("PASS {password}")).map(drop)
    }

    /// CAPA lines, upper-cased.
    pub fn capabilities(&mut self) -> Result<Vec<String>> {
        Ok(self
            .multiline("CAPA")?
            .into_iter()
            .map(|l| l.to_ascii_uppercase())
            .collect())
    }

    /// (message number, UIDL) pairs.
    pub fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        self.multiline("UIDL")?
            .into_iter()
            .map(|l| {
                let mut it = l.split_whitespace();
                let n = it.next().context("empty UIDL line")?.parse()?;
                let id = it.next().context("UIDL line without id")?.to_string();
                Ok((n, id))
            })
            .collect()
    }

    /// STAT: (message count, total octets).
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        let s = self.command("STAT")?;
        let mut it = s.split_whitespace();
        Ok((
            it.next().context("STAT without count")?.parse()?,
            it.next().context("STAT without size")?.parse()?,
        ))
    }

    pub fn quit(mut self) -> Result<()> {
        self.command("QUIT").map(drop)
    }
}
