//! Profiles, the schedule, rules, contact groups and route explanations over HTTP.
//!
//! Everyone with a token may read them; only the store's own person changes them (a household
//! member's token gets 403), because there is one set of profiles and rules per store. A
//! household member's `rules/try` looks at their own messages only, and `route` explains only
//! their messages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use switchboard_route::{ActiveProfile, ContactGroup, Profile, Rule, Schedule};
use switchboard_store::{clock, RuleTrial, Store};

use crate::api::{parse_id, query};
use crate::{ApiError, AppState, Caller};

/// A JSON object body as `T` (anything else is refused, naming the problem).
fn body<T: serde::de::DeserializeOwned>(
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, ApiError> {
    let Json(v) =
        b.map_err(|e| ApiError::bad_request(format!("invalid JSON body: {}", e.body_text())))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

const CHANGES: &str = "changing profiles, the schedule, rules or groups";

/// The active profile and why.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActiveView {
    pub active: ActiveProfile,
    /// In words: `manual, until Mon 2026-01-05 09:00 CET (the next scheduled change)`,
    /// `scheduled: Work mon-fri 09:00-17:00 until …`, `no schedule range now: …`.
    pub why: String,
}

#[utoipa::path(get, path = "/api/profiles",
    responses((status = 200, body = switchboard_store::ProfilesOverview), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Every profile, the schedule, and the active profile with why it is active.
pub async fn list_profiles(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let now = clock::now();
    let o = state
        .with_store(move |s| Ok(s.profiles_overview(now)?))
        .await?;
    Ok(Json(o).into_response())
}

#[utoipa::path(post, path = "/api/profiles", request_body = Profile,
    responses((status = 201, body = Profile), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 409, description = "The name is taken", body = crate::openapi::ErrorBody)))]
