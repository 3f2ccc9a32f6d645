//! The message-ID index (seed 000): the change sequence and the latest message, held in memory
//! and refreshed by a watcher thread whenever the database changes (`PRAGMA data_version`
//! moves on commits by any other connection, the sync writers and other processes included).
//! A poll is answered from memory; `ETag` is the sequence, so an unchanged poll is a 304 with
//! no body, and `?wait=N` long-polls until the sequence moves.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::Stream;
use serde::{Deserialize, Serialize};
use switchboard_store::{ChangeKind, Store};
use tokio::sync::watch;

use crate::auth::{Caller, SharedTokens};
use crate::openapi::{ChangedMessage, ChangesBody};
use crate::{ApiError, AppState, ServeError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Latest {
    pub id: i64,
    pub size: i64,
    pub from: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IndexSnapshot {
    pub seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<Latest>,
}

/// The index for everybody: the global sequence, and one per household member (owner) that
/// moves only with changes to messages of their accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexState {
    pub global: IndexSnapshot,
    pub owners: HashMap<String, IndexSnapshot>,
}

const NOBODY: IndexSnapshot = IndexSnapshot {
    seq: 0,
    latest: None,
};

impl IndexState {
    /// What `owner` (or, for `None`, the store's own person) sees.
    pub fn view(&self, owner: Option<&str>) -> &IndexSnapshot {
        match owner {
            None => &self.global,
            Some(o) => self.owners.get(o).unwrap_or(&NOBODY),
        }
    }

    /// Moves the owners' sequences for changes attributed to them (see
    /// `Store::change_owners_since`); a change nobody can be named for moves everyone's.
    /// Returns the owners whose sequence moved.
    fn attribute(&mut self, changes: &[(i64, Vec<Option<String>>)]) -> Vec<String> {
        let mut moved = Vec::new();
        for (seq, owners) in changes {
            for (name, snap) in self.owners.iter_mut() {
                let touched =
                    owners.is_empty() || owners.iter().any(|o| o.as_deref() == Some(name.as_str()));
                if touched && snap.seq < *seq {
                    snap.seq = *seq;
                    if !moved.contains(name) {
                        moved.push(name.clone());
                    }
                }
            }
        }
        moved
    }
}

const WATCH_EVERY: Duration = Duration::from_millis(50);
const MAX_WAIT: u64 = 60;

type StoreResult<T> = Result<T, switchboard_store::StoreError>;

fn latest(found: Option<(i64, i64, String)>) -> Option<Latest> {
    found.map(|(id, size, from)| Latest { id, size, from })
}

/// Brings `state` up to date with the store. An owner seen for the first time starts at the
/// global sequence: after a restart that may move their ETag once without a change of theirs
/// (one cheap `/api/changes` call), never the other way round.
fn refresh(store: &Store, state: &mut IndexState) -> StoreResult<()> {
    let before = state.global.seq;
    state.global = IndexSnapshot {
        seq: store.change_seq()?,
        latest: latest(store.latest_message()?),
    };
    let owners = store.owners()?;
    state.owners.retain(|o, _| owners.contains(o));
    let mut moved = Vec::new();
    for o in owners {
        if !state.owners.contains_key(&o) {
            state.owners.insert(
                o.clone(),
                IndexSnapshot {
                    seq: state.global.seq,
                    latest: None,
                },
            );
            moved.push(o);
        }
    }
    let mut since = before;
    while since < state.global.seq {
        let batch = store.change_owners_since(since, 5000)?;
        let Some(last) = batch.last().map(|(seq, _)| *seq) else {
            break;
        };
        for o in state.attribute(&batch) {
            if !moved.contains(&o) {
                moved.push(o);
            }
        }
        since = last;
    }
    for o in moved {
        let found = latest(store.latest_message_for(&o)?);
        if let Some(snap) = state.owners.get_mut(&o) {
            snap.latest = found;
        }
    }
    Ok(())
}

pub fn spawn_watcher(
    db: PathBuf,
    tokens: SharedTokens,
) -> Result<watch::Receiver<IndexState>, ServeError> {
    let store = Store::open(&db)?;
    let mut state = IndexState::default();
    refresh(&store, &mut state)?;
    let (tx, rx) = watch::channel(state.clone());
    std::thread::Builder::new()
        .name("index-watcher".into())
        .spawn(move || {
            let mut last = store.data_version().unwrap_or(0);
            loop {
                std::thread::sleep(WATCH_EVERY);
                if tx.is_closed() {
                    return;
                }
                let Ok(now) = store.data_version() else {
                    continue;
                };
                if now == last {
                    continue;
                }
                let _ = tokens.reload(&store);
                if refresh(&store, &mut state).is_err() {
                    // Busy or failing store: try again on the next tick.
                    continue;
                }
                last = now;
                tx.send_if_modified(|cur| {
                    let changed = *cur != state;
                    if changed {
                        *cur = state.clone();
                    }
                    changed
                });
            }
        })?;
    Ok(rx)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndexQuery {
    /// Long-poll: wait up to this many seconds (at most 60) for the sequence to move past If-None-Match.
    #[param(maximum = 60)]
    wait: Option<u64>,
}

fn etag(seq: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{seq}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The sequence in `If-None-Match`, read straight from the request (the `HeaderMap`
/// extractor would copy every header on every poll).
pub struct IfNoneMatch(Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(IfNoneMatch(parts.headers.get(IF_NONE_MATCH).and_then(
            |v| {
                v.to_str()
                    .ok()?
                    .trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .parse()
                    .ok()
            },
        )))
    }
}

#[utoipa::path(get, path = "/api/index", params(IndexQuery, ("If-None-Match" = Option<String>, Header, description = "The last ETag seen")),
    responses((status = 200, body = IndexSnapshot, headers(("ETag" = String))), (status = 304, description = "Nothing changed"), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Is there anything new? Answered from memory; ETag is the change sequence.
pub async fn get_index(
    State(state): State<Arc<AppState>>,
    q: Result<Query<IndexQuery>, axum::extract::rejection::QueryRejection>,
    IfNoneMatch(known): IfNoneMatch,
    Extension(caller): Extension<Caller>,
) -> Response {
    let owner = caller.owner();
    let q = match crate::api::query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    if q.wait.is_some_and(|w| w > MAX_WAIT) {
        return ApiError::bad_request(format!("'wait' is at most {MAX_WAIT} seconds"))
            .into_response();
    }
    let mut rx = state.index.clone();
    if let (Some(wait), Some(known)) = (q.wait, known) {
        if rx.borrow().view(owner).seq == known {
            let _ = tokio::time::timeout(Duration::from_secs(wait.min(MAX_WAIT)), async {
                while rx.changed().await.is_ok() {
                    if rx.borrow().view(owner).seq != known {
                        break;
                    }
                }
            })
            .await;
        }
    }
    let seq = rx.borrow().view(owner).seq;
    if known == Some(seq) {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag(seq))]).into_response();
    }
    let snap = rx.borrow().view(owner).clone();
    (
        [
            (ETAG, etag(snap.seq)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        axum::Json(snap),
    )
        .into_response()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The last sequence the client saw.
    #[param(value_type = i64, minimum = 0)]
    since: Option<String>,
    /// 1 to 5000 (default 500).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 5000)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/changes", params(ChangesQuery),
    responses((status = 200, body = crate::openapi::ChangesBody), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// What was added, removed and updated since a sequence.
pub async fn get_changes(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let owner = caller.owner;
    let owner_seq = state.index.borrow().view(owner.as_deref()).seq;
    let q = crate::api::query(q)?;
    let since_text = q
        .since
        .ok_or_else(|| ApiError::bad_request("'since' (a sequence number) is required"))?;
    let since: i64 = since_text
        .parse()
        .ok()
        .filter(|s: &i64| *s >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "'since' must be a sequence number, not '{since_text}'"
            ))
        })?;
    let limit = match q.limit {
        None => 500,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=5000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'limit' must be a number from 1 to 5000, not '{l}'"
                ))
            })?,
    };
    let body = state
        .with_store(move |store| {
            let seq = store.change_seq()?;
            let oldest = store.oldest_change_seq()?;
            if since > seq || (since > 0 && oldest > 0 && since < oldest - 1) {
                return Ok(ChangesBody {
                    seq,
                    more: false,
                    resync: true,
                    added: vec![],
                    updated: vec![],
                    removed: vec![],
                });
            }
            let (changes, last, more) = match &owner {
                None => {
                    let changes = store.changes_since(since, limit)?;
                    let last = changes.last().map(|c| c.seq).unwrap_or(seq.max(since));
                    (changes, last, last < seq)
                }
                Some(o) => {
                    let changes = store.changes_since_for(since, limit, o)?;
                    let full = changes.len() >= limit;
                    let last = changes
                        .last()
                        .map(|c| c.seq)
                        .unwrap_or(owner_seq.max(since));
                    (changes, last, full)
                }
            };
            let mut added = Vec::new();
            let mut updated = Vec::new();
            let mut removed = Vec::new();
            for c in &changes {
                match c.kind {
                    ChangeKind::Removed => removed.push(c.message_id),
                    kind => {
                        let Ok(m) = store.message(c.message_id) else {
                            // Gone again later in the log; its removal follows.
                            continue;
                        };
                        let item = ChangedMessage {
                            id: m.summary.id,
                            size: m.summary.size,
                            from: m.summary.from.map(|a| a.email),
                            subject: m.summary.subject,
                            date: m.summary.date,
                        };
                        if kind == ChangeKind::Added {
                            added.push(item)
                        } else {
                            updated.push(item)
                        }
                    }
                }
            }
            Ok(ChangesBody {
                seq: last,
                more,
                resync: false,
                added,
                updated,
                removed,
            })
        })
        .await?;
    Ok(axum::Json(body).into_response())
}

