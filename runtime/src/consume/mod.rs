//! Consuming: receive, decode, validate, route by (message type, major) to a typed handler,
//! then settle with the broker according to the outcome.
//!
//! Nothing is acknowledged unless its handler succeeded or asked to ignore it. A failed,
//! panicking or timed-out handler's message is negatively acknowledged with a backoff; a
//! message no handler can take (undecodable, invalid, unknown type) is dead-lettered at once.
//! [`Consumer`] runs handlers concurrently up to a bound, keeps their leases alive, and shuts
//! down without losing work: handlers in flight finish and are settled (those still running
//! at the deadline are dropped and their messages redelivered).

mod consumer;
mod dispatch;
mod hooks;

pub use consumer::{Consumer, ConsumerSettings, InvalidMessages, shutdown_signal};
pub use dispatch::{ConsumeError, HandlerError, HandlerResult, Outcome, Processed, Router, Settlement};
pub use hooks::{Health, Hook};
