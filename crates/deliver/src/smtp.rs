//! SMTP submission (RFC 6409): implicit TLS or STARTTLS, never plain text, AUTH when the
//! account has a user, then one transaction. lettre speaks the protocol; the TLS is ours
//! (`switchboard_sync::tls`): certificates verified against the system roots or the
//! account's SHA-256 pin, as for IMAP. lettre's own TLS setup cannot take a pin, so the
//! connection is handed to lettre already encrypted — for STARTTLS after we ran the
//! plain-text part (greeting, EHLO, STARTTLS) ourselves.
//!
//! Every answer keeps the server's reply code and words, which the tracker records.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use switchboard_store::TlsMode;

/// A whole submission (connect to QUIT) may take this long.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where to submit and as whom.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: TlsMode,
    /// AUTH as this user with this password; `None`: no AUTH.
    pub login: Option<(&'a str, &'a str)>,
    pub trust_cert: Option<&'a str>,
}

/// The server took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub code: u16,
    pub text: String,
}

/// Why a submission failed, keeping the server's code and words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    /// The server answered 4xx (try later) or 5xx (never).
    #[error("the server answered {code} {text}")]
    Refused {
        code: u16,
        text: String,
        permanent: bool,
    },
    #[error("login refused: {code} {text}")]
    Auth { code: u16, text: String },
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    BadAddress(String),
}

