//! Delivery (seed 001's delivery transport agents and message tracker).

pub mod compose;
pub mod forward;
pub mod headers;
pub mod smtp;
