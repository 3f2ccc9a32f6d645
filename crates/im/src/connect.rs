//! Getting from an account's settings to an authenticated XMPP stream.
//!
//! TCP to the host/port override or to what the DNS SRV records of the JID's domain name
//! (`_xmpp-client._tcp`, or `_xmpps-client._tcp` for direct TLS; the domain itself when there
//! are none), then TLS — STARTTLS (refused if the server does not offer it: no plain-text
//! login, ever) or direct TLS (XEP-0368) — through the same verifier as mail accounts: system
//! roots, or exactly the pinned certificate. The certificate must name the JID's domain, not
//! the host override (RFC 6120 §13.7.2). Then SASL (SCRAM-SHA-256/1, with channel binding
//! when the server offers the -PLUS variants over TLS 1.3; PLAIN only inside TLS).

use std::borrow::Cow;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sasl::common::{ChannelBinding, Credentials};
use switchboard_store::{Account, AccountKind, TlsMode};
use switchboard_sync::secrets::Secret;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::stanzastream::Connection;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, ReadError, StreamHeader, Timeouts, XmlStream,
    XmppStreamElement,
};
use xmpp_parsers::jid::{BareJid, Jid};

use crate::ImError;

const NS_CLIENT: &str = "jabber:client";
/// Opening TCP (after DNS) may take this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(20);

/// How to reach one XMPP account.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub account_id: i64,
    pub name: String,
    pub jid: BareJid,
    /// Host override; `None` = DNS SRV of the JID's domain.
    pub host: Option<String>,
    pub port: u16,
    pub tls: TlsMode,
    pub pin: Option<String>,
}

impl AccountConfig {
    pub fn from_account(a: &Account) -> Result<AccountConfig, ImError> {
        if a.kind != AccountKind::Xmpp {
            return Err(ImError::NoAccount(a.name.clone()));
        }
        let jid = crate::jid::parse_bare(&a.username, "the account's JID")?;
        let host = Some(a.host.trim().to_string()).filter(|h| !h.is_empty());
        Ok(AccountConfig {
            account_id: a.id,
            name: a.name.clone(),
            jid,
            port: a.port,
            host,
            tls: a.tls,
            pin: a.trust_cert.clone(),
        })
    }

    fn domain(&self) -> &str {
        self.jid.domain().as_str()
    }

    /// Where it connects, for messages.
    pub fn server(&self) -> String {
        match &self.host {
            Some(h) => format!("{h}:{}", self.port),
            None => format!("{} (DNS SRV)", self.domain()),
        }
    }
}

/// Timeouts of an established stream: silence for 90 s makes the stream ask the server for a
/// sign of life (stream management `<r/>` or a ping); no answer within 30 s more ends it.
pub fn stream_timeouts() -> Timeouts {
    Timeouts {
        read_timeout: Duration::from_secs(90),
        response_timeout: Duration::from_secs(30),
    }
}

async fn tcp(cfg: &AccountConfig) -> Result<TcpStream, ImError> {
    let dns = match (&cfg.host, cfg.tls) {
        (Some(h), _) => {
            // A literal address needs no resolver.
            if h.parse::<std::net::IpAddr>().is_ok() {
                let addr = if h.contains(':') {
                    format!("[{h}]:{}", cfg.port)
                } else {
                    format!("{h}:{}", cfg.port)
                };
                DnsConfig::addr(&addr)
            } else {
                DnsConfig::no_srv(h, cfg.port)
            }
        }
        (None, TlsMode::Starttls) => DnsConfig::srv_default_client(cfg.domain()),
        (None, TlsMode::Implicit) => DnsConfig::srv_xmpps(cfg.domain()),
    };
    match tokio::time::timeout(TCP_TIMEOUT, dns.resolve()).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(ImError::Unreachable(format!(
            "cannot connect to {}: {e}",
            cfg.server()
        ))),
        Err(_) => Err(ImError::Unreachable(format!(
            "cannot connect to {}: no answer within {}s",
            cfg.server(),
            TCP_TIMEOUT.as_secs()
        ))),
    }
}

fn header(domain: &str) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(Cow::Borrowed(domain)),
        from: None,
        id: None,
    }
}

fn io_err(cfg: &AccountConfig, step: &str, e: impl std::fmt::Display) -> ImError {
    ImError::Unreachable(format!("{} ({step}): {e}", cfg.server()))
}

async fn tls(cfg: &AccountConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImError> {
    switchboard_sync::tls::wrap(tcp, cfg.domain(), cfg.pin.as_deref())
        .await
        .map_err(|e| ImError::Tls(format!("{}: {e}", cfg.server())))
}

/// The TLS 1.3 exporter for `tls-exporter` channel binding (RFC 9266), when available.
fn exporter(tls: &TlsStream<TcpStream>) -> ChannelBinding {
    let (_, conn) = tls.get_ref();
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return ChannelBinding::None;
    }
    match conn.export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None) {
        Ok(data) => ChannelBinding::TlsExporter(data),
        Err(_) => ChannelBinding::None,
    }
}

