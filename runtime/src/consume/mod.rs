//! Consuming, for any protocol: receive, hand each delivery to the protocol's [`Dispatch`]
//! (decode, validate, route to a typed handler), run the handler, then settle with the
//! broker according to the outcome.
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
mod prioritized;

pub use consumer::{Consumer, ConsumerSettings, InvalidMessages, shutdown_signal};
pub(crate) use dispatch::panic_message;
pub use dispatch::{
    ConsumeError, Dispatch, HandlerError, HandlerResult, Outcome, Processed, Routed, Settlement, dispatch,
};
pub use hooks::{Health, Hook};
pub use prioritized::Prioritized;
