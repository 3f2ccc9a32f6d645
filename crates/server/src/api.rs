//! Reading the consolidated inbox over HTTP.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_store::InboxQuery;

use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    account: Option<String>,
    mailbox: Option<String>,
    unread: Option<bool>,
    flagged: Option<bool>,
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
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("'{id}' is not a message id")))
}

/// Query-string errors as our JSON errors, naming the parameter.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

pub async fn list_messages(
    State(state): State<Arc<AppState>>,
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
    };
    let mut list = state.with_store(move |s| Ok(s.inbox(&query)?)).await?;
    let next = if list.len() > limit {
        list.truncate(limit);
        list.last().map(|m| format!("{}.{}", m.date_unix, m.id))
    } else {
        None
    };
    Ok(axum::Json(serde_json::json!({"messages": list, "next_cursor": next})).into_response())
}

pub async fn get_message(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let m = state.with_store(move |s| Ok(s.message(id)?)).await?;
    Ok(axum::Json(m).into_response())
}

pub async fn get_raw(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let raw = state.with_store(move |s| Ok(s.raw(id)?)).await?;
    Ok((
        [
            (CONTENT_TYPE, "message/rfc822".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"message-{id}.eml\""),
            ),
        ],
        raw,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<String>,
}

pub async fn search(
    State(state): State<Arc<AppState>>,
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
        .with_store(move |s| Ok(s.search(&text, limit)?))
        .await?;
    Ok(axum::Json(serde_json::json!({"messages": list})).into_response())
}

pub async fn list_accounts(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let list = state.with_store(|s| Ok(s.accounts()?)).await?;
    Ok(axum::Json(list).into_response())
}