/// STARTTLS on a fresh plain stream (RFC 6120 §5): the server must offer it.
async fn starttls(cfg: &AccountConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImError> {
    let timeouts = stream_timeouts();
    let pending = initiate_stream(
        BufStream::new(tcp),
        NS_CLIENT,
        header(cfg.domain()),
        timeouts,
    )
    .await
    .map_err(|e| io_err(cfg, "stream start", e))?;
    let (features, mut stream): (_, XmlStream<_, FallibleStreamElement>) = pending
        .recv_features()
        .await
        .map_err(|e| io_err(cfg, "stream features", e))?;
    if !features.can_starttls() {
        return Err(ImError::Tls(format!(
            "{} does not offer STARTTLS; Switchboard never logs in without TLS (try --tls implicit \
             if the server has a direct TLS port)",
            cfg.server()
        )));
    }
    stream
        .send(&XmppStreamElement::Starttls(
            xmpp_parsers::starttls::Nonza::Request(xmpp_parsers::starttls::Request),
        ))
        .await
        .map_err(|e| io_err(cfg, "STARTTLS", e))?;
    loop {
        match stream
            .next()
            .await
            .map(|v| v.and_then(FallibleStreamElement::into_read_error))
        {
            Some(Ok(XmppStreamElement::Starttls(xmpp_parsers::starttls::Nonza::Proceed(_)))) => {
                break
            }
            Some(Ok(XmppStreamElement::Starttls(_))) => {
                return Err(ImError::Tls(format!(
                    "{} refused to start TLS",
                    cfg.server()
                )))
            }
            Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(e)) => return Err(io_err(cfg, "STARTTLS", format!("{e:?}"))),
            None => return Err(io_err(cfg, "STARTTLS", "the server closed the connection")),
        }
    }
    let tcp = stream.into_inner().into_inner();
    tls(cfg, tcp).await
}

/// Connects, secures and authenticates; the stream is ready for resource binding, which the
/// stanza stream does (with stream management when offered).
pub async fn login(cfg: &AccountConfig, password: &Secret) -> Result<Connection, ImError> {
    let node = cfg
        .jid
        .node()
        .map(|n| n.as_str().to_string())
        .ok_or_else(|| ImError::BadJid {
            what: "the account's JID",
            jid: cfg.jid.to_string(),
            why: "it has no user part".into(),
        })?;
    let tcp = tcp(cfg).await?;
    let tls = match cfg.tls {
        TlsMode::Implicit => tls(cfg, tcp).await?,
        TlsMode::Starttls => starttls(cfg, tcp).await?,
    };
    let binding = exporter(&tls);
    let timeouts = stream_timeouts();
    let pending = initiate_stream(
        BufStream::new(tls),
        NS_CLIENT,
        header(cfg.domain()),
        timeouts,
    )
    .await
    .map_err(|e| io_err(cfg, "stream start after TLS", e))?;
    let (features, stream): (_, XmlStream<_, FallibleStreamElement>) = pending
        .recv_features()
        .await
        .map_err(|e| io_err(cfg, "stream features", e))?;
    let mechanisms = features.sasl_mechanisms.clone();
    // The -PLUS mechanisms bind the login to this TLS connection; only choose binding when the
    // server offers them, or SCRAM would be skipped for PLAIN.
    let binding = if mechanisms.iter().any(|m| m.ends_with("-PLUS")) {
        binding
    } else {
        ChannelBinding::None
    };
    let creds = Credentials::default()
        .with_username(node)
        .with_password(password.expose())
        .with_channel_binding(binding);
    let authed = tokio_xmpp::client_login(stream, mechanisms, creds)
        .await
        .map_err(|e| match e {
            tokio_xmpp::Error::Auth(a) => {
                ImError::Auth(format!("{} refused {}: {a}", cfg.server(), cfg.jid))
            }
            other => io_err(cfg, "login", other),
        })?;
    let pending = authed
        .send_header(header(cfg.domain()))
        .await
        .map_err(|e| io_err(cfg, "stream restart after login", e))?;
    let (features, stream): (_, XmlStream<_, FallibleStreamElement>) = pending
        .recv_features()
        .await
        .map_err(|e| io_err(cfg, "stream features after login", e))?;
    Ok(Connection {
        stream: stream.box_stream(),
        features,
        identity: Jid::from(cfg.jid.clone()),
    })
}

/// [`login`] with an overall time limit.
pub async fn login_within(
    cfg: &AccountConfig,
    password: &Secret,
    limit: Duration,
) -> Result<Connection, ImError> {
    match tokio::time::timeout(limit, login(cfg, password)).await {
        Ok(r) => r,
        Err(_) => Err(ImError::Unreachable(format!(
            "{} did not complete the login within {}s",
            cfg.server(),
            limit.as_secs()
        ))),
    }
}
