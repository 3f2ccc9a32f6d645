//! The instant-messaging channel, provided by the IM work (XMPP). The delivery engine sends
//! through whatever implements [`ImChannel`]; with none set up, an IM delivery fails for good
//! and the policy's alternates take over.

use std::future::Future;
use std::pin::Pin;

/// Why an instant message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImFailure {
    pub answer: String,
    /// Worth trying again later (the server was unreachable) or not (no such address).
    pub transient: bool,
}

/// Sends instant messages.
pub trait ImChannel: Send + Sync {
    /// Sends for tracker delivery `delivery_id` to `to` (e.g. a JID): stored message
    /// `message_id` (the channel makes its own short form, so a reply can find its way back),
    /// or, without one (a digest), `text` as it is. The same delivery may be attempted again
    /// after an interruption; the channel can use its id to send only once. The answer says
    /// what the server did.
    fn send<'a>(
        &'a self,
        delivery_id: i64,
        message_id: Option<i64>,
        to: &'a str,
        text: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, ImFailure>> + Send + 'a>>;
}