pub async fn events(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.index.clone();
    let owner = caller.owner;
    let stream = futures::stream::unfold((rx, None), move |(mut rx, sent)| {
        let owner = owner.clone();
        async move {
            loop {
                if sent.is_some() && rx.changed().await.is_err() {
                    return None;
                }
                let seq = rx.borrow_and_update().view(owner.as_deref()).seq;
                if sent == Some(seq) {
                    continue;
                }
                let event = Event::default()
                    .event("index")
                    .data(format!("{{\"seq\":{seq}}}"));
                return Some((Ok(event), (rx, Some(seq))));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(owners: &[(&str, i64)]) -> IndexState {
        IndexState {
            global: IndexSnapshot::default(),
            owners: owners
                .iter()
                .map(|(o, seq)| {
                    (
                        o.to_string(),
                        IndexSnapshot {
                            seq: *seq,
                            latest: None,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn changes_move_only_their_owners_sequence() {
        let mut s = state(&[("alice", 3), ("bob", 3)]);
        let moved = s.attribute(&[
            (4, vec![Some("alice".into())]),
            (5, vec![None]),
            (6, vec![Some("bob".into()), Some("alice".into())]),
            (7, vec![Some("alice".into())]),
        ]);
        assert_eq!(s.view(Some("alice")).seq, 7);
        assert_eq!(s.view(Some("bob")).seq, 6);
        assert_eq!(moved, vec!["alice".to_string(), "bob".to_string()]);
    }

    #[test]
    fn an_unattributable_change_moves_everyone() {
        let mut s = state(&[("alice", 3), ("bob", 2)]);
        s.attribute(&[(9, vec![])]);
        assert_eq!(s.view(Some("alice")).seq, 9);
        assert_eq!(s.view(Some("bob")).seq, 9);
    }

    #[test]
    fn the_store_owner_sees_the_global_index_and_strangers_nothing() {
        let mut s = state(&[("alice", 3)]);
        s.global.seq = 12;
        assert_eq!(s.view(None).seq, 12);
        assert_eq!(s.view(Some("mallory")), &NOBODY);
    }
}