impl SmtpError {
    /// Retrying later may work (4xx, network); otherwise the channel has failed.
    pub fn is_transient(&self) -> bool {
        match self {
            SmtpError::Refused { permanent, .. } => !permanent,
            SmtpError::Unreachable(_) | SmtpError::Protocol(_) => true,
            SmtpError::Auth { .. } | SmtpError::Tls(_) | SmtpError::BadAddress(_) => false,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Refused { code, .. } | SmtpError::Auth { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A connection lettre can drive: plain TCP (only before STARTTLS, never handed to lettre
/// unencrypted) or TLS, with bytes to serve first (a greeting we already consumed).
#[derive(Debug)]
struct Stream {
    tls: TlsStream<TcpStream>,
    peer: Option<SocketAddr>,
    prefix: Vec<u8>,
    served: usize,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.served < this.prefix.len() {
            let n = (this.prefix.len() - this.served).min(buf.remaining());
            buf.put_slice(&this.prefix[this.served..this.served + n]);
            this.served += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Stream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peer
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no peer address"))
    }
}

fn sync_err(e: switchboard_sync::SyncError) -> SmtpError {
    match e {
        switchboard_sync::SyncError::Tls(t) => SmtpError::Tls(t),
        other => SmtpError::Unreachable(other.to_string()),
    }
}

/// One SMTP reply read line by line on the plain connection: (code, text of all lines).
async fn plain_reply(
    io: &mut BufReader<TcpStream>,
    host: &str,
) -> Result<(u16, String), SmtpError> {
    let mut text = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(switchboard_sync::net::IO_TIMEOUT, io.read_line(&mut line))
            .await
            .map_err(|_| SmtpError::Unreachable(format!("{host} did not answer in time")))?
            .map_err(|e| SmtpError::Unreachable(format!("{host}: connection failed: {e}")))?;
        if n == 0 {
            return Err(SmtpError::Unreachable(format!(
                "{host} closed the connection"
            )));
        }
        let line = line.trim_end();
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| SmtpError::Protocol(format!("{host}: unexpected reply '{line}'")))?;
        text.push(line.get(4..).unwrap_or("").to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text.join(" ")));
        }
    }
}

fn client_id() -> ClientId {
    ClientId::default()
}

/// The plain-text start of a STARTTLS session: greeting, EHLO, STARTTLS, handshake.
async fn starttls(host: &str, port: u16, pin: Option<&str>) -> Result<Stream, SmtpError> {
    let tcp = switchboard_sync::net::tcp(host, port)
        .await
        .map_err(sync_err)?;
    let peer = tcp.peer_addr().ok();
    let mut io = BufReader::new(tcp);
    let (code, text) = plain_reply(&mut io, host).await?;
    if code != 220 {
        return Err(SmtpError::Refused {
            code,
            text,
            permanent: code >= 500,
        });
    }
    let hello = format!("EHLO {}\r\n", client_id());
    io.get_mut()
        .write_all(hello.as_bytes())
        .await
        .map_err(|e| SmtpError::Unreachable(format!("{host}: {e}")))?;
    let (code, text) = plain_reply(&mut io, host).await?;
    if code != 250 {
        return Err(SmtpError::Protocol(format!(
            "{host} refused EHLO: {code} {text}"
        )));
    }
    let offers = text
        .split_whitespace()
        .any(|w| w.eq_ignore_ascii_case("STARTTLS"));
    if !offers {
        return Err(SmtpError::Tls(format!(
            "{host} does not offer STARTTLS; not sending over an unencrypted connection"
        )));
    }
    io.get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .map_err(|e| SmtpError::Unreachable(format!("{host}: {e}")))?;
    let (code, text) = plain_reply(&mut io, host).await?;
    if code != 220 {
        return Err(SmtpError::Tls(format!(
            "{host} refused STARTTLS ({code} {text}); not sending over an unencrypted connection"
        )));
    }
    if !io.buffer().is_empty() {
        return Err(SmtpError::Protocol(format!(
            "{host} sent data before the TLS handshake"
        )));
    }
    let tls = tokio::time::timeout(
        switchboard_sync::net::IO_TIMEOUT,
        switchboard_sync::tls::wrap(io.into_inner(), host, pin),
    )
    .await
    .map_err(|_| SmtpError::Unreachable(format!("TLS handshake with {host} timed out")))?
    .map_err(|e| SmtpError::Tls(e.to_string()))?;
    // lettre reads a greeting first; after STARTTLS there is none, so it gets the one we
    // already read, and then sends EHLO again over TLS as RFC 3207 requires.
    Ok(Stream {
        tls,
        peer,
        prefix: format!("220 {host} ready after STARTTLS\r\n").into_bytes(),
        served: 0,
    })
}

async fn implicit(host: &str, port: u16, pin: Option<&str>) -> Result<Stream, SmtpError> {
    let tcp = switchboard_sync::net::tcp(host, port)
        .await
        .map_err(sync_err)?;
    let peer = tcp.peer_addr().ok();
    let tls = tokio::time::timeout(
        switchboard_sync::net::IO_TIMEOUT,
        switchboard_sync::tls::wrap(tcp, host, pin),
    )
    .await
    .map_err(|_| SmtpError::Unreachable(format!("TLS handshake with {host} timed out")))?
    .map_err(|e| SmtpError::Tls(e.to_string()))?;
    Ok(Stream {
        tls,
        peer,
        prefix: Vec::new(),
        served: 0,
    })
}

/// What a lettre error means for the tracker, with the server's code and words.
fn lettre_err(host: &str, stage: &str, e: lettre::transport::smtp::Error) -> SmtpError {
    use std::error::Error as _;
    let words = e
        .source()
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    if let Some(code) = e.status() {
        let code: u16 = code.to_string().parse().unwrap_or(0);
        return SmtpError::Refused {
            code,
            text: words,
            permanent: e.is_permanent(),
        };
    }
    if e.is_timeout() {
        return SmtpError::Unreachable(format!("{host} did not answer {stage} in time"));
    }
    SmtpError::Protocol(format!("{host}: {stage}: {e}"))
}

/// Submits one message to `recipients`. The answer to the final dot is the result.
pub async fn submit(
    s: &Submission<'_>,
    envelope_from: &str,
    recipients: &[String],
    raw: &[u8],
) -> Result<Accepted, SmtpError> {
    let host = s.host.to_string();
    match tokio::time::timeout(
        SUBMIT_TIMEOUT,
        submit_inner(s, envelope_from, recipients, raw),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(SmtpError::Unreachable(format!(
            "submission to {host} did not finish within {}s",
            SUBMIT_TIMEOUT.as_secs()
        ))),
    }
}

async fn submit_inner(
    s: &Submission<'_>,
    envelope_from: &str,
    recipients: &[String],
    raw: &[u8],
) -> Result<Accepted, SmtpError> {
    let host = s.host;
    let from = Address::from_str(envelope_from).map_err(|e| {
        SmtpError::BadAddress(format!("sender '{envelope_from}' is not an address: {e}"))
    })?;
    let mut to = Vec::with_capacity(recipients.len());
    for r in recipients {
        to.push(Address::from_str(r).map_err(|e| {
            SmtpError::BadAddress(format!("recipient '{r}' is not an address: {e}"))
        })?);
    }
    let envelope = Envelope::new(Some(from), to)
        .map_err(|e| SmtpError::BadAddress(format!("no usable envelope: {e}")))?;
    let stream = match s.tls {
        TlsMode::Implicit => implicit(host, s.port, s.trust_cert).await?,
        TlsMode::Starttls => starttls(host, s.port, s.trust_cert).await?,
    };
    let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &client_id())
        .await
        .map_err(|e| lettre_err(host, "the greeting", e))?;
    if let Some((user, password)) = s.login {
        let creds = Credentials::new(user.to_string(), password.to_string());
        if let Err(e) = conn
            .auth(&[Mechanism::Plain, Mechanism::Login], &creds)
            .await
        {
            conn.abort().await;
            return Err(match lettre_err(host, "AUTH", e) {
                SmtpError::Refused { code, text, .. } => SmtpError::Auth { code, text },
                other => other,
            });
        }
    }
    let sent = conn.send(&envelope, raw).await;
    match sent {
        Ok(response) => {
            let _ = conn.quit().await;
            Ok(Accepted {
                code: response.code().to_string().parse().unwrap_or(250),
                text: response.message().collect::<Vec<_>>().join(" "),
            })
        }
        Err(e) => {
            conn.abort().await;
            Err(lettre_err(host, "the transaction", e))
        }
    }
}
