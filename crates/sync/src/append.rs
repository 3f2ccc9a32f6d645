//! Filing a copy of sent mail in the account's IMAP Sent folder (APPEND), over the same
//! connection code as sync: TLS always, pins honoured, the keyring's password.

use async_imap::types::NameAttribute;
use futures::StreamExt;
use switchboard_store::Account;

use crate::imap::{imap_err, open};
use crate::net::{deadline, IO_TIMEOUT};
use crate::SyncError;

/// Names that mean "sent mail" on servers without SPECIAL-USE, in order of preference.
const USUAL_SENT_NAMES: &[&str] = &[
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
];

/// Picks the Sent folder from a LIST answer: the one marked `\Sent` (RFC 6154), else a usual
/// name (case-insensitively), else none.
pub fn pick_sent_mailbox(listed: &[(String, bool)]) -> Option<String> {
    if let Some((name, _)) = listed.iter().find(|(_, sent)| *sent) {
        return Some(name.clone());
    }
    USUAL_SENT_NAMES.iter().find_map(|usual| {
        listed
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(usual))
            .map(|(name, _)| name.clone())
    })
}

/// Appends `raw` with `\Seen` to `mailbox`, or to the Sent folder the server has. Returns the
/// mailbox used, or `None` when the account has no Sent folder (nothing is created).
pub async fn append_sent_copy(
    account: &Account,
    password: &str,
    mailbox: Option<&str>,
    raw: &[u8],
) -> Result<Option<String>, SyncError> {
    let host = account.host.as_str();
    let (mut session, _) = open(account, password).await?;
    let target = match mailbox {
        Some(m) => Some(m.to_string()),
        None => {
            let mut listed = Vec::new();
            let mut list = session
                .list(Some(""), Some("*"))
                .await
                .map_err(|e| imap_err(host, "LIST", e))?;
            while let Some(item) = tokio::time::timeout(IO_TIMEOUT, list.next())
                .await
                .map_err(|_| SyncError::Unreachable(format!("{host}: LIST timed out")))?
            {
                let name = item.map_err(|e| imap_err(host, "LIST", e))?;
                let sent = name
                    .attributes()
                    .iter()
                    .any(|a| matches!(a, NameAttribute::Sent));
                listed.push((name.name().to_string(), sent));
            }
            drop(list);
            pick_sent_mailbox(&listed)
        }
    };
    let Some(target) = target else {
        let _ = deadline("LOGOUT", async { Ok(session.logout().await) }).await;
        return Ok(None);
    };
    deadline("APPEND", async {
        session
            .append(&target, Some("(\\Seen)"), None, raw)
            .await
            .map_err(|e| imap_err(host, &format!("APPEND to '{target}'"), e))
    })
    .await?;
    let _ = deadline("LOGOUT", async { Ok(session.logout().await) }).await;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::pick_sent_mailbox;

    fn l(items: &[(&str, bool)]) -> Vec<(String, bool)> {
        items.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn special_use_wins_then_usual_names() {
        assert_eq!(
            pick_sent_mailbox(&l(&[("INBOX", false), ("Sent", false), ("Outbox", true)])),
            Some("Outbox".into())
        );
        assert_eq!(
            pick_sent_mailbox(&l(&[("INBOX", false), ("sent items", false)])),
            Some("sent items".into())
        );
        assert_eq!(
            pick_sent_mailbox(&l(&[("INBOX", false), ("Drafts", false)])),
            None
        );
    }
}
