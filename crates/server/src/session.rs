//! The local desktop's sign-in: `serve` makes a per-launch secret; exchanging it once (GET
//! /login?secret=… or POST /api/session) yields an HttpOnly, SameSite=Strict session cookie.
//! The secret cannot be used twice; sessions live in memory and end with the process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

pub const COOKIE: &str = "sb_session";

#[derive(Default)]
pub struct Sessions {
    /// SHA-256 of the launch secret until it is used.
    launch: Mutex<Option<[u8; 32]>>,
    live: Mutex<HashSet<String>>,
}

pub fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)
        .map_err(|e| ApiError::internal(&format!("no secure random source: {e}")))?;
    Ok(hex::encode(buf))
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equal-length comparison whose time does not depend on where the inputs differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    pub fn with_launch_secret(secret: &str) -> Sessions {
        Sessions {
            launch: Mutex::new(Some(digest(secret))),
            live: Mutex::new(HashSet::new()),
        }
    }

    fn exchange(&self, secret: &str) -> Result<String, ApiError> {
        let mut launch = self
            .launch
            .lock()
            .map_err(|_| ApiError::internal("session lock poisoned"))?;
        let ok = launch.as_ref().is_some_and(|h| same(h, &digest(secret)));
        if !ok {
            return Err(ApiError::unauthorized(
                "the launch secret is wrong or was already used",
            ));
        }
        *launch = None;
        let id = random_hex(32)?;
        self.live
            .lock()
            .map_err(|_| ApiError::internal("session lock poisoned"))?
            .insert(hex::encode(digest(&id)));
        Ok(id)
    }

    pub fn is_live(&self, id: &str) -> bool {
        self.live
            .lock()
            .map(|l| l.contains(&hex::encode(digest(id))))
            .unwrap_or(false)
    }
}

fn cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

#[derive(Deserialize)]
pub struct SecretBody {
    secret: String,
}

pub async fn post_session(
    State(state): State<Arc<AppState>>,
    b: Result<Json<SecretBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) =
        b.map_err(|e| ApiError::bad_request(format!("invalid JSON body: {}", e.body_text())))?;
    let id = state.sessions.exchange(&b.secret)?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie(&id))]).into_response())
}

#[derive(Deserialize)]
pub struct LoginQuery {
    secret: Option<String>,
    /// Where to go once signed in (a path on this server, e.g. the desktop window's last view).
    next: Option<String>,
}

/// A path on this server: `/…`, not `//host` or `/\host` (which browsers treat as another
/// origin), and no control characters. Anything else would make `/login` an open redirect.
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && !p.chars().any(|c| c.is_control())
        && p.len() <= 2000
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let secret = q
        .secret
        .ok_or_else(|| ApiError::bad_request("'secret' is required"))?;
    let next = match q.next {
        Some(n) if !is_local_path(&n) => {
            return Err(ApiError::bad_request(
                "'next' must be a path on this server, starting with one '/'",
            ))
        }
        Some(n) => n,
        None => "/".to_string(),
    };
    let id = state.sessions.exchange(&secret)?;
    Ok((
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, cookie(&id)), (LOCATION, next)],
    )
        .into_response())
}

/// The session id from a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|kv| {
        kv.strip_prefix(COOKIE)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_secret_works_once() {
        let s = Sessions::with_launch_secret("s3cret");
        assert!(s.exchange("wrong").is_err());
        let id = s.exchange("s3cret").expect("first use");
        assert!(s.is_live(&id));
        assert!(s.exchange("s3cret").is_err(), "second use");
        assert!(!s.is_live("forged"));
    }

    #[test]
    fn next_stays_on_this_server() {
        assert!(is_local_path("/"));
        assert!(is_local_path("/messages/42?view=unread#top"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("/a\r\nSet-Cookie: x=y"));
        assert!(!is_local_path(""));
    }

    #[test]
    fn reads_the_cookie() {
        assert_eq!(from_cookie_header("a=b; sb_session=xyz; c=d"), Some("xyz"));
        assert_eq!(from_cookie_header("sb_sessionx=1"), None);
    }
}
