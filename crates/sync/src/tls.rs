//! TLS for mail connections: certificates verified against the system roots by default; a
//! self-signed server is trusted only through an explicit per-account pin of the SHA-256
//! fingerprint of its certificate. There is no global "accept anything" switch.
//!
//! When verification fails, the fingerprint of the presented certificate is kept so the error
//! can show it: the person can compare it out of band and pin it.

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

/// Accepts "AB:CD:..." or "abcd..." and returns lower-case hex without separators.
pub fn normalize_pin(pin: &str) -> Option<String> {
    let hex: String = pin
        .trim()
        .trim_start_matches("sha256:")
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// System roots (honouring SSL_CERT_FILE / SSL_CERT_DIR), with the Mozilla set as a fallback
/// when the system has none. Loaded once per process.
fn roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(store)
        })
        .clone()
}

/// What the server presented, kept for the error message.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    pub fingerprint: Option<String>,
}

#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<String>,
    provider: Arc<CryptoProvider>,
    presented: Arc<Mutex<Presented>>,
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
            p.fingerprint = Some(fp.clone());
        }
        if let Some(pin) = &self.pin {
            // A pin replaces chain and name checks: the person vouched for this exact
            // certificate. The handshake signature is still verified below.
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

/// Why a TLS connection failed, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the server's certificate is not trusted ({reason}); its SHA-256 fingerprint is {fingerprint}. If you trust this server, pin it with --trust-cert {fingerprint}")]
    Untrusted { reason: String, fingerprint: String },
    #[error("the server's certificate has expired ({reason}); SHA-256 fingerprint {fingerprint}")]
    Expired { reason: String, fingerprint: String },
    #[error("{0}")]
    PinMismatch(String),
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("'{0}' is not a valid server name for TLS")]
    BadName(String),
}

/// Connects TLS over an established TCP stream, verifying as described above.
pub async fn wrap(
    tcp: TcpStream,
    host: &str,
    pin: Option<&str>,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let provider = provider();
    let presented = Arc::new(Mutex::new(Presented::default()));
    let pin = pin.and_then(normalize_pin);
    // A pinned account never consults the roots, so it does not pay for loading them.
    let inner = match pin {
        Some(_) => None,
        None => WebPkiServerVerifier::builder_with_provider(roots(), provider.clone())
            .build()
            .ok(),
    };
    let verifier = Verifier {
        inner,
        pin: pin.clone(),
        provider: provider.clone(),
        presented: presented.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name =
        ServerName::try_from(host.to_string()).map_err(|_| TlsError::BadName(host.to_string()))?;
    match TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        Ok(s) => Ok(s),
        Err(e) => {
            let fingerprint = presented
                .lock()
                .ok()
                .and_then(|p| p.fingerprint.clone())
                .unwrap_or_else(|| "unknown".into());
            let reason = e
                .get_ref()
                .map(|inner| inner.to_string())
                .unwrap_or_else(|| e.to_string());
            Err(classify(reason, fingerprint, pin.is_some()))
        }
    }
}

fn classify(reason: String, fingerprint: String, pinned: bool) -> TlsError {
    if pinned && reason.contains("does not match the pinned") {
        return TlsError::PinMismatch(reason);
    }
    if reason.contains("Expired") || reason.contains("expired") {
        return TlsError::Expired {
            reason,
            fingerprint,
        };
    }
    if reason.contains("certificate") || reason.contains("Certificate") {
        return TlsError::Untrusted {
            reason,
            fingerprint,
        };
    }
    TlsError::Handshake(reason)
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
}
