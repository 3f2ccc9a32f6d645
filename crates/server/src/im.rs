//! Instant messages over HTTP: send (into the account's outbox; the running connection sends
//! it at once), conversations, one conversation, contacts with presence, chat states
//! ("typing", XEP-0085) both ways.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use switchboard_im::ImError;
use switchboard_store::{ImChatState, ImContact, ImConversation, ImMessage};

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

/// A chat state (XEP-0085).
#[derive(Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ChatStateName {
    Active,
    Composing,
    Paused,
    Inactive,
    Gone,
}

impl ChatStateName {
    const ALL: [ChatStateName; 5] = [
        ChatStateName::Active,
        ChatStateName::Composing,
        ChatStateName::Paused,
        ChatStateName::Inactive,
        ChatStateName::Gone,
    ];

    /// Read here rather than by serde, so that a bad one is named with its field.
    fn parse(s: &str) -> Result<ChatStateName, ApiError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'state' must be active, composing, paused, inactive or gone, not '{}'",
                    s.chars().take(40).collect::<String>()
                ))
            })
    }

    fn as_str(self) -> &'static str {
        match self {
            ChatStateName::Active => "active",
            ChatStateName::Composing => "composing",
            ChatStateName::Paused => "paused",
            ChatStateName::Inactive => "inactive",
            ChatStateName::Gone => "gone",
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImChatStateBody {
    /// The contact (name@domain). An address of that shape the XMPP rules refuse gets 404.
    #[schema(pattern = r#"^[^\x00-\x20@/<>'"&:]+@[^\x00-\x20@/<>'"&:]+$"#)]
    to: String,
    #[schema(value_type = ChatStateName)]
    state: String,
    /// The XMPP account; may be left out when there is only one.
    account: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImChatStateQueued {
    /// False when the contact's client never sent chat states: then none are sent to it.
    pub queued: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImChatStates {
    /// Contacts' chat states of the last two minutes.
    pub chat_states: Vec<ImChatState>,
}

/// How far back `GET /api/im/chat-states` looks: older states mean nothing now.
const CHAT_STATES_SINCE_MS: i64 = 120_000;

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

#[utoipa::path(post, path = "/api/im/chat-state", request_body = ImChatStateBody,
    responses((status = 202, description = "Queued for the connection (or not, see `queued`)", body = ImChatStateQueued), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such XMPP account, or the address is no usable XMPP address", body = crate::openapi::ErrorBody), (status = 409, description = "No XMPP account, or several and none named", body = crate::openapi::ErrorBody)))]
/// Tells a contact what this person is doing in the conversation (typing, paused...), when
/// the contact's client uses chat states.
pub async fn chat_state(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b: ImChatStateBody = crate::write::body(b)?;
    let to = address(&b.to, "the contact")?;
    let chat_state = ChatStateName::parse(&b.state)?;
    let queued = state
        .with_store(move |s| {
            check_account(s, &caller, b.account.as_deref())?;
            let a = switchboard_im::pick_account(s, b.account.as_deref())?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            Ok(s.queue_im_chat_state(a.id, &to, chat_state.as_str(), now)?)
        })
        .await?;
    // No wake-up: the connection looks at its outbox every two seconds, and waking would
    // start a mail sync pass for every keystroke pause.
    Ok((StatusCode::ACCEPTED, Json(ImChatStateQueued { queued })).into_response())
}

#[utoipa::path(get, path = "/api/im/chat-states",
    responses((status = 200, body = ImChatStates), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// What contacts' clients said they are doing (composing, paused...) in the last two minutes.
pub async fn chat_states(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let owner = caller.owner().map(String::from);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
        - CHAT_STATES_SINCE_MS;
    let chat_states = state
        .with_store(move |s| Ok(s.im_chat_states(owner.as_deref(), since)?))
        .await?;
    Ok(Json(ImChatStates { chat_states }).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_address_pattern_is_the_one_checked() {
        assert_eq!(super::ADDRESS, switchboard_im::jid::ADDRESS_PATTERN);
    }
}

#[cfg(test)]
mod chat_state_tests {
    use utoipa::OpenApi;

    #[test]
    fn the_chat_state_schema_lists_the_states() {
        let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).unwrap();
        let states = &doc["components"]["schemas"]["ChatStateName"]["enum"];
        assert_eq!(
            states,
            &serde_json::json!(["active", "composing", "paused", "inactive", "gone"]),
            "{}",
            doc["components"]["schemas"]["ChatStateName"]
        );
        for s in ["active", "composing", "paused", "inactive", "gone"] {
            assert_eq!(super::ChatStateName::parse(s).unwrap().as_str(), s);
        }
        assert!(super::ChatStateName::parse("typing").is_err());
    }
}
