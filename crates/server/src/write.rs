//! Changing things over HTTP: flags, deletes, sync, accounts, attachments.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use switchboard_store::{AccountKind, AccountPatch, NewAccount, SyncPolicy, TlsMode};
use switchboard_sync::secrets::{delete_password, store_password, Secret};

use crate::api::parse_id;
use crate::{ApiError, AppState, Caller};

/// A JSON object body as `T`. serde would also read a struct from an array (its tuple form);
/// the API documents objects only, so anything else is refused here, once for all handlers.
pub(crate) fn body<T: serde::de::DeserializeOwned>(
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, ApiError> {
    let Json(v) =
        b.map_err(|e| ApiError::bad_request(format!("invalid JSON body: {}", e.body_text())))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagsBody {
    seen: Option<bool>,
    flagged: Option<bool>,
}

#[utoipa::path(patch, path = "/api/messages/{id}", params(("id" = i64, Path, minimum = 1)), request_body = FlagsBody,
    responses((status = 200, body = crate::openapi::FlagsResult), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// Marks a message read/unread or flagged; IMAP servers follow within seconds.
pub async fn patch_message(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let b: FlagsBody = body(b)?;
    // Nothing to change answers the current flags (and pushes nothing).
    let unchanged = b.seen.is_none() && b.flagged.is_none();
    let flags = state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            if unchanged {
                let m = s.message(id)?;
                return Ok(m
                    .summary
                    .flags
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>());
            }
            let f = s.set_local_flags(id, b.seen, b.flagged)?;
            Ok(f.names().into_iter().map(String::from).collect())
        })
        .await?;
    state.wake_sync.notify_waiters();
    Ok(Json(crate::openapi::FlagsResult { id, flags }).into_response())
}

#[utoipa::path(delete, path = "/api/messages/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Deleted here; servers follow per account policy"), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// Deletes a message; reverse sync applies.
pub async fn delete_message(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            Ok(s.delete_message(id)?)
        })
        .await?;
    // Reverse sync right away rather than at the next scheduled pass.
    state.wake_sync.notify_waiters();
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/sync", responses((status = 200, body = Vec<crate::openapi::SyncStateEntry>), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Each account's sync state, with the server's words on errors.
pub async fn sync_status(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let accounts = state.with_store(|s| Ok(s.accounts()?)).await?;
    let v: Vec<crate::openapi::SyncStateEntry> = accounts
        .into_iter()
        .filter(|a| caller.sees_account(a.owner.as_deref()))
        .map(|a| crate::openapi::SyncStateEntry {
            account: a.name,
            state: a.state.state,
            detail: a.state.detail,
            at: a.state.at,
            last_sync_at: a.last_sync_at,
        })
        .collect();
    Ok(Json(v).into_response())
}

