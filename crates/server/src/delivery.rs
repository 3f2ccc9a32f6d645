//! Sending mail and the tracker over HTTP: `POST /api/send`, a message's deliveries, dead
//! letters and the retry action, and each account's outgoing server. The delivery engine of
//! this process (see `Embedded`) notices what is queued here within a fraction of a second.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use switchboard_deliver::send::{queue_send, SendError, SendRequest};
use switchboard_store::{DeliveryState, DeliveryView, SmtpServer, StoreError, TlsMode};
use switchboard_sync::secrets::{delete_password, store_password, Secret};

use crate::api::{parse_id, query};
use crate::{ApiError, AppState, Caller};

/// A JSON object body as `T` (an array or scalar is refused, naming the problem).
fn object<T: serde::de::DeserializeOwned>(
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, ApiError> {
    let Json(v) =
        b.map_err(|e| ApiError::bad_request(format!("invalid JSON body: {}", e.body_text())))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::Invalid(m) => ApiError::bad_request(m),
        SendError::NotFound(m) => ApiError::not_found(m),
        SendError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        SendError::Compose(c) => ApiError::bad_request(c.to_string()),
        SendError::Store(s) => ApiError::from(s),
    }
}

/// Checks what the `Recipient` pattern says (letters, digits, spaces, `-`, `_` in a name;
/// a conservative address), so the API admits exactly what it documents and everything it
/// admits can be sent.
fn check_recipients(field: &str, list: &[String]) -> Result<(), ApiError> {
    fn label(l: &str) -> bool {
        (1..=32).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    }
    fn address(a: &str) -> bool {
        let Some((local, domain)) = a.split_once('@') else {
            return false;
        };
        let mut parts = local.splitn(2, '.');
        let word = |w: &str, max: usize| {
            (1..=max).contains(&w.len())
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
        };
        let local_ok =
            parts.next().is_some_and(|w| word(w, 32)) && parts.next().is_none_or(|w| word(w, 16));
        let labels: Vec<&str> = domain.split('.').collect();
        local_ok && labels.len() <= 4 && labels.iter().all(|l| label(l))
    }
    for r in list {
        let ok = match r.strip_suffix('>').and_then(|x| x.split_once(" <")) {
            Some((name, addr)) => {
                (1..=63).contains(&name.len())
                    && name.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " _-".contains(c))
                    && address(addr)
            }
            None => address(r),
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "'{field}' entry '{r}' is not an address (address@example.org or Name <address@example.org>)"
            )));
        }
    }
    Ok(())
}

/// New mail.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The account to send from (default: the first, by name, with an outgoing server).
    #[schema(pattern = r"^[A-Za-z0-9_.@-]{1,64}$")]
    account: Option<String>,
    #[schema(min_items = 1, max_items = 100, inline)]
    to: Vec<Recipient>,
    #[serde(default)]
    #[schema(max_items = 100, inline)]
    cc: Vec<Recipient>,
    #[serde(default)]
    #[schema(max_length = 998)]
    subject: String,
    #[schema(max_length = 10485760)]
    body: String,
}

/// A recipient: `address@example.org` or `Name <address@example.org>`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = r"^([A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16})?@[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?){0,3}|[A-Za-z0-9][A-Za-z0-9 _-]{0,62} <[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16})?@[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?){0,3}>)$")]
pub struct Recipient(String);

fn plain(list: Vec<Recipient>) -> Vec<String> {
    list.into_iter().map(|r| r.0).collect()
}

/// A reply: to the original's sender (Reply-To or From), or with `all` also to everyone
/// else it went to; `to` and `cc` add recipients.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// Default: the account the original came through.
    #[schema(pattern = r"^[A-Za-z0-9_.@-]{1,64}$")]
    account: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    #[schema(max_items = 100, inline)]
    to: Vec<Recipient>,
    #[serde(default)]
    #[schema(max_items = 100, inline)]
    cc: Vec<Recipient>,
    /// Default: the original's subject with Re:.
    #[schema(max_length = 998)]
    subject: Option<String>,
    #[schema(max_length = 10485760)]
    body: String,
}

