//! The API description, derived from the handlers and the types they return; served at
//! `/api/openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_store::{Account, AccountPatch, MessageDetail, MessageSummary};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;

/// Every error: a machine-readable code and a sentence naming what was wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangedMessage {
    pub id: i64,
    pub size: i64,
    pub from: Option<String>,
    pub subject: String,
    pub date: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangesBody {
    /// The sequence this answer brings the client to.
    pub seq: i64,
    /// More changes follow: ask again with `since=seq`.
    pub more: bool,
    /// The log no longer reaches back to `since`: reload the message list.
    pub resync: bool,
    pub added: Vec<ChangedMessage>,
    pub updated: Vec<ChangedMessage>,
    pub removed: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SyncStateEntry {
    pub account: String,
    pub state: String,
    pub detail: Option<String>,
    pub at: Option<i64>,
    pub last_sync_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FlagsResult {
    pub id: i64,
    pub flags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SyncRequested {
    pub requested: bool,
}

/// A new account that failed its connection test (nothing was kept).
#[derive(Serialize, ToSchema)]
pub struct AccountTestFailure {
    /// auth_failed | tls_error | unreachable | error
    pub error: String,
    pub detail: String,
    /// The server certificate's SHA-256, when it was not trusted: pin it to trust it.
    pub fingerprint: Option<String>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "The embedded server's API: one consolidated inbox, the message-ID index, accounts and sync."),
    paths(
        crate::index::get_index,
        crate::index::get_changes,
        crate::api::list_messages,
        crate::api::get_message,
        crate::api::get_raw,
        crate::api::search,
        crate::api::list_accounts,
        crate::write::patch_message,
        crate::write::delete_message,
        crate::write::get_attachment,
        crate::write::sync_status,
        crate::write::sync_now,
        crate::write::add_account,
        crate::write::patch_account,
        crate::write::delete_account,
        crate::im::send,
        crate::im::conversations,
        crate::im::conversation,
        crate::im::contacts,
        crate::im::chat_state,
        crate::im::chat_states,
        crate::delivery::post_send,
        crate::delivery::post_reply,
        crate::delivery::post_forward,
        crate::delivery::message_deliveries,
        crate::delivery::list_deliveries,
        crate::delivery::retry_delivery,
        crate::delivery::get_smtp,
        crate::delivery::put_smtp,
        crate::delivery::delete_smtp,
        crate::profiles::list_profiles,
        crate::profiles::create_profile,
        crate::profiles::get_profile,
        crate::profiles::put_profile,
        crate::profiles::delete_profile,
        crate::profiles::get_active,
        crate::profiles::set_active,
        crate::profiles::release_active,
        crate::profiles::profile_history,
        crate::profiles::get_schedule,
        crate::profiles::put_schedule,
        crate::profiles::list_rules,
        crate::profiles::create_rule,
        crate::profiles::get_rule,
        crate::profiles::put_rule,
        crate::profiles::delete_rule,
        crate::profiles::move_rule,
        crate::profiles::try_rule,
        crate::profiles::list_groups,
        crate::profiles::put_group,
        crate::profiles::delete_group,
        crate::profiles::message_route,
    ),
    components(schemas(ErrorBody, MessagePage, MessageList, ChangesBody, ChangedMessage, SyncStateEntry,
        FlagsResult, SyncRequested, AccountTestFailure, Account, AccountPatch, MessageDetail, MessageSummary,
        crate::index::IndexSnapshot, crate::index::Latest, crate::write::FlagsBody, crate::write::NewAccountBody,
        crate::im::ImSendBody, crate::im::ImQueued, crate::im::ImConversations, crate::im::ImMessages,
        crate::im::ImContacts, crate::im::ImChatStateBody, crate::im::ImChatStateQueued,
        crate::im::ImChatStates, crate::im::ChatStateName, switchboard_store::ImChatState,
        switchboard_store::ImMessage, switchboard_store::ImConversation,
        switchboard_store::ImContact, switchboard_store::ImDirection, switchboard_store::ImState,
        crate::delivery::SendBody, crate::delivery::ReplyBody, crate::delivery::ForwardBody,
        crate::delivery::Recipient, crate::delivery::SmtpBody, crate::delivery::MessageDeliveries,
        crate::delivery::RouteInfo, switchboard_deliver::send::Queued, switchboard_store::DeliveryView,
        switchboard_store::Delivery, switchboard_store::DeliveryEvent, switchboard_store::DeliveryState,
        switchboard_store::SmtpServer)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

pub async fn openapi_json(State(_): State<Arc<AppState>>) -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}