/// Adds a profile.
pub async fn create_profile(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let p: Profile = body(b)?;
    let p = state.with_store(move |s| Ok(s.add_profile(&p)?)).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[utoipa::path(get, path = "/api/profiles/{name}", params(("name" = String, Path, description = "A profile name, any case")),
    responses((status = 200, body = Profile), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such profile", body = crate::openapi::ErrorBody)))]
/// One profile.
pub async fn get_profile(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = state.with_store(move |s| Ok(s.profile(&name)?)).await?;
    Ok(Json(p).into_response())
}

#[utoipa::path(put, path = "/api/profiles/{name}", params(("name" = String, Path, description = "A profile name, any case")), request_body = Profile,
    responses((status = 200, body = Profile), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such profile", body = crate::openapi::ErrorBody), (status = 409, description = "The new name is taken", body = crate::openapi::ErrorBody)))]
/// Replaces a profile; a new `name` renames it everywhere (rules, schedule, manual switch).
pub async fn put_profile(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let p: Profile = body(b)?;
    let now = clock::now();
    let p = state
        .with_store(move |s| Ok(s.update_profile(&name, &p, now)?))
        .await?;
    Ok(Json(p).into_response())
}

#[utoipa::path(delete, path = "/api/profiles/{name}", params(("name" = String, Path, description = "A profile name, any case")),
    responses((status = 204, description = "Removed"), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such profile", body = crate::openapi::ErrorBody), (status = 409, description = "The profile is in use (active, in the schedule, named by a rule) or the last one", body = crate::openapi::ErrorBody)))]
/// Removes a profile nothing refers to.
pub async fn delete_profile(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let now = clock::now();
    state
        .with_store(move |s| Ok(s.remove_profile(&name, now)?))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn active_view(o: switchboard_store::ProfilesOverview) -> ActiveView {
    ActiveView {
        active: o.active,
        why: o.why,
    }
}

#[utoipa::path(get, path = "/api/profiles/active",
    responses((status = 200, body = ActiveView), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// The active profile and why.
pub async fn get_active(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let now = clock::now();
    let o = state
        .with_store(move |s| Ok(s.profiles_overview(now)?))
        .await?;
    Ok(Json(active_view(o)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseProfileBody {
    /// The profile to switch to (any case).
    name: String,
    /// Hold it across scheduled boundaries until released (default: until the next one).
    #[serde(default)]
    until_released: bool,
}

#[utoipa::path(post, path = "/api/profiles/active", request_body = UseProfileBody,
    responses((status = 200, body = ActiveView), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such profile", body = crate::openapi::ErrorBody)))]
/// Switches profile by hand; it holds until the next scheduled boundary or until released.
pub async fn set_active(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let u: UseProfileBody = body(b)?;
    let now = clock::now();
    let o = state
        .with_store(move |s| {
            s.use_profile(&u.name, u.until_released, now)?;
            Ok(s.profiles_overview(now)?)
        })
        .await?;
    Ok(Json(active_view(o)).into_response())
}

#[utoipa::path(delete, path = "/api/profiles/active",
    responses((status = 200, body = ActiveView), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody)))]
/// Releases a manual switch: the schedule decides again.
pub async fn release_active(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let now = clock::now();
    let o = state
        .with_store(move |s| {
            s.release_profile(now)?;
            Ok(s.profiles_overview(now)?)
        })
        .await?;
    Ok(Json(active_view(o)).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

fn parse_limit(
    v: Option<String>,
    default: usize,
    max: usize,
    name: &str,
) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'{name}' must be a number from 1 to {max}, not '{s}'"
                ))
            }),
    }
}

#[utoipa::path(get, path = "/api/profiles/history", params(HistoryQuery),
    responses((status = 200, body = Vec<switchboard_route::SwitchRecord>), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Switches of the active profile, newest first.
pub async fn profile_history(
    State(state): State<Arc<AppState>>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let limit = parse_limit(query(q)?.limit, 50, 1000, "limit")?;
    let h = state
        .with_store(move |s| Ok(s.switch_history(limit)?))
        .await?;
    Ok(Json(h).into_response())
}

#[utoipa::path(get, path = "/api/schedule",
    responses((status = 200, body = Schedule), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// The weekly schedule.
pub async fn get_schedule(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let s = state.with_store(|s| Ok(s.schedule()?)).await?;
    Ok(Json(s).into_response())
}

#[utoipa::path(put, path = "/api/schedule", request_body = Schedule,
    responses((status = 200, body = Schedule), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 409, description = "A profile or time zone it names does not exist", body = crate::openapi::ErrorBody)))]
/// Replaces the weekly schedule.
pub async fn put_schedule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let sched: Schedule = body(b)?;
    let now = clock::now();
    let s = state
        .with_store(move |s| Ok(s.set_schedule(&sched, now)?))
        .await?;
    Ok(Json(s).into_response())
}

#[utoipa::path(get, path = "/api/rules",
    responses((status = 200, body = Vec<Rule>), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// The rules in the order they are looked at.
pub async fn list_rules(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let r = state.with_store(|s| Ok(s.rules()?)).await?;
    Ok(Json(r).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionQuery {
    /// Where the rule goes, 1 = first (default: last).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    position: Option<String>,
}

#[utoipa::path(post, path = "/api/rules", params(PositionQuery), request_body = Rule,
    responses((status = 201, body = Rule), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 409, description = "A profile it names does not exist", body = crate::openapi::ErrorBody)))]
/// Adds a rule (its `id` is assigned).
pub async fn create_rule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<PositionQuery>, QueryRejection>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let position = query(q)?
        .position
        .map(|p| parse_limit(Some(p), 0, 10_000, "position"))
        .transpose()?;
    let rule: Rule = body(b)?;
    let r = state
        .with_store(move |s| Ok(s.add_rule(&rule, position)?))
        .await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

#[utoipa::path(get, path = "/api/rules/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Rule), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such rule", body = crate::openapi::ErrorBody)))]
/// One rule.
pub async fn get_rule(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_rule_id(&id)?;
    let r = state.with_store(move |s| Ok(s.rule(id)?)).await?;
    Ok(Json(r).into_response())
}

fn parse_rule_id(id: &str) -> Result<i64, ApiError> {
    crate::api::whole_number(id)
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("'{id}' is not a rule id")))
}

#[utoipa::path(put, path = "/api/rules/{id}", params(("id" = i64, Path, minimum = 1)), request_body = Rule,
    responses((status = 200, body = Rule), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such rule", body = crate::openapi::ErrorBody), (status = 409, description = "A profile it names does not exist", body = crate::openapi::ErrorBody)))]
/// Replaces a rule; it keeps its position.
pub async fn put_rule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let id = parse_rule_id(&id)?;
    let rule: Rule = body(b)?;
    let r = state
        .with_store(move |s| Ok(s.update_rule(id, &rule)?))
        .await?;
    Ok(Json(r).into_response())
}

#[utoipa::path(delete, path = "/api/rules/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "Removed"), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such rule", body = crate::openapi::ErrorBody)))]
/// Removes a rule.
pub async fn delete_rule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let id = parse_rule_id(&id)?;
    state.with_store(move |s| Ok(s.remove_rule(id)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The new position, 1 = first; past the end means last.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "switchboard_route::int::u32")]
    position: u32,
}