/// A forward: the original attached (message/rfc822).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardBody {
    /// Default: the account the original came through.
    #[schema(pattern = r"^[A-Za-z0-9_.@-]{1,64}$")]
    account: Option<String>,
    #[schema(min_items = 1, max_items = 100, inline)]
    to: Vec<Recipient>,
    #[serde(default)]
    #[schema(max_items = 100, inline)]
    cc: Vec<Recipient>,
    /// Default: the original's subject with Fwd:.
    #[schema(max_length = 998)]
    subject: Option<String>,
    #[serde(default)]
    #[schema(max_length = 10485760)]
    body: String,
}

fn check_common(
    account: &Option<String>,
    to: &[String],
    cc: &[String],
    subject: Option<&str>,
    body: &str,
) -> Result<(), ApiError> {
    if let Some(a) = account {
        switchboard_store::validate_account_name(a)
            .map_err(|e| ApiError::bad_request(format!("'account': {e}")))?;
    }
    if to.len() > 100 || cc.len() > 100 {
        return Err(ApiError::bad_request(
            "at most 100 'to' and 100 'cc' recipients",
        ));
    }
    check_recipients("to", to)?;
    check_recipients("cc", cc)?;
    if subject.is_some_and(|s| s.chars().count() > 998) {
        return Err(ApiError::bad_request(
            "'subject' is longer than 998 characters",
        ));
    }
    if body.chars().count() > 10 * 1024 * 1024 {
        return Err(ApiError::bad_request(
            "'body' is longer than 10485760 characters",
        ));
    }
    Ok(())
}

async fn queue(state: Arc<AppState>, req: SendRequest) -> Result<Response, ApiError> {
    let queued = state
        .with_store(move |s| queue_send(s, &req).map_err(send_error))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
}

#[utoipa::path(post, path = "/api/send", request_body = SendBody,
    responses((status = 202, description = "Queued; the tracker shows its progress", body = switchboard_deliver::send::Queued), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such account", body = crate::openapi::ErrorBody), (status = 409, description = "The account has no outgoing server", body = crate::openapi::ErrorBody)))]
/// Sends new mail through an account's outgoing server.
pub async fn post_send(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b: SendBody = object(b)?;
    let (to, cc) = (plain(b.to), plain(b.cc));
    if to.is_empty() {
        return Err(ApiError::bad_request("'to' names nobody"));
    }
    check_common(&b.account, &to, &cc, Some(&b.subject), &b.body)?;
    let req = SendRequest {
        account: b.account,
        to,
        cc,
        subject: Some(b.subject),
        body: b.body,
        reply_to: None,
        all: false,
        forward: None,
        owner: caller.owner().map(str::to_string),
    };
    queue(state, req).await
}

#[utoipa::path(post, path = "/api/messages/{id}/reply", params(("id" = i64, Path, minimum = 1)), request_body = ReplyBody,
    responses((status = 202, description = "Queued; the tracker shows its progress", body = switchboard_deliver::send::Queued), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such message or account", body = crate::openapi::ErrorBody), (status = 409, description = "No outgoing server, or nobody to reply to", body = crate::openapi::ErrorBody)))]
/// Replies to a message (In-Reply-To, References, "Re:"), from the account it came through.
pub async fn post_reply(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let b: ReplyBody = object(b)?;
    let (to, cc) = (plain(b.to), plain(b.cc));
    check_common(&b.account, &to, &cc, b.subject.as_deref(), &b.body)?;
    let req = SendRequest {
        account: b.account,
        to,
        cc,
        subject: b.subject,
        body: b.body,
        reply_to: Some(id),
        all: b.all,
        forward: None,
        owner: caller.owner().map(str::to_string),
    };
    queue(state, req).await
}

#[utoipa::path(post, path = "/api/messages/{id}/forward", params(("id" = i64, Path, minimum = 1)), request_body = ForwardBody,
    responses((status = 202, description = "Queued; the tracker shows its progress", body = switchboard_deliver::send::Queued), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such message or account", body = crate::openapi::ErrorBody), (status = 409, description = "No outgoing server", body = crate::openapi::ErrorBody)))]
/// Forwards a message (attached, "Fwd:"), from the account it came through.
pub async fn post_forward(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let b: ForwardBody = object(b)?;
    let (to, cc) = (plain(b.to), plain(b.cc));
    if to.is_empty() {
        return Err(ApiError::bad_request("'to' names nobody"));
    }
    check_common(&b.account, &to, &cc, b.subject.as_deref(), &b.body)?;
    let req = SendRequest {
        account: b.account,
        to,
        cc,
        subject: b.subject,
        body: b.body,
        reply_to: None,
        all: false,
        forward: Some(id),
        owner: caller.owner().map(str::to_string),
    };
    queue(state, req).await
}

/// How the router left a message.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RouteInfo {
    /// pending | routed | skipped
    pub state: String,
    /// The decision's explanation, or why it was skipped (e.g. a forwarding loop).
    pub reason: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageDeliveries {
    pub message_id: i64,
    /// Absent for a message stored before routing began.
    pub route: Option<RouteInfo>,
    pub deliveries: Vec<DeliveryView>,
}

#[utoipa::path(get, path = "/api/messages/{id}/deliveries", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = MessageDeliveries), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// How a message was routed and every step of each of its deliveries.
pub async fn message_deliveries(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let body = state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            let _ = s.message(id)?;
            let route = s
                .route_state(id)?
                .map(|(state, reason)| RouteInfo { state, reason });
            Ok(MessageDeliveries {
                message_id: id,
                route,
                deliveries: s.message_deliveries(id)?,
            })
        })
        .await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// queued | sending | accepted | delivered | failed | rerouted | dead | held | released
    /// (default dead: the dead letters).
    #[param(value_type = Option<String>, pattern = "^(queued|sending|accepted|delivered|failed|rerouted|dead|held|released)$")]
    state: Option<String>,
    /// 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/deliveries", params(DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Deliveries in one state, newest first, with their timelines (dead letters by default).
pub async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let wanted: DeliveryState = q
        .state
        .as_deref()
        .unwrap_or("dead")
        .parse()
        .map_err(|e: StoreError| ApiError::bad_request(e.to_string()))?;
    let limit = match q.limit {
        None => 100,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'limit' must be a number from 1 to 1000, not '{s}'"
                ))
            })?,
    };
    let list = state
        .with_store(move |s| Ok(s.deliveries_in_state(wanted, limit, caller.owner())?))
        .await?;
    Ok(Json(list).into_response())
}

