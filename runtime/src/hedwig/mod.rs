//! The Hedwig protocol: messages with a JSON Schema contract and envelope metadata
//! ([`message`]), their wire format ([`wire`]), publishing ([`publish`]), routing received
//! messages to typed handlers ([`router`]), and Hedwig's resource names ([`naming`]).
//! Everything protocol-neutral (backends, the consumer loop, layouts) lives outside.

pub(crate) mod message;
pub(crate) mod naming;
pub(crate) mod publish;
pub(crate) mod router;
pub(crate) mod validation;
pub mod wire;
