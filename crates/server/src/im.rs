//! Instant messages over HTTP: send (into the account's outbox; the running connection sends
//! it at once), conversations, one conversation, contacts with presence.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use switchboard_im::ImError;
use switchboard_store::{ImContact, ImConversation, ImMessage};

use crate::api::query;
use crate::{ApiError, AppState, Caller};

/// The shape of an address (keep equal to `switchboard_im::jid::ADDRESS_PATTERN`; a test
/// checks).
#[cfg(test)]
const ADDRESS: &str = r#"^[^\x00-\x20@/<>'"&:]+@[^\x00-\x20@/<>'"&:]+$"#;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImSendBody {
    /// The recipient's address (name@domain). An address of that shape the XMPP rules refuse
    /// gets 404.
    #[schema(pattern = r#"^[^\x00-\x20@/<>'"&:]+@[^\x00-\x20@/<>'"&:]+$"#)]
    to: String,
    /// The text: more than spaces, at most 16,384 characters. Characters XML cannot carry
    /// are sent as U+FFFD.
    #[schema(min_length = 1, max_length = 16384, pattern = r"[^\x00-\x20]")]
    text: String,
    /// The XMPP account to send from; may be left out when there is only one.
    account: Option<String>,
    /// A conversation thread id to carry (XEP-0201).
    #[schema(max_length = 256)]
    thread: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImQueued {
    /// The message as stored: `state` is `queued` until the connection sends it.
    pub message: ImMessage,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImConversations {
    pub conversations: Vec<ImConversation>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImMessages {
    /// Newest first.
    pub messages: Vec<ImMessage>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImContacts {
    pub contacts: Vec<ImContact>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImListQuery {
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Only messages older than this message id (paging back).
    #[param(minimum = 1)]
    before: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImConversationsQuery {
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// An address from the API: 400 when it does not have the documented shape, 404 when it has
/// but is no usable XMPP address (there is no such conversation or recipient).
fn address(s: &str, what: &'static str) -> Result<String, ApiError> {
    if !switchboard_im::jid::looks_like_address(s) {
        return Err(ApiError::bad_request(format!(
            "{what} '{}' is not an address of the form name@domain",
            s.chars().take(80).collect::<String>()
        )));
    }
    switchboard_im::jid::parse_bare(s, what)
        .map(|j| j.to_string())
        .map_err(|e| ApiError::not_found(e.to_string()))
}

fn limit(v: Option<u32>) -> Result<usize, ApiError> {
    match v {
        None => Ok(50),
        Some(n @ 1..=500) => Ok(n as usize),
        Some(n) => Err(ApiError::bad_request(format!(
            "'limit' must be 1 to 500, not {n}"
        ))),
    }
}

impl From<ImError> for ApiError {
    fn from(e: ImError) -> ApiError {
        match e {
            ImError::Store(s) => s.into(),
            ImError::NoAccount(_) => ApiError::not_found(e.to_string()),
            ImError::BadJid { .. } | ImError::TooLong { .. } | ImError::Empty => {
                ApiError::bad_request(e.to_string())
            }
            // No XMPP account, or several and none named: the store's state, not the request.
            ImError::Choose(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            other => ApiError::new(StatusCode::BAD_GATEWAY, "im_error", other.to_string()),
        }
    }
}

/// A household member may send only from their own accounts.
fn check_account(
    store: &switchboard_store::Store,
    caller: &Caller,
    account: Option<&str>,
) -> Result<(), ApiError> {
    if caller.owner().is_none() {
        return Ok(());
    }
    let a = switchboard_im::pick_account(store, account)?;
    if !caller.sees_account(a.owner.as_deref()) {
        return Err(ApiError::not_found(format!(
            "no XMPP account named '{}'",
            a.name
        )));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/im/send", request_body = ImSendBody,
    responses((status = 202, description = "In the outbox; the connection sends it", body = ImQueued), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such XMPP account, or the address is no usable XMPP address", body = crate::openapi::ErrorBody), (status = 409, description = "No XMPP account, or several and none named", body = crate::openapi::ErrorBody)))]
/// Sends an instant message from an XMPP account (or the only one).
pub async fn send(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b: ImSendBody = crate::write::body(b)?;
    let to = address(&b.to, "the recipient")?;
    switchboard_im::check_text(&b.text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if b.thread.as_ref().is_some_and(|t| t.chars().count() > 256) {
        return Err(ApiError::bad_request(
            "'thread' is longer than 256 characters",
        ));
    }
    let message = state
        .with_store(move |s| {
            check_account(s, &caller, b.account.as_deref())?;
            Ok(switchboard_im::queue_message(
                s,
                b.account.as_deref(),
                &to,
                &b.text,
                b.thread.as_deref(),
            )?)
        })
        .await?;
    // The account's connection waits on this.
    state.wake_sync.notify_waiters();
    Ok((StatusCode::ACCEPTED, Json(ImQueued { message })).into_response())
}

#[utoipa::path(get, path = "/api/im/conversations", params(ImConversationsQuery),
    responses((status = 200, body = ImConversations), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Conversations, one per account and contact, the most recent first.
pub async fn conversations(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ImConversationsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let owner = caller.owner().map(String::from);
    let conversations = state
        .with_store(move |s| Ok(s.im_conversations(owner.as_deref(), limit)?))
        .await?;
    Ok(Json(ImConversations { conversations }).into_response())
}

#[utoipa::path(get, path = "/api/im/conversations/{account}/{contact}",
    params(("account" = String, Path), ("contact" = String, Path, pattern = r#"^[^\x00-\x20@/<>'"&:]+@[^\x00-\x20@/<>'"&:]+$"#), ImListQuery),
    responses((status = 200, body = ImMessages), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such account, or the contact is no usable XMPP address", body = crate::openapi::ErrorBody)))]
/// The messages of one conversation, newest first.
pub async fn conversation(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((account, contact)): Path<(String, String)>,
    q: Result<Query<ImListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let contact = address(&contact, "the contact")?;
    let before = match q.before {
        Some(n) if n < 1 => {
            return Err(ApiError::bad_request(format!(
                "'before' must be a message id (1 or more), not {n}"
            )))
        }
        other => other,
    };
    let messages = state
        .with_store(move |s| {
            let a = s
                .account(&account)?
                .filter(|a| caller.sees_account(a.owner.as_deref()))
                .ok_or_else(|| ApiError::not_found(format!("no account named '{account}'")))?;
            Ok(s.im_conversation(&a.name, &contact, limit, before)?)
        })
        .await?;
    Ok(Json(ImMessages { messages }).into_response())
}

#[utoipa::path(get, path = "/api/im/contacts",
    responses((status = 200, body = ImContacts), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Contacts of every XMPP account with their presence.
pub async fn contacts(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let owner = caller.owner().map(String::from);
    let contacts = state
        .with_store(move |s| Ok(s.im_contacts(None, owner.as_deref())?))
        .await?;
    Ok(Json(ImContacts { contacts }).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_address_pattern_is_the_one_checked() {
        assert_eq!(super::ADDRESS, switchboard_im::jid::ADDRESS_PATTERN);
    }
}
