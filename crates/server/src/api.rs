//! Reading the consolidated inbox over HTTP.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use switchboard_model::sanitize::{sanitize_html, RemoteContent};
use switchboard_store::{InboxQuery, MessageDetail};

use crate::{ApiError, AppState, Caller};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^-?[0-9]{1,18}\.[0-9]{1,18}$")]
    cursor: Option<String>,
    /// Only messages that came through this account.
    account: Option<String>,
    mailbox: Option<String>,
    unread: Option<bool>,
    flagged: Option<bool>,
    /// `mail` or `im`: only messages that came by this channel.
    #[param(value_type = Option<String>, pattern = "^(mail|im)$")]
    channel: Option<String>,
}

fn parse_limit(v: Option<String>, default: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'limit' must be a number from 1 to 1000, not '{s}'"
                ))
            }),
    }
}

/// Cursors are "<sort_date>.<id>" of the last message of the previous page.
fn parse_cursor(c: &str) -> Result<(i64, i64), ApiError> {
    let bad =
        || ApiError::bad_request(format!("'cursor' '{c}' is not a cursor this server issued"));
    let (date, id) = c.split_once('.').ok_or_else(bad)?;
    Ok((
        date.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

pub(crate) fn parse_id(id: &str) -> Result<i64, ApiError> {
    whole_number(id)
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("'{id}' is not a message id")))
}

/// A whole number in a path segment. JSON Schema counts `2300.0` as the integer 2300, so
/// clients generated from the API description may write it that way.
pub(crate) fn whole_number(s: &str) -> Option<i64> {
    let digits = match s.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return None,
        None => s,
    };
    digits.parse().ok()
}

/// Query-string errors as our JSON errors, naming the parameter.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

#[utoipa::path(get, path = "/api/messages", params(ListQuery),
    responses((status = 200, body = crate::openapi::MessagePage), (status = 404, description = "No such account", body = crate::openapi::ErrorBody), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// The consolidated inbox, newest first, in pages.
pub async fn list_messages(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let limit = parse_limit(q.limit, 50)?;
    let before = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let query = InboxQuery {
        limit: limit + 1,
        account: q.account,
        mailbox: q.mailbox,
        unread_only: q.unread.unwrap_or(false),
        flagged_only: q.flagged.unwrap_or(false),
        before,
        owner: caller.owner().map(String::from),
        channel: q
            .channel
            .as_deref()
            .map(|c| {
                c.parse().map_err(|_| {
                    ApiError::bad_request(format!("'channel' must be 'mail' or 'im', not '{c}'"))
                })
            })
            .transpose()?,
    };
    let mut list = state.with_store(move |s| Ok(s.inbox(&query)?)).await?;
    let next = if list.len() > limit {
        list.truncate(limit);
        list.last().map(|m| format!("{}.{}", m.date_unix, m.id))
    } else {
        None
    };
    Ok(axum::Json(crate::openapi::MessagePage {
        messages: list,
        next_cursor: next,
    })
    .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// `block` (the default) removes remote images, backgrounds and style URLs from
    /// `html_body` and counts them in `remote_blocked`; `allow` keeps them. Scripts, event
    /// handlers, forms and the like are removed either way.
    #[param(value_type = Option<String>, pattern = "^(allow|block)$")]
    remote: Option<String>,
}

fn parse_remote(v: Option<String>) -> Result<RemoteContent, ApiError> {
    match v.as_deref() {
        None | Some("block") => Ok(RemoteContent::Block),
        Some("allow") => Ok(RemoteContent::Allow),
        Some(other) => Err(ApiError::bad_request(format!(
            "'remote' must be 'allow' or 'block', not '{other}'"
        ))),
    }
}

/// One message as the API shows it. `html_body` is sanitised (see `remote`); the HTML as
/// sent is only in the raw source (`/api/messages/{id}/raw`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: MessageDetail,
    /// Remote images, backgrounds and style URLs removed from `html_body`; always 0 with
    /// `remote=allow`.
    pub remote_blocked: usize,
}

impl MessageView {
    pub fn new(mut message: MessageDetail, remote: RemoteContent) -> MessageView {
        let mut remote_blocked = 0;
        if let Some(html) = message.html_body.take() {
            let clean = sanitize_html(&html, remote);
            remote_blocked = clean.remote_blocked;
            message.html_body = Some(clean.html);
        }
        MessageView {
            message,
            remote_blocked,
        }
    }
}

#[utoipa::path(get, path = "/api/messages/{id}", params(("id" = i64, Path, minimum = 1), MessageQuery),
    responses((status = 200, body = MessageView), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such message", body = crate::openapi::ErrorBody)))]
/// One message with its bodies (the HTML sanitised), attachments and sources.
pub async fn get_message(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<MessageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let remote = parse_remote(query(q)?.remote)?;
    let m = state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            Ok(s.message(id)?)
        })
        .await?;
    // Sanitising is CPU work on hostile input: off the async threads, outside the store lock.
    let view = tokio::task::spawn_blocking(move || MessageView::new(m, remote))
        .await
        .map_err(|e| ApiError::internal(&format!("sanitising failed: {e}")))?;
    Ok(axum::Json(view).into_response())
}

