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
    /// Sends `text` to `to` (e.g. a JID); the answer says what the server did.
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, ImFailure>> + Send + 'a>>;
}