#[utoipa::path(post, path = "/api/rules/{id}/move", params(("id" = i64, Path, minimum = 1)), request_body = MoveBody,
    responses((status = 200, description = "The rules in their new order", body = Vec<Rule>), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such rule", body = crate::openapi::ErrorBody)))]
/// Moves a rule to another position.
pub async fn move_rule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let id = parse_rule_id(&id)?;
    let m: MoveBody = body(b)?;
    if !(1..=10_000).contains(&m.position) {
        return Err(ApiError::bad_request(format!(
            "'position' must be from 1 to 10000, not {}",
            m.position
        )));
    }
    let r = state
        .with_store(move |s| Ok(s.move_rule(id, m.position as usize)?))
        .await?;
    Ok(Json(r).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryBody {
    rule: Rule,
    /// Where it would go, 1 = first (default: last).
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(default, deserialize_with = "switchboard_route::int::opt_u32")]
    position: Option<u32>,
    /// Decide as if this profile were active (default: the active one).
    profile: Option<String>,
    /// How many of the newest messages to look at, 1 to 5000 (default 500).
    #[schema(minimum = 1, maximum = 5000)]
    #[serde(default, deserialize_with = "switchboard_route::int::opt_u32")]
    limit: Option<u32>,
}

#[utoipa::path(post, path = "/api/rules/try", request_body = TryBody,
    responses((status = 200, body = switchboard_store::TrialOutcome), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such profile", body = crate::openapi::ErrorBody), (status = 409, description = "A profile the rule names does not exist", body = crate::openapi::ErrorBody)))]
/// Tries a rule before saving it: which of the newest messages it matches, and what would
/// happen to each with the rule in place (next to what happens now).
pub async fn try_rule(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let t: TryBody = body(b)?;
    if t.position.is_some_and(|p| !(1..=10_000).contains(&p)) {
        return Err(ApiError::bad_request("'position' must be from 1 to 10000"));
    }
    let limit = t.limit.unwrap_or(500) as usize;
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "'limit' must be from 1 to 5000, not {limit}"
        )));
    }
    let trial = RuleTrial {
        rule: t.rule,
        position: t.position.map(|p| p as usize),
        profile: t.profile,
        limit,
        owner: caller.owner().map(String::from),
    };
    let now = clock::now();
    let out = state
        .with_store(move |s| Ok(s.try_rule(&trial, now)?))
        .await?;
    Ok(Json(out).into_response())
}

#[utoipa::path(get, path = "/api/groups",
    responses((status = 200, body = Vec<ContactGroup>), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody)))]