#[utoipa::path(post, path = "/api/deliveries/{id}/retry", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "Queued again; the delivery with the others of its message", body = Vec<DeliveryView>), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 409, description = "The delivery is neither dead nor failed", body = crate::openapi::ErrorBody)))]
/// Tries a dead (or waiting) delivery again now, with a fresh set of trials.
pub async fn retry_delivery(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let views = state
        .with_store(move |s| {
            let visible = match caller.owner() {
                Some(o) => s.delivery_owned_by(id, o)?,
                None => s.delivery(id)?.is_some(),
            };
            if !visible {
                return Err(ApiError::not_found(format!("no delivery {id}")));
            }
            s.request_retry(id).map_err(|e| match e {
                StoreError::Invalid { detail, .. } => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", detail)
                }
                other => ApiError::from(other),
            })?;
            Ok(s.delivery_family(id)?)
        })
        .await?;
    Ok(Json(views).into_response())
}

#[utoipa::path(get, path = "/api/accounts/{name}/smtp", params(("name" = String, Path)),
    responses((status = 200, body = SmtpServer), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such account, or it has no outgoing server", body = crate::openapi::ErrorBody)))]
/// The account's outgoing (SMTP submission) server; the password is never shown.
pub async fn get_smtp(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("reading outgoing servers")?;
    let server = state
        .with_store(move |s| {
            let a = s
                .account(&name)?
                .ok_or_else(|| ApiError::not_found(format!("no account named '{name}'")))?;
            s.smtp_server(a.id)?.ok_or_else(|| {
                ApiError::not_found(format!("account '{name}' has no outgoing server"))
            })
        })
        .await?;
    Ok(Json(server).into_response())
}

/// An account's outgoing server. The password goes to the keyring.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpBody {
    host: String,
    /// Default: 465 (implicit TLS) or 587 (STARTTLS).
    port: Option<u16>,
    /// implicit (default) or starttls.
    tls: Option<TlsMode>,
    /// Log in as this user (with `password`); absent: no login.
    username: Option<String>,
    password: Option<String>,
    /// SHA-256 fingerprint of a self-signed certificate to trust.
    trust_cert: Option<String>,
    /// The address mail goes out as (default: `username` when it is an address).
    from: Option<String>,
    from_name: Option<String>,
    /// Where sent copies are filed (default: the folder marked \Sent, or a usual name).
    sent_mailbox: Option<String>,
}

