//! Opening an authenticated IMAP session: implicit TLS or STARTTLS (never plain text), then
//! AUTHENTICATE PLAIN, falling back to LOGIN where the server lacks it.

use async_imap::imap_proto::{Response, Status};
use async_imap::{Client, Session};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::net::{self, deadline, MailStream};
use crate::SyncError;
use switchboard_store::{Account, TlsMode};

pub type ImapSession = Session<MailStream>;

struct Plain<'a> {
    user: &'a str,
    password: &'a str,
}

impl async_imap::Authenticator for Plain<'_> {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.user.len() + self.password.len() + 2);
        v.push(0);
        v.extend_from_slice(self.user.as_bytes());
        v.push(0);
        v.extend_from_slice(self.password.as_bytes());
        v
    }
}

fn io_err(host: &str, what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Unreachable(format!("{host}: connection failed during {what}: {e}"))
}

/// STARTTLS on a fresh plain connection: greeting, `STARTTLS`, then the TLS handshake.
async fn starttls(account: &Account) -> Result<MailStream, SyncError> {
    let host = account.host.as_str();
    let tcp = net::tcp(host, account.port).await?;
    let mut io = BufReader::new(tcp);
    let mut line = String::new();
    deadline("the greeting", async {
        io.read_line(&mut line)
            .await
            .map_err(|e| io_err(host, "the greeting", e))
    })
    .await?;
    if !line.starts_with("* OK") && !line.starts_with("* PREAUTH") {
        return Err(SyncError::Protocol(format!(
            "{host}: unexpected greeting '{}'",
            line.trim_end()
        )));
    }
    io.get_mut()
        .write_all(b"s1 STARTTLS\r\n")
        .await
        .map_err(|e| io_err(host, "STARTTLS", e))?;
    loop {
        line.clear();
        let n = deadline("STARTTLS", async {
            io.read_line(&mut line)
                .await
                .map_err(|e| io_err(host, "STARTTLS", e))
        })
        .await?;
        if n == 0 {
            return Err(SyncError::Unreachable(format!(
                "{host}: connection closed during STARTTLS"
            )));
        }
        if let Some(rest) = line.strip_prefix("s1 ") {
            if rest.starts_with("OK") {
                break;
            }
            return Err(SyncError::Tls(format!(
                "{host} refused STARTTLS ({}); not logging in over an unencrypted connection",
                rest.trim_end()
            )));
        }
    }
    net::tls(io.into_inner(), host, account.trust_cert.as_deref()).await
}

pub async fn connect(account: &Account, password: &str) -> Result<ImapSession, SyncError> {
    let host = account.host.as_str();
    let mut client = match account.tls {
        TlsMode::Implicit => {
            let tcp = net::tcp(host, account.port).await?;
            let stream = net::tls(tcp, host, account.trust_cert.as_deref()).await?;
            let mut client = Client::new(stream);
            let greeting = deadline("the greeting", async {
                client
                    .read_response()
                    .await
                    .map_err(|e| io_err(host, "the greeting", e))
            })
            .await?;
            match greeting.as_ref().map(|g| g.parsed()) {
                Some(Response::Data {
                    status: Status::Ok | Status::PreAuth,
                    ..
                }) => {}
                Some(other) => {
                    return Err(SyncError::Protocol(format!(
                        "{host}: unexpected greeting {other:?}"
                    )))
                }
                None => {
                    return Err(SyncError::Unreachable(format!(
                        "{host}: the server closed the connection before greeting"
                    )))
                }
            }
            client
        }
        TlsMode::Starttls => Client::new(starttls(account).await?),
    };
    // Keep the client usable for a LOGIN retry when PLAIN is not offered.
    let auth = deadline("AUTHENTICATE", async {
        Ok(client
            .authenticate(
                "PLAIN",
                Plain {
                    user: &account.username,
                    password,
                },
            )
            .await)
    })
    .await?;
    client = match auth {
        Ok(session) => return Ok(session),
        Err((async_imap::error::Error::No(msg), _)) => {
            return Err(SyncError::Auth(format!(
                "{host} refused the user name or password: {}",
                clean(&msg)
            )))
        }
        Err((async_imap::error::Error::Bad(_), client)) => client,
        Err((e, _)) => return Err(io_err(host, "AUTHENTICATE", e)),
    };
    let login = deadline("LOGIN", async {
        Ok(client.login(&account.username, password).await)
    })
    .await?;
    match login {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(msg), _))
        | Err((async_imap::error::Error::Bad(msg), _)) => Err(SyncError::Auth(format!(
            "{host} refused the user name or password: {}",
            clean(&msg)
        ))),
        Err((e, _)) => Err(io_err(host, "LOGIN", e)),
    }
}

/// async-imap reports NO/BAD as debug text (`code: .., info: Some("...")`); keep the server's
/// own words.
pub(crate) fn clean(msg: &str) -> String {
    let s = msg.trim();
    let s = s.strip_prefix("outcome: ").unwrap_or(s);
    let s = match s.find("info: Some(\"") {
        Some(i) => {
            let rest = &s[i + "info: Some(\"".len()..];
            rest.rfind("\")").map(|j| &rest[..j]).unwrap_or(rest)
        }
        None => s,
    };
    s.trim_matches('"').replace("\\\"", "\"").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn keeps_the_servers_words() {
        assert_eq!(
            clean("code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")"),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            clean("outcome: \"Mailbox doesn't exist\""),
            "Mailbox doesn't exist"
        );
        assert_eq!(clean("plain words"), "plain words");
    }
}
