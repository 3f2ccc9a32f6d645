//! Delivery (seed 001's delivery transport agents, message tracker and recovery agent).
//!
//! * [`engine`] — the worker beside sync: routes each new message once, attempts due
//!   deliveries, records every step in the tracker (`switchboard_store` deliveries), retries,
//!   re-routes over alternates, dead-letters, releases held messages as digests, and
//!   recovers attempts interrupted by a crash.
//! * [`plan`] — the pure policy logic: after an attempt, retry when, re-route where, or give up.
//! * [`route`] — from a routing decision to tracked deliveries (pure).
//! * Channels: [`notify`] (desktop notifications), [`forward`] + [`smtp`] (mail forward over
//!   the account's outgoing server), hold and digests, [`im`] (the IM channel's trait).
//! * [`send`] + [`compose`] — mail written here: new, reply, forward; submitted through the
//!   tracker, a copy filed in the IMAP Sent folder.
//! * [`headers`] — raw header fields and the forward marks that cut forwarding loops.
//! * [`runner`] — which process makes an attempt, and whether it is still alive.

mod channels;
pub mod compose;
pub mod engine;
pub mod forward;
pub mod headers;
pub mod im;
pub mod notify;
pub mod plan;
pub mod route;
pub mod runner;
pub mod send;
pub mod smtp;
pub mod spec;

pub use channels::smtp_secret_name;
pub use engine::{DeliverError, Engine, EngineOptions, WakeOnSync};
