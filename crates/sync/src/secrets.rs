//! Account passwords in the OS keyring (Secret Service by default: GNOME Keyring, KWallet).
//! Never in SQLite, logs or API answers: the [`Secret`] type cannot be printed or serialized.
//!
//! `SWITCHBOARD_KEYRING=kernel` selects the Linux kernel keyring instead (headless servers
//! without a Secret Service; memory-only, lost at reboot).

use std::fmt;
use std::sync::Once;

/// A password. Debug/Display print a placeholder; there is no Serialize.
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no password for account '{0}' in the keyring; set it again with `switchboard account password {0} --password-stdin`")]
    Missing(String),
    #[error("the keyring is not available ({0}); Switchboard keeps passwords only in the OS keyring (Secret Service, e.g. gnome-keyring), or the kernel keyring with SWITCHBOARD_KEYRING=kernel")]
    Unavailable(String),
}

const SERVICE: &str = "switchboard";

fn init_backend() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var("SWITCHBOARD_KEYRING").as_deref() == Ok("kernel") {
            keyring::set_default_credential_builder(keyring::keyutils::default_credential_builder());
        }
    });
}

fn entry(install_id: &str, account: &str) -> Result<keyring::Entry, SecretError> {
    init_backend();
    keyring::Entry::new(SERVICE, &format!("{install_id}/{account}"))
        .map_err(|e| SecretError::Unavailable(e.to_string()))
}

pub fn store_password(install_id: &str, account: &str, secret: &Secret) -> Result<(), SecretError> {
    entry(install_id, account)?
        .set_password(secret.expose())
        .map_err(|e| SecretError::Unavailable(e.to_string()))
}

pub fn load_password(install_id: &str, account: &str) -> Result<Secret, SecretError> {
    match entry(install_id, account)?.get_password() {
        Ok(p) => Ok(Secret(p)),
        Err(keyring::Error::NoEntry) => Err(SecretError::Missing(account.to_string())),
        Err(e) => Err(SecretError::Unavailable(e.to_string())),
    }
}

pub fn delete_password(install_id: &str, account: &str) -> Result<(), SecretError> {
    match entry(install_id, account)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(SecretError::Unavailable(e.to_string())),
    }
}
