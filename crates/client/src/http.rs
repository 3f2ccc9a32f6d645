//! HTTP/1.1 to one server over hyper's connection-level client: TCP, TLS when the address is
//! https, one kept-alive connection reused between polls. Requests are small GETs with a bearer
//! token; answers are read whole, up to a cap.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST, IF_NONE_MATCH};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::ClientError;

/// No answer of this API comes near this; a bigger one is refused rather than held in memory.
const MAX_BODY: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One server address, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// As given (without a trailing slash), for messages.
    pub url: String,
    pub tls: bool,
    /// Without brackets, for connecting and for TLS.
    pub host: String,
    pub port: u16,
    /// `host:port` with brackets around IPv6, for the Host header (the server checks it).
    pub authority: String,
    /// A path prefix, e.g. "/switchboard" behind a reverse proxy; "" for none.
    pub base: String,
    pub pin: Option<String>,
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Parses `http(s)://host[:port][/prefix]`. Plain http is accepted for loopback only: the token
/// must not cross a network in clear (the server serves plain HTTP on loopback only, too).
pub(crate) fn parse_endpoint(url: &str, pin: Option<&str>) -> Result<Endpoint, ClientError> {
    let bad = |reason: &str| ClientError::BadAddress {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = url.trim().trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    let (tls, rest) = if lower.starts_with("https://") {
        (true, &trimmed["https://".len()..])
    } else if lower.starts_with("http://") {
        (false, &trimmed["http://".len()..])
    } else {
        return Err(bad("it must start with http:// or https://"));
    };
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad(
            "user names in the address are not supported; use --token",
        ));
    }
    if base.contains(['?', '#']) {
        return Err(bad("the address may not carry a query or fragment"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address needs its closing ']'"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("unexpected text after the IPv6 address")),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(&format!("'{p}' is not a port")))?,
    };
    if !tls && !is_loopback(host) {
        return Err(bad(
            "plain http is for loopback only (the token would cross the network in clear); use https://",
        ));
    }
    let pin = match pin {
        Some(p) if tls => Some(crate::tls::normalize_pin(p).ok_or_else(|| {
            bad(&format!(
                "'{p}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
            ))
        })?),
        _ => None,
    };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(Endpoint {
        url: trimmed.to_string(),
        tls,
        host: host.to_string(),
        port,
        authority,
        base: base.to_string(),
        pin,
    })
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type Sender = SendRequest<Empty<Bytes>>;

/// A TCP (and TLS) connection with the HTTP/1.1 handshake done; the connection task runs on the
/// runtime until the sender is dropped or the server closes it.
pub(crate) async fn connect(ep: &Endpoint) -> Result<Sender, String> {
    let work = async {
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if ep.tls {
            Box::new(crate::tls::wrap(tcp, &ep.host, ep.pin.as_deref()).await?)
        } else {
            Box::new(tcp)
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok::<_, String>(sender)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))?
}

/// Why a GET failed; `stale` when the connection was found closed before the request went out
/// or was answered, which a fresh connection may cure.
pub(crate) struct GetError {
    pub message: String,
    pub stale: bool,
}

impl GetError {
    fn new(message: String) -> GetError {
        GetError {
            message,
            stale: false,
        }
    }
}

pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// One GET on an open connection.
pub(crate) async fn get(
    sender: &mut Sender,
    ep: &Endpoint,
    path: &str,
    token: &str,
    if_none_match: Option<&str>,
    timeout: Duration,
) -> Result<Answer, GetError> {
    let work = async {
        sender.ready().await.map_err(|e| GetError {
            message: format!("the connection closed: {e}"),
            stale: true,
        })?;
        let mut req = Request::get(format!("{}{path}", ep.base))
            .header(HOST, ep.authority.as_str())
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(tag) = if_none_match {
            req = req.header(IF_NONE_MATCH, tag);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| GetError::new(format!("cannot make the request: {e}")))?;
        let resp = sender.send_request(req).await.map_err(|e| GetError {
            message: format!("the request failed: {e}"),
            // Closed before any answer: a kept-alive connection the server had let go.
            stale: e.is_closed() || e.is_canceled() || e.is_incomplete_message(),
        })?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| GetError::new(format!("reading the answer failed: {e}")))?
            .to_bytes();
        Ok::<_, GetError>(Answer { status, body })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| GetError::new(format!("no answer within {} s", timeout.as_secs())))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        let e = parse_endpoint("http://127.0.0.1:7878/", None).unwrap();
        assert_eq!(
            (
                e.tls,
                e.host.as_str(),
                e.port,
                e.authority.as_str(),
                e.base.as_str()
            ),
            (false, "127.0.0.1", 7878, "127.0.0.1:7878", "")
        );
        assert_eq!(e.url, "http://127.0.0.1:7878");
        let pin = "AB:".repeat(31) + "AB";
        let e = parse_endpoint("HTTPS://mail.home.arpa/sb", Some(&pin)).unwrap();
        assert_eq!(
            (e.tls, e.port, e.authority.as_str(), e.base.as_str()),
            (true, 443, "mail.home.arpa:443", "/sb")
        );
        assert_eq!(e.pin.as_deref(), Some("ab".repeat(32).as_str()));
        let e = parse_endpoint("http://[::1]:9000", None).unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority.as_str()),
            ("::1", "[::1]:9000")
        );
        let e = parse_endpoint("http://localhost:1", None).unwrap();
        assert_eq!(e.authority, "localhost:1");
    }

    #[test]
    fn bad_addresses_say_why() {
        for (url, why) in [
            ("ftp://x", "http:// or https://"),
            ("127.0.0.1:7878", "http:// or https://"),
            ("http://192.168.1.5:7878", "loopback only"),
            ("https://:443", "no host"),
            ("https://host:port", "not a port"),
            ("https://host:0", "not a port"),
            ("https://u:p@host", "user names"),
            ("https://[::1", "closing"),
            ("https://host/x?y=1", "query"),
        ] {
            let e = parse_endpoint(url, None).err().unwrap().to_string();
            assert!(e.contains(why) && e.contains(url), "{url}: {e}");
        }
        let e = parse_endpoint("https://host", Some("nope")).err().unwrap();
        assert!(e.to_string().contains("SHA-256"), "{e}");
        // A pin means nothing to plain http and is not asked for there.
        assert!(parse_endpoint("http://127.0.0.1:1", Some("nope")).is_ok());
    }
}