#[utoipa::path(get, path = "/api/messages/{id}/raw", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "The message as received", content_type = "message/rfc822", body = Vec<u8>), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such message", body = crate::openapi::ErrorBody)))]
/// The message source exactly as received.
pub async fn get_raw(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let raw = state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            Ok(s.raw(id)?)
        })
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "message/rfc822".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"message-{id}.eml\""),
            ),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        raw,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words to find (at most 1000 characters).
    #[param(required = true, max_length = 1000)]
    q: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/search", params(SearchQuery),
    responses((status = 200, body = crate::openapi::MessageList), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Full-text search over sender, recipients, subject and body.
pub async fn search(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let text =
        q.q.ok_or_else(|| ApiError::bad_request("'q' (the search text) is required"))?;
    if text.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "the search text is longer than 1000 characters",
        ));
    }
    let limit = parse_limit(q.limit, 50)?;
    let list = state
        .with_store(move |s| Ok(s.search_for(&text, limit, caller.owner())?))
        .await?;
    Ok(axum::Json(crate::openapi::MessageList { messages: list }).into_response())
}

#[utoipa::path(get, path = "/api/accounts",
    responses((status = 200, body = Vec<switchboard_store::Account>), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Accounts with their state; passwords are never part of an answer.
pub async fn list_accounts(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let mut list = state.with_store(|s| Ok(s.accounts()?)).await?;
    list.retain(|a| caller.sees_account(a.owner.as_deref()));
    Ok(axum::Json(list).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn path_numbers_may_have_a_zero_fraction() {
        assert_eq!(whole_number("2300"), Some(2300));
        assert_eq!(whole_number("2300.0"), Some(2300));
        assert_eq!(whole_number("7.000"), Some(7));
        assert_eq!(whole_number("2300.5"), None);
        assert_eq!(whole_number("2300."), None);
        assert_eq!(whole_number("1e3"), None);
        assert_eq!(whole_number(""), None);
        assert!(parse_id("0").is_err());
        assert!(parse_id("-3.0").is_err());
        assert_eq!(parse_id("12.0").unwrap(), 12);
    }

    #[test]
    fn remote_is_allow_or_block() {
        assert_eq!(parse_remote(None).unwrap(), RemoteContent::Block);
        assert_eq!(
            parse_remote(Some("block".into())).unwrap(),
            RemoteContent::Block
        );
        assert_eq!(
            parse_remote(Some("allow".into())).unwrap(),
            RemoteContent::Allow
        );
        for bad in ["", "Allow", "yes", "allow "] {
            let e = parse_remote(Some(bad.into())).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.detail.contains("'remote'"), "{}", e.detail);
        }
    }

    #[test]
    fn the_description_documents_remote_and_remote_blocked() {
        let doc = serde_json::to_value(crate::ApiDoc::openapi()).unwrap();
        let op = &doc["paths"]["/api/messages/{id}"]["get"];
        let params = op["parameters"].as_array().unwrap();
        let remote = params
            .iter()
            .find(|p| p["name"] == "remote")
            .expect("the remote parameter is described");
        assert_eq!(remote["in"], "query");
        assert_eq!(remote["required"], false);
        assert_eq!(remote["schema"]["pattern"], "^(allow|block)$");
        let body = &op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, "#/components/schemas/MessageView");
        let view = doc["components"]["schemas"]["MessageView"].to_string();
        assert!(view.contains("remote_blocked"), "{view}");
        assert!(view.contains("MessageDetail"), "{view}");
    }
}
