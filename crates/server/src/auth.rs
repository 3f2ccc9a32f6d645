//! Bearer tokens. A token is 32 random bytes shown once; the store keeps its SHA-256. Valid
//! token hashes are cached in memory (reloaded whenever the database changes), so checking a
//! request costs no SQLite read.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use switchboard_store::{Store, StoreError};

use crate::{ApiError, AppState};

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token named `name`, stores its hash and returns the token (shown once).
pub fn create_token(store: &Store, name: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Invalid {
        field: "token",
        detail: format!("no secure random source: {e}"),
    })?;
    let token = format!("sb_{}", hex::encode(bytes));
    store.add_token(name, &hash_token(&token))?;
    Ok(token)
}

/// SHA-256 digests of the live tokens, kept as raw bytes so a check allocates nothing.
#[derive(Default)]
pub struct TokenCache(RwLock<HashSet<[u8; 32]>>);

impl TokenCache {
    pub fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let live: HashSet<[u8; 32]> = store
            .live_token_hashes()?
            .into_iter()
            .filter_map(|(hash, _name)| hex::decode(hash).ok()?.try_into().ok())
            .collect();
        if let Ok(mut set) = self.0.write() {
            *set = live;
        }
        Ok(())
    }

    fn is_live(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.0.read().is_ok_and(|s| s.contains(&digest))
    }
}

pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // The desktop window signs in with its session cookie.
    let session = req
        .headers()
        .get(axum::http::header::COOKIE)
        .and_then(|h| h.to_str().ok())
        .and_then(crate::session::from_cookie_header);
    if session.is_some_and(|id| state.sessions.is_live(id)) {
        return Ok(next.run(req).await);
    }
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let token = header.strip_prefix("Bearer ").ok_or_else(|| {
        ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")
    })?;
    // Compare hashes, not tokens: the lookup never depends on how much of a guess was right.
    if !state.tokens.is_live(token.trim()) {
        return Err(ApiError::unauthorized("unknown or revoked token"));
    }
    Ok(next.run(req).await)
}

pub type SharedTokens = Arc<TokenCache>;