#[utoipa::path(post, path = "/api/sync", responses((status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 202, body = crate::openapi::SyncRequested), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Syncs every account now.
pub async fn sync_now(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("starting a sync")?;
    state.wake_sync.notify_waiters();
    Ok((
        StatusCode::ACCEPTED,
        Json(crate::openapi::SyncRequested { requested: true }),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    kind: AccountKind,
    name: String,
    /// The server; required for imap and pop3. For xmpp optional: without it the server is
    /// found through the DNS SRV records of the JID's domain.
    host: Option<String>,
    port: Option<u16>,
    tls: Option<TlsMode>,
    /// The login name; for xmpp the JID (name@domain).
    username: String,
    password: String,
    trust_cert: Option<String>,
    mailboxes: Option<Vec<String>>,
    /// mirror | keep | delete-after:N
    #[schema(value_type = Option<String>, example = "mirror")]
    policy: Option<SyncPolicy>,
    /// Log in before keeping the account (default true).
    test: Option<bool>,
}

/// The fingerprint a TLS error reports, for a "trust this certificate" action.
fn fingerprint_in(message: &str) -> Option<String> {
    let at = message.find("fingerprint is ")? + "fingerprint is ".len();
    let fp: String = message[at..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    (fp.len() == 64).then_some(fp)
}

#[utoipa::path(post, path = "/api/accounts", request_body = NewAccountBody,
    responses((status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 201, body = switchboard_store::Account), (status = 422, description = "The connection test failed; nothing was kept", body = crate::openapi::AccountTestFailure), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Adds an account after logging in to it; the password goes to the keyring.
pub async fn add_account(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("adding an account")?;
    let b: NewAccountBody = body(b)?;
    if b.password.is_empty() {
        return Err(ApiError::bad_request("'password' is empty"));
    }
    let xmpp = b.kind == AccountKind::Xmpp;
    let tls = b.tls.unwrap_or(if xmpp {
        TlsMode::Starttls
    } else {
        TlsMode::Implicit
    });
    let username = if xmpp {
        switchboard_im::jid::parse_bare(&b.username, "username")
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .to_string()
    } else {
        b.username
    };
    let host = match (b.host, xmpp) {
        (Some(h), _) => h,
        (None, true) => String::new(),
        (None, false) => {
            return Err(ApiError::bad_request(
                "'host' is required for imap and pop3 accounts",
            ))
        }
    };
    let trust_cert = match b.trust_cert {
        Some(pin) => Some(switchboard_sync::tls::normalize_pin(&pin).ok_or_else(|| {
            ApiError::bad_request(format!(
                "'trust_cert' '{pin}' is not a SHA-256 fingerprint (64 hex digits)"
            ))
        })?),
        None => None,
    };
    let new = NewAccount {
        name: b.name.clone(),
        kind: b.kind,
        port: b.port.unwrap_or(match (b.kind, tls) {
            (AccountKind::Imap, TlsMode::Implicit) => 993,
            (AccountKind::Imap, TlsMode::Starttls) => 143,
            (AccountKind::Pop3, TlsMode::Implicit) => 995,
            (AccountKind::Pop3, TlsMode::Starttls) => 110,
            // No host: DNS SRV finds host and port.
            (AccountKind::Xmpp, _) if host.trim().is_empty() => 0,
            (AccountKind::Xmpp, TlsMode::Implicit) => 5223,
            (AccountKind::Xmpp, TlsMode::Starttls) => 5222,
        }),
        host,
        tls,
        username,
        trust_cert,
        mailboxes: b.mailboxes.unwrap_or_default(),
        // The server's archive stays complete; a delete here is local.
        policy: if xmpp {
            SyncPolicy::Keep
        } else {
            b.policy.unwrap_or(SyncPolicy::Mirror)
        },
    };
    let password = Secret::new(b.password);
    let name = b.name.clone();
    let account = state
        .with_store(move |s| {
            let account = s.add_account(&new)?;
            if let Err(e) = store_password(&s.install_id()?, &account.name, &password) {
                s.remove_account(&account.name)?;
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "keyring_unavailable",
                    e.to_string(),
                ));
            }
            Ok(account)
        })
        .await?;
    if b.test.unwrap_or(true) {
        let tested = if xmpp {
            switchboard_im::test_account(&state.data_dir, &name)
                .await
                .map(|_| ())
                .map_err(|e| (e.to_string(), e.state()))
        } else {
            switchboard_sync::test_account(&state.data_dir, &name)
                .await
                .map(|_| ())
                .map_err(|e| (e.to_string(), e.state()))
        };
        if let Err((detail, code)) = tested {
            state
                .with_store(move |s| {
                    let install_id = s.install_id()?;
                    s.remove_account(&name)?;
                    let _ = delete_password(&install_id, &name);
                    Ok(())
                })
                .await?;
            let fingerprint = fingerprint_in(&detail);
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(crate::openapi::AccountTestFailure {
                    error: code.to_string(),
                    detail,
                    fingerprint,
                }),
            )
                .into_response());
        }
    }
    state.wake_sync.notify_waiters();
    Ok((StatusCode::CREATED, Json(account)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchAccountBody {
    #[serde(flatten)]
    patch: AccountPatch,
    password: Option<String>,
}

#[utoipa::path(patch, path = "/api/accounts/{name}", params(("name" = String, Path)), request_body = switchboard_store::AccountPatch,
    responses((status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 200, body = switchboard_store::Account), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// Changes an account's settings or password.
pub async fn patch_account(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("changing an account")?;
    let b: PatchAccountBody = body(b)?;
    let mut patch = b.patch;
    if let Some(Some(pin)) = &patch.trust_cert {
        let normal = switchboard_sync::tls::normalize_pin(pin).ok_or_else(|| {
            ApiError::bad_request(format!("'trust_cert' '{pin}' is not a SHA-256 fingerprint"))
        })?;
        patch.trust_cert = Some(Some(normal));
    }
    let password = b.password.map(Secret::new);
    let account = state
        .with_store(move |s| {
            // An XMPP account's login name is its address: checked and normalised as on adding.
            if let Some(u) = &patch.username {
                if s.account(&name)?
                    .is_some_and(|a| a.kind == AccountKind::Xmpp)
                {
                    let jid = switchboard_im::jid::parse_bare(u, "username")
                        .map_err(|e| ApiError::bad_request(e.to_string()))?;
                    patch.username = Some(jid.to_string());
                }
            }
            let account = s.update_account(&name, &patch)?;
            if let Some(p) = password {
                store_password(&s.install_id()?, &account.name, &p).map_err(|e| {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "keyring_unavailable",
                        e.to_string(),
                    )
                })?;
            }
            Ok(account)
        })
        .await?;
    state.wake_sync.notify_waiters();
    Ok(Json(account).into_response())
}

#[utoipa::path(delete, path = "/api/accounts/{name}", params(("name" = String, Path)),
    responses((status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 204, description = "Removed with its keyring entry; the server is untouched"), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// Removes an account and the messages that came only through it.
pub async fn delete_account(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("removing an account")?;
    state
        .with_store(move |s| {
            let install_id = s.install_id()?;
            let account = s.remove_account(&name)?;
            let _ = delete_password(&install_id, &account.name);
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Content types passed through to the browser: a plain `type/subtype` only; anything odd is
/// served as bytes. Active types are never rendered inline (the disposition is `attachment`).
fn safe_content_type(ct: &str) -> String {
    let ok = ct.len() < 100
        && ct.split_once('/').is_some_and(|(a, b)| {
            let token = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
            };
            token(a) && token(b)
        });
    if ok {
        ct.to_ascii_lowercase()
    } else {
        "application/octet-stream".into()
    }
}

/// `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266).
fn content_disposition(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
        .collect();
    let clean = if clean.trim().is_empty() {
        "attachment".to_string()
    } else {
        clean
    };
    let ascii: String = clean
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '"' && c != '%' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in clean.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[utoipa::path(get, path = "/api/messages/{id}/attachments/{index}", params(("id" = i64, Path, minimum = 1), ("index" = u32, Path)),
    responses((status = 200, description = "The decoded attachment", content_type = "application/octet-stream", body = Vec<u8>), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// One attachment, decoded, as a download.
pub async fn get_attachment(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((id, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let index: u32 = crate::api::whole_number(&index)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request(format!("'{index}' is not an attachment index")))?;
    let raw = state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            Ok(s.raw(id)?)
        })
        .await?;
    let (meta, bytes) =
        tokio::task::spawn_blocking(move || switchboard_model::attachment_body(&raw, index))
            .await
            .map_err(|e| ApiError::internal(&e.to_string()))?
            .ok_or_else(|| {
                ApiError::not_found(format!("message {id} has no attachment {index}"))
            })?;
    let name = meta
        .filename
        .clone()
        .unwrap_or_else(|| format!("attachment-{index}"));
    Ok((
        [
            (CONTENT_TYPE, safe_content_type(&meta.content_type)),
            (CONTENT_DISPOSITION, content_disposition(&name)),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_safe() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let d = content_disposition("../../etc/pa\"ss\r\nX: y.txt");
        assert!(
            !d.contains('\r') && !d.contains('\n') && !d.contains("../"),
            "{d}"
        );
        assert!(content_disposition("Résumé.pdf").contains("filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"));
        assert!(content_disposition("").contains("filename=\"attachment\""));
    }

    #[test]
    fn content_types_are_checked() {
        assert_eq!(safe_content_type("image/PNG"), "image/png");
        assert_eq!(
            safe_content_type("text/html; charset=x"),
            "application/octet-stream"
        );
        assert_eq!(safe_content_type("garbage"), "application/octet-stream");
    }

    #[test]
    fn finds_the_fingerprint_in_a_tls_error() {
        let fp = "ab".repeat(32);
        assert_eq!(
            fingerprint_in(&format!("not trusted; its SHA-256 fingerprint is {fp}. If")),
            Some(fp)
        );
        assert_eq!(fingerprint_in("login failed"), None);
    }
}
