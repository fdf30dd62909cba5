//! The example schema's generated API, used by this crate's tests and examples exactly as
//! a service would use its own.

/// Types, `publish_*` functions and handler traits generated from `schemas/example.json`.
pub mod messages {
    owlpost::include_messages!();
}
