//! Bearer tokens. A token is 32 random bytes shown once; the store keeps its SHA-256. Valid
//! token hashes are cached in memory (reloaded whenever the database changes), so checking a
//! request costs no SQLite read.

use std::collections::HashMap;
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
    create_token_for(store, name, None)
}

/// Creates a token acting for a household member (`None`: the store's own person).
pub fn create_token_for(
    store: &Store,
    name: &str,
    owner: Option<&str>,
) -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Invalid {
        field: "token",
        detail: format!("no secure random source: {e}"),
    })?;
    let token = format!("sb_{}", hex::encode(bytes));
    store.add_token_for(name, &hash_token(&token), owner)?;
    Ok(token)
}

/// Who is asking: a household member (`owner`), or the store's own person (`None`: the
/// desktop session and tokens without an owner), who sees everything.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub owner: Option<Arc<str>>,
}

impl Caller {
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// A household member reaches only messages of their accounts; to them any other message
    /// does not exist (404, so ids of others' mail are not confirmed).
    pub fn check_message(&self, store: &Store, id: i64) -> Result<(), ApiError> {
        match self.owner() {
            Some(o) if !store.message_owned_by(id, o)? => {
                Err(ApiError::not_found(format!("no message {id}")))
            }
            _ => Ok(()),
        }
    }

    /// Accounts and sync are managed by the store's own person, not by household members.
    pub fn require_store_owner(&self, what: &str) -> Result<(), ApiError> {
        match self.owner() {
            Some(o) => Err(ApiError::forbidden(format!(
                "{what} is for the store's owner; this token acts for '{o}'"
            ))),
            None => Ok(()),
        }
    }

    /// Whether this caller may see an account with this owner.
    pub fn sees_account(&self, account_owner: Option<&str>) -> bool {
        self.owner().is_none() || self.owner() == account_owner
    }
}

/// SHA-256 digests of the live tokens (raw bytes, so a check allocates nothing) and the owner
/// each acts for.
#[derive(Default)]
pub struct TokenCache(RwLock<HashMap<[u8; 32], Option<Arc<str>>>>);

impl TokenCache {
    pub fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let live: HashMap<[u8; 32], Option<Arc<str>>> = store
            .live_tokens()?
            .into_iter()
            .filter_map(|(hash, owner)| {
                let digest: [u8; 32] = hex::decode(hash).ok()?.try_into().ok()?;
                Some((digest, owner.map(Arc::from)))
            })
            .collect();
        if let Ok(mut map) = self.0.write() {
            *map = live;
        }
        Ok(())
    }

    fn caller(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let map = self.0.read().ok()?;
        map.get(&digest).map(|owner| Caller {
            owner: owner.clone(),
        })
    }
}

pub async fn require_token(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // The desktop window signs in with its session cookie.
    let session = req
        .headers()
        .get(axum::http::header::COOKIE)
        .and_then(|h| h.to_str().ok())
        .and_then(crate::session::from_cookie_header);
    if session.is_some_and(|id| state.sessions.is_live(id)) {
        req.extensions_mut().insert(Caller::default());
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
    let caller = state
        .tokens
        .caller(token.trim())
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

pub type SharedTokens = Arc<TokenCache>;