/// Contact groups (such as VIP) and their members.
pub async fn list_groups(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let g = state.with_store(|s| Ok(s.groups()?)).await?;
    Ok(Json(g).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Addresses and `@domain`s; replaces the current members.
    #[schema(value_type = Vec<switchboard_route::api_schema::GroupMember>, max_items = 5000)]
    members: Vec<String>,
}

#[utoipa::path(put, path = "/api/groups/{name}", params(("name" = String, Path, description = "A group name, any case", pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$")), request_body = GroupBody,
    responses((status = 200, body = ContactGroup), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 409, description = "Too many groups", body = crate::openapi::ErrorBody)))]
/// Creates a group or replaces its members.
pub async fn put_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    b: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    let g: GroupBody = body(b)?;
    let g = state
        .with_store(move |s| Ok(s.set_group(&name, &g.members)?))
        .await?;
    Ok(Json(g).into_response())
}

#[utoipa::path(delete, path = "/api/groups/{name}", params(("name" = String, Path, description = "A group name, any case", pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$")),
    responses((status = 204, description = "Removed"), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 403, description = "The token acts for a household member; only the store's owner may do this", body = crate::openapi::ErrorBody), (status = 404, description = "No such group", body = crate::openapi::ErrorBody)))]
/// Removes a group; rules naming it then match nobody.
pub async fn delete_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_store_owner(CHANGES)?;
    state
        .with_store(move |s| Ok(s.remove_group(&name)?))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteQuery {
    /// Decide as if this profile were active (default: the active one).
    profile: Option<String>,
}

#[utoipa::path(get, path = "/api/messages/{id}/route", params(("id" = i64, Path, minimum = 1), RouteQuery),
    responses((status = 200, body = switchboard_store::RouteExplanation), (status = 400, description = "Bad input, named in the detail", body = crate::openapi::ErrorBody), (status = 401, description = "No valid token or session", body = crate::openapi::ErrorBody), (status = 404, description = "No such message or profile", body = crate::openapi::ErrorBody)))]
/// How the router decides about a message: the actions, which rule matched and why, and
/// every rule's verdict.
pub async fn message_route(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<RouteQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let profile = query(q)?.profile;
    let now = clock::now();
    let e = state
        .with_store(move |s| {
            caller.check_message(s, id)?;
            Ok(s.explain_route(id, profile.as_deref(), now)?)
        })
        .await?;
    Ok(Json(e).into_response())
}

/// Records in the switch history each change of the active profile that the schedule makes
/// (a range beginning or ending, a manual switch running out), close to when it happens.
/// Runs as long as the server does; errors are logged and retried.
pub(crate) async fn watch_schedule(data_dir: PathBuf) {
    let mut store: Option<Store> = None;
    loop {
        let dir = data_dir.clone();
        let taken = store.take();
        let step = tokio::task::spawn_blocking(move || {
            let mut s = match taken {
                Some(s) => s,
                None => Store::open_in(&dir)?,
            };
            let now = clock::now();
            if let Some(rec) = s.record_active_profile(now)? {
                tracing::info!(
                    "active profile is now {} ({})",
                    rec.profile,
                    rec.reason.as_str()
                );
            }
            let next = s.next_profile_change(now)?;
            Ok::<_, switchboard_store::StoreError>((s, next, now))
        })
        .await;
        // Look again at the next boundary, but at least every 15 s: the schedule may be
        // edited meanwhile (another process, the CLI).
        let wait = match step {
            Ok(Ok((s, next, now))) => {
                store = Some(s);
                next.map_or(15, |n| (n - now).clamp(1, 15)) as u64
            }
            Ok(Err(e)) => {
                tracing::warn!("profile schedule check failed: {e}");
                15
            }
            Err(e) => {
                tracing::warn!("profile schedule check failed: {e}");
                15
            }
        };
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}
