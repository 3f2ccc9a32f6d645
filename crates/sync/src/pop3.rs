//! A small POP3 client (RFC 1939, RFC 2595 STLS). Written here rather than taken from async-pop
//! because that crate caps one response at 20 MiB (a message with a 25 MB attachment could never
//! be fetched) and has no STLS.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};

use crate::net::{self, deadline, MailStream};
use crate::SyncError;

/// One line from a server may be at most this long (RFC 2449 allows 512; be generous).
const MAX_LINE: usize = 64 * 1024;

pub struct Pop3 {
    io: BufStream<MailStream>,
    host: String,
}

fn protocol(host: &str, what: &str) -> SyncError {
    SyncError::Protocol(format!("{host}: {what}"))
}

impl Pop3 {
    /// Connects, upgrades with STLS when asked, and reads the greeting.
    pub async fn connect(
        host: &str,
        port: u16,
        starttls: bool,
        pin: Option<&str>,
    ) -> Result<Pop3, SyncError> {
        let tcp = net::tcp(host, port).await?;
        let stream = if starttls {
            let mut plain = Pop3 {
                io: BufStream::new(MailStream::Plain(tcp)),
                host: host.to_string(),
            };
            plain.status_line("greeting").await?;
            plain.command("STLS", "STLS").await.map_err(|e| match e {
                SyncError::Server(msg) => SyncError::Tls(format!(
                    "the server refused STLS ({msg}); not logging in over an unencrypted connection"
                )),
                other => other,
            })?;
            let MailStream::Plain(tcp) = plain.io.into_inner() else {
                return Err(protocol(host, "unexpected stream state"));
            };
            net::tls(tcp, host, pin).await?
        } else {
            net::tls(tcp, host, pin).await?
        };
        let mut client = Pop3 {
            io: BufStream::new(stream),
            host: host.to_string(),
        };
        if !starttls {
            client.status_line("greeting").await?;
        }
        Ok(client)
    }

    async fn read_line(&mut self, what: &str) -> Result<Vec<u8>, SyncError> {
        let mut line = Vec::with_capacity(128);
        let host = self.host.clone();
        deadline(what, async {
            let n = (&mut self.io)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| {
                    SyncError::Unreachable(format!("{host}: connection failed during {what}: {e}"))
                })?;
            if n == 0 {
                return Err(SyncError::Unreachable(format!(
                    "{host}: the server closed the connection during {what}"
                )));
            }
            if !line.ends_with(b"\n") {
                return Err(protocol(
                    &host,
                    &format!("line longer than {MAX_LINE} bytes during {what}"),
                ));
            }
            Ok(())
        })
        .await?;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(line)
    }

    /// Reads a status line; `+OK text` → text, `-ERR text` → `SyncError::Server(text)`.
    async fn status_line(&mut self, what: &str) -> Result<String, SyncError> {
        let line = self.read_line(what).await?;
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some(rest) = text.strip_prefix("+OK") {
            Ok(rest.trim().to_string())
        } else if let Some(rest) = text.strip_prefix("-ERR") {
            Err(SyncError::Server(rest.trim().to_string()))
        } else {
            Err(protocol(
                &self.host,
                &format!("unexpected answer to {what}: {}", truncate(&text)),
            ))
        }
    }

    async fn send(&mut self, line: &str, what: &str) -> Result<(), SyncError> {
        let host = self.host.clone();
        deadline(what, async {
            let sent: std::io::Result<()> = async {
                self.io.write_all(line.as_bytes()).await?;
                self.io.write_all(b"\r\n").await?;
                self.io.flush().await
            }
            .await;
            sent.map_err(|e| SyncError::Unreachable(format!("{host}: cannot send {what}: {e}")))
        })
        .await
    }

    async fn command(&mut self, line: &str, what: &str) -> Result<String, SyncError> {
        self.send(line, what).await?;
        self.status_line(what).await
    }

    /// Reads a multi-line body up to the lone ".", undoing dot-stuffing; CRLF line ends kept.
    async fn multiline(&mut self, what: &str) -> Result<Vec<u8>, SyncError> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::with_capacity(128);
            let host = self.host.clone();
            deadline(what, async {
                let n = (&mut self.io)
                    .take(MAX_LINE as u64 * 16)
                    .read_until(b'\n', &mut line)
                    .await
                    .map_err(|e| {
                        SyncError::Unreachable(format!(
                            "{host}: connection failed during {what}: {e}"
                        ))
                    })?;
                if n == 0 {
                    return Err(SyncError::Unreachable(format!(
                        "{host}: the server closed the connection during {what}"
                    )));
                }
                Ok(())
            })
            .await?;
            let content = line.strip_suffix(b"\n").unwrap_or(&line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content == b"." {
                return Ok(out);
            }
            let content = content.strip_prefix(b".").unwrap_or(content);
            out.extend_from_slice(content);
            if line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), SyncError> {
        let auth = |e: SyncError| match e {
            SyncError::Server(msg) => SyncError::Auth(msg),
            other => other,
        };
        self.command(&format!("USER {user}"), "USER")
            .await
            .map_err(auth)?;
        self.command(&format!("PASS {password}"), "PASS")
            .await
            .map_err(auth)?;
        Ok(())
    }

    /// (message count, total octets).
    pub async fn stat(&mut self) -> Result<(u32, u64), SyncError> {
        let text = self.command("STAT", "STAT").await?;
        let mut parts = text.split_whitespace();
        let count = parts.next().and_then(|s| s.parse().ok());
        let octets = parts.next().and_then(|s| s.parse().ok());
        match (count, octets) {
            (Some(c), Some(o)) => Ok((c, o)),
            _ => Err(protocol(
                &self.host,
                &format!("malformed STAT answer '{}'", truncate(&text)),
            )),
        }
    }

    /// (message number, unique id) for every message in the maildrop.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, SyncError> {
        self.command("UIDL", "UIDL").await.map_err(|e| match e {
            SyncError::Server(msg) => SyncError::Protocol(format!(
                "{}: the server does not support UIDL ({msg}); Switchboard needs it to tell messages apart",
                self.host
            )),
            other => other,
        })?;
        let body = self.multiline("UIDL").await?;
        let mut out = Vec::new();
        for line in body.split(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let mut parts = line.split_whitespace();
            let (Some(n), Some(id)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else {
                return Err(protocol(
                    &self.host,
                    &format!("malformed UIDL line '{}'", truncate(&line)),
                ));
            };
            out.push((n, id.to_string()));
        }
        Ok(out)
    }

    pub async fn retr(&mut self, n: u32) -> Result<Vec<u8>, SyncError> {
        self.command(&format!("RETR {n}"), "RETR").await?;
        self.multiline("RETR").await
    }

    pub async fn dele(&mut self, n: u32) -> Result<(), SyncError> {
        self.command(&format!("DELE {n}"), "DELE").await.map(|_| ())
    }

    /// Ends the session; the server applies DELEs only now (UPDATE state).
    pub async fn quit(mut self) -> Result<(), SyncError> {
        self.command("QUIT", "QUIT").await.map(|_| ())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}
