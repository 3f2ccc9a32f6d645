//! Test TLS material made with the `openssl` command-line tool: a small private CA and a server
//! certificate for `localhost` / `127.0.0.1` signed by it.
//!
//! Nothing here is trusted by the system: a client that does not set `SSL_CERT_FILE` to
//! [`TlsMaterial::ca_pem`] (rustls-native-certs honours that variable) sees an unknown issuer, which
//! is the natural "self-signed server" case. A client that pins the certificate compares against
//! [`TlsMaterial::cert_sha256`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::util::{find_program, run_checked};

/// Which server certificate to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertKind {
    /// Valid for ten years from now, CN=localhost, SAN DNS:localhost and IP:127.0.0.1.
    #[default]
    Valid,
    /// Same names, but valid only from 2020-01-01 to 2021-01-01 (expired).
    Expired,
    /// Valid dates, but issued for `wrong.example` only (hostname mismatch).
    WrongHost,
}

/// Paths and fingerprint of the generated CA and server certificate.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// The CA certificate (PEM). Point `SSL_CERT_FILE` here to trust the server.
    pub ca_pem: PathBuf,
    /// The server certificate (PEM, leaf only).
    pub server_pem: PathBuf,
    /// The server's private key (PEM, unencrypted).
    pub server_key: PathBuf,
    /// The server certificate in DER form.
    pub server_der: PathBuf,
    /// Lower-case hex SHA-256 of `server_der`, as a client pinning the certificate computes it.
    pub cert_sha256: String,
    /// The kind of certificate issued.
    pub kind: CertKind,
}

const CA_CONF: &str = "\
[ ca ]
default_ca = testca
[ testca ]
database = cadb/index.txt
new_certs_dir = cadb
serial = cadb/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[ wrong_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
";

impl TlsMaterial {
    /// Generates a CA and a server certificate of `kind` into `dir` (created if needed).
    /// Uses P-256 keys, so it takes a few tens of milliseconds.
    pub fn generate(dir: &Path, kind: CertKind) -> Result<Self> {
        let openssl = find_program("openssl", "openssl")?;
        fs::create_dir_all(dir.join("cadb"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        fs::write(dir.join("ca.cnf"), CA_CONF).context("cannot write ca.cnf")?;
        fs::write(dir.join("cadb/index.txt"), "").context("cannot write the CA index")?;
        // A random serial keeps certificates from different test runs distinguishable.
        let serial: [u8; 16] = rand_bytes();
        fs::write(
            dir.join("cadb/serial"),
            format!("{}\n", hex::encode(serial)),
        )
        .context("cannot write the CA serial")?;

        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run_checked(
            Command::new(&openssl)
                .current_dir(dir)
                .arg("req")
                .arg("-x509")
                .args(ec)
                .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650"])
                .args(["-subj", "/CN=Switchboard Test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
            "openssl req (test CA)",
        )?;

        let cn = match kind {
            CertKind::WrongHost => "/CN=wrong.example",
            _ => "/CN=localhost",
        };
        run_checked(
            Command::new(&openssl)
                .current_dir(dir)
                .arg("req")
                .args(ec)
                .args(["-keyout", "server.key", "-out", "server.csr", "-subj", cn]),
            "openssl req (server key and CSR)",
        )?;

        let mut sign = Command::new(&openssl);
        sign.current_dir(dir)
            .args(["ca", "-batch", "-notext", "-config", "ca.cnf"])
            .args(["-cert", "ca.pem", "-keyfile", "ca.key"])
            .args(["-in", "server.csr", "-out", "server.pem"]);
        match kind {
            CertKind::Valid => sign.args(["-extensions", "server_ext", "-days", "3650"]),
            CertKind::Expired => sign.args([
                "-extensions",
                "server_ext",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20210101000000Z",
            ]),
            CertKind::WrongHost => sign.args(["-extensions", "wrong_ext", "-days", "3650"]),
        };
        run_checked(&mut sign, "openssl ca (sign the server certificate)")?;

        run_checked(
            Command::new(&openssl).current_dir(dir).args([
                "x509",
                "-in",
                "server.pem",
                "-outform",
                "DER",
                "-out",
                "server.der",
            ]),
            "openssl x509 (DER export)",
        )?;
        let der = fs::read(dir.join("server.der")).context("cannot read server.der")?;
        let cert_sha256 = hex::encode(Sha256::digest(&der));

        Ok(Self {
            ca_pem: dir.join("ca.pem"),
            server_pem: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            server_der: dir.join("server.der"),
            cert_sha256,
            kind,
        })
    }
}

/// Non-cryptographic random bytes from the OS (good enough for serial numbers and names).
pub(crate) fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Ok(bytes) = fs::read("/proc/sys/kernel/random/uuid") {
        // 32 hex digits of randomness, hashed together with time and pid to fill any length.
        let mut h = Sha256::new();
        h.update(&bytes);
        h.update(std::process::id().to_le_bytes());
        h.update(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                .to_le_bytes(),
        );
        let digest = h.finalize();
        for (i, b) in out.iter_mut().enumerate() {
            *b = digest[i % digest.len()];
        }
    }
    out
}
