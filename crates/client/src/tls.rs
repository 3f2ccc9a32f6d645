//! TLS to a Switchboard server: verified against the system roots (`SSL_CERT_FILE` honoured,
//! the Mozilla set as a fallback), or — for a server with a self-signed certificate, which is
//! what `switchboard serve` generates off loopback — trusted only through the SHA-256 pin of
//! its certificate. There is no "accept anything" switch. The same scheme as the mail
//! connections of `switchboard-sync` (crates/sync/src/tls.rs), kept here so the client does not
//! pull in the IMAP and keyring stack.

use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Lower-case hex SHA-256 of a DER certificate, the form `--trust-cert` takes.
pub fn fingerprint(cert: &[u8]) -> String {
    hex::encode(Sha256::digest(cert))
}

/// Accepts "AB:CD:...", "sha256:abcd..." or "abcd..." and returns lower-case hex without
/// separators; `None` unless it is 32 bytes of hex.
pub fn normalize_pin(pin: &str) -> Option<String> {
    let trimmed = pin.trim();
    let hex: String = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .unwrap_or(trimmed)
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(store)
        })
        .clone()
}

#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<String>,
    provider: Arc<CryptoProvider>,
    /// The fingerprint the server presented, for the error message.
    presented: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity.as_ref());
        if let Ok(mut p) = self.presented.lock() {
            *p = Some(fp.clone());
        }
        if let Some(pin) = &self.pin {
            // The pin stands for this exact certificate; the handshake signature is still
            // verified below.
            return if &fp == pin {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::General(format!(
                    "the server's certificate (SHA-256 {fp}) does not match the pinned fingerprint {pin}"
                )))
            };
        }
        match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::General(
                "no trusted root certificates available".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS over an established TCP stream; the error is a sentence a person can act on.
pub(crate) async fn wrap(
    tcp: TcpStream,
    host: &str,
    pin: Option<&str>,
) -> Result<TlsStream<TcpStream>, String> {
    let provider = provider();
    let presented = Arc::new(Mutex::new(None));
    let verifier = Verifier {
        inner: WebPkiServerVerifier::builder_with_provider(roots(), provider.clone())
            .build()
            .ok(),
        pin: pin.map(str::to_string),
        provider: provider.clone(),
        presented: presented.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is not a valid server name for TLS"))?;
    match TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        Ok(s) => Ok(s),
        Err(e) => {
            let reason = e
                .get_ref()
                .map(|inner| inner.to_string())
                .unwrap_or_else(|| e.to_string());
            let fp = presented.lock().ok().and_then(|p| p.clone());
            Err(describe(&reason, fp.as_deref(), pin.is_some()))
        }
    }
}

fn describe(reason: &str, fingerprint: Option<&str>, pinned: bool) -> String {
    if pinned && reason.contains("does not match the pinned") {
        return format!("TLS: {reason}");
    }
    match fingerprint {
        Some(fp) if reason.to_ascii_lowercase().contains("certificate") => format!(
            "TLS: the server's certificate is not trusted ({reason}); its SHA-256 fingerprint is {fp}. If you trust this server, pin it with --trust-cert {fp}"
        ),
        _ => format!("TLS handshake failed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_normalised() {
        let hex = "ab".repeat(32);
        assert_eq!(normalize_pin(&hex).as_deref(), Some(hex.as_str()));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(normalize_pin(&colons).as_deref(), Some(hex.as_str()));
        assert_eq!(
            normalize_pin(&format!("sha256:{hex}")).as_deref(),
            Some(hex.as_str())
        );
        assert_eq!(normalize_pin("abcd"), None);
        assert_eq!(normalize_pin(&"zz".repeat(32)), None);
    }

    #[test]
    fn an_untrusted_certificate_names_the_fingerprint_to_pin() {
        let fp = "ab".repeat(32);
        let m = describe("invalid peer certificate: UnknownIssuer", Some(&fp), false);
        assert!(m.contains(&format!("--trust-cert {fp}")), "{m}");
        let m = describe("received fatal alert: HandshakeFailure", None, false);
        assert!(m.starts_with("TLS handshake failed"), "{m}");
    }
}