#[utoipa::path(put, path = "/api/accounts/{name}/smtp", params(("name" = String, Path)), request_body = SmtpBody,
    responses((status = 200, body = SmtpServer), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "The keyring is not available", body = crate::openapi::ErrorBody)))]
/// Sets the account's outgoing server (its password into the keyring).
pub async fn put_smtp(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("setting outgoing servers")?;
    let b: SmtpBody = object(b)?;
    let tls = b.tls.unwrap_or(TlsMode::Implicit);
    let trust_cert = match &b.trust_cert {
        Some(pin) => Some(switchboard_sync::tls::normalize_pin(pin).ok_or_else(|| {
            ApiError::bad_request(format!("'trust_cert' '{pin}' is not a SHA-256 fingerprint"))
        })?),
        None => None,
    };
    if b.username.is_some() != b.password.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::bad_request(
            "'username' and 'password' go together (both, or neither for no login)",
        ));
    }
    let (from_name, from_addr) = match (&b.from, &b.username) {
        (Some(f), _) => {
            let m = switchboard_deliver::compose::parse_mailbox("from", f)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            (m.name.or(b.from_name.clone()), m.email.to_string())
        }
        (None, Some(u)) if u.contains('@') => (b.from_name.clone(), u.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "'from' is needed: the address mail from this account goes out as",
            ))
        }
    };
    let server = SmtpServer {
        host: b.host,
        port: b.port.unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
        }),
        tls,
        username: b.username,
        trust_cert,
        from_addr,
        from_name,
        sent_mailbox: b.sent_mailbox,
    };
    let password = b.password.map(Secret::new);
    let saved = state
        .with_store(move |s| {
            let a = s
                .account(&name)?
                .ok_or_else(|| ApiError::not_found(format!("no account named '{name}'")))?;
            let install_id = s.install_id()?;
            let secret = switchboard_deliver::smtp_secret_name(&a.name);
            s.set_smtp_server(&a.name, &server)?;
            match &password {
                Some(p) => store_password(&install_id, &secret, p).map_err(|e| {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "keyring_unavailable",
                        e.to_string(),
                    )
                })?,
                None => {
                    let _ = delete_password(&install_id, &secret);
                }
            }
            Ok(server)
        })
        .await?;
    Ok(Json(saved).into_response())
}

#[utoipa::path(delete, path = "/api/accounts/{name}/smtp", params(("name" = String, Path)),
    responses((status = 204, description = "Removed with its password"), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody)))]
/// Removes the account's outgoing server.
pub async fn delete_smtp(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_store_owner("removing outgoing servers")?;
    state
        .with_store(move |s| {
            let install_id = s.install_id()?;
            if !s.remove_smtp_server(&name)? {
                return Err(ApiError::not_found(format!(
                    "account '{name}' has no outgoing server"
                )));
            }
            let _ = delete_password(&install_id, &switchboard_deliver::smtp_secret_name(&name));
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked_as_documented_and_can_be_sent() {
        let good = [
            "0@0",
            "a_b+c-d.e@x-y.z",
            "Ann Example <ann@example.org>",
            "0 <0@0.0.0.0>",
            "-@a",
            "a_ -  <x@a-b.c>",
        ];
        for g in good {
            check_recipients("to", &[g.to_string()]).unwrap_or_else(|e| panic!("{g}: {e:?}"));
            switchboard_deliver::compose::parse_mailbox("to", g)
                .unwrap_or_else(|e| panic!("admitted but not sendable: {g}: {e}"));
        }
        let bad = [
            "",
            "a@b>",
            "Ann <a@b",
            "a..b@x",
            "a@-x",
            "a@x-",
            "a b@x",
            "a@x.y.z.w.v",
            "<a@b>",
            " Ann <a@b>",
            "Änn <a@b>",
        ];
        for b in bad {
            assert!(check_recipients("to", &[b.to_string()]).is_err(), "{b}");
        }
    }
}
