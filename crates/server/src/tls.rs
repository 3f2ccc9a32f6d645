//! TLS for serving beyond loopback: a given certificate and key, or a self-signed certificate
//! generated once and kept in the data dir (so its fingerprint, which clients pin, is stable).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use crate::ServeError;

pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// Lower-case hex SHA-256 of the leaf certificate, for pinning.
    pub fingerprint: String,
}

fn tls_err(what: &str, path: &Path, e: impl std::fmt::Display) -> ServeError {
    ServeError::Tls(format!("{what} {}: {e}", path.display()))
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServeError> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| tls_err("cannot read the certificate", cert, e))?,
    ))
    .collect::<Result<_, _>>()
    .map_err(|e| tls_err("the certificate file is not PEM", cert, e))?;
    if certs.is_empty() {
        return Err(tls_err("no certificate in", cert, "empty"));
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| tls_err("cannot read the key", key, e))?,
    ))
    .map_err(|e| tls_err("the key file is not PEM", key, e))?
    .ok_or_else(|| tls_err("no private key in", key, "empty"))?;
    Ok((certs, key))
}

/// The self-signed certificate of this data dir, made on first use.
fn generated(data_dir: &Path) -> Result<(PathBuf, PathBuf), ServeError> {
    let dir = data_dir.join("tls");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).map_err(|e| tls_err("cannot create", &dir, e))?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !host.is_empty() {
        names.push(host);
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServeError::Tls(format!("cannot generate a certificate: {e}")))?;
    write_private(&key, made.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert, made.cert.pem()).map_err(|e| tls_err("cannot write", &cert, e))?;
    Ok((cert, key))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| tls_err("cannot write", path, e))?;
    f.write_all(bytes)
        .map_err(|e| tls_err("cannot write", path, e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServeError> {
    std::fs::write(path, bytes).map_err(|e| tls_err("cannot write", path, e))
}

pub fn load(data_dir: &Path, given: Option<(PathBuf, PathBuf)>) -> Result<ServerTls, ServeError> {
    let (cert_path, key_path) = match given {
        Some(pair) => pair,
        None => generated(data_dir)?,
    };
    let (certs, key) = read_pem(&cert_path, &key_path)?;
    let fingerprint = hex::encode(Sha256::digest(certs[0].as_ref()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                ServeError::Tls(format!("the certificate and key do not fit together: {e}"))
            })?;
    Ok(ServerTls {
        config: Arc::new(config),
        fingerprint,
    })
}
