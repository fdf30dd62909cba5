//! The Taskhawk protocol: background tasks on a service's own queues, one per [`Priority`]
//! (TASKHAWK.md). This module holds what is Taskhawk's own, beside Hedwig's: its resource
//! names ([`TaskhawkNaming`]) and its wire format ([`wire`]); the backends, layouts and the
//! consumer loop are the protocol-neutral ones.

mod naming;
mod priority;
pub mod wire;

pub use naming::TaskhawkNaming;
pub use priority::Priority;
