//! Rust names for schema things. Decided once, here:
//!
//! | schema | Rust |
//! |---|---|
//! | message `user-created` major 1 | payload type `UserCreatedV1` |
//! | message `user-created` (all majors) | `publish_user_created()`, `register_user_created()`, traits `UserCreatedMessage`, `UserCreatedHandler` |
//! | handler for major 1 | method `user_created_v1` |
//! | definition `UserId` (one version) | type `UserId` |
//! | definition `Money` with versions 1.0 and 2.0 | types `MoneyV1_0`, `MoneyV2_0` |
//!
//! `user-created`, `user.created` and `user_created` all give the same names (so two of them
//! in one schema are a collision, reported as an error). Names that would start with a
//! digit get an `M`/`m_` prefix; keywords are escaped as raw identifiers.

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// `UpperCamelCase` of a schema name, made a valid identifier.
pub fn pascal(name: &str) -> String {
    let pascal = name.to_upper_camel_case();
    if pascal.starts_with(|c: char| c.is_ascii_digit()) { format!("M{pascal}") } else { pascal }
}

/// `snake_case` of a schema name, made a valid identifier.
pub fn snake(name: &str) -> String {
    let snake = name.to_snake_case();
    if snake.starts_with(|c: char| c.is_ascii_digit()) { format!("m_{snake}") } else { snake }
}

/// Whether `name` gives any identifier at all (`---` does not).
pub fn is_nameable(name: &str) -> bool {
    name.chars().any(|c| c.is_alphanumeric())
}

/// The payload type of a message major: `UserCreatedV1`.
pub fn payload_type(message_type: &str, major: u32) -> String {
    format!("{}V{major}", pascal(message_type))
}

/// The handler method for a message major: `user_created_v1`.
pub fn handler_method(message_type: &str, major: u32) -> String {
    format!("{}_v{major}", snake(message_type))
}

/// The names generated once per message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageNames {
    /// Marker trait of its payload types: `UserCreatedMessage`.
    pub marker: String,
    /// Handler trait: `UserCreatedHandler`.
    pub handler: String,
    /// Publish function: `publish_user_created`.
    pub publish: String,
    /// Registration function: `register_user_created`.
    pub register: String,
}

impl MessageNames {
    /// The names for `message_type`.
    pub fn new(message_type: &str) -> Self {
        let (pascal, snake) = (pascal(message_type), snake(message_type));
        Self {
            marker: format!("{pascal}Message"),
            handler: format!("{pascal}Handler"),
            publish: format!("publish_{snake}"),
            register: format!("register_{snake}"),
        }
    }
}

/// A definition's type name: `UserId`, or `UserIdV1_0` when it has several versions.
pub fn definition_type(name: &str, version: Option<&str>) -> String {
    match version {
        None => pascal(name),
        Some(version) => format!("{}V{}", pascal(name), version.replace('.', "_")),
    }
}

/// Whether `name` can be an identifier (possibly raw).
pub fn is_identifier(name: &str) -> bool {
    syn::parse_str::<Ident>(name).is_ok() || syn::parse_str::<Ident>(&format!("r#{name}")).is_ok()
}

/// An identifier token, escaped as `r#name` when `name` is a keyword.
pub fn ident(name: &str) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::call_site())
    } else {
        Ident::new_raw(name, Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_give_the_same_names() {
        for name in ["user-created", "user.created", "user_created"] {
            assert_eq!(payload_type(name, 2), "UserCreatedV2");
            assert_eq!(handler_method(name, 1), "user_created_v1");
            assert_eq!(MessageNames::new(name).publish, "publish_user_created");
        }
    }

    #[test]
    fn leading_digits_and_keywords_become_identifiers() {
        assert_eq!(pascal("3d-printed"), "M3dPrinted");
        assert_eq!(snake("3d-printed"), "m_3d_printed");
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("user").to_string(), "user");
        assert!(!is_nameable("--"));
    }

    #[test]
    fn versioned_definitions_keep_their_version() {
        assert_eq!(definition_type("money", Some("1.0")), "MoneyV1_0");
        assert_eq!(definition_type("user_id", None), "UserId");
    }
}
