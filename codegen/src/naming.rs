//! Rust names for schema things. Decided once, here:
//!
//! | schema | Rust |
//! |---|---|
//! | message `user-created` major 1 | payload type `UserCreatedV1` |
//! | message `user-created` (all majors) | `publish_user_created()`, `register_user_created()`, traits `UserCreatedMessage`, `UserCreatedHandler` |
//! | handler for major 1 | method `user_created_v1` |
//! | definition `UserId` (one version) | type `UserId` |
//! | definition `Money` with versions 1.0 and 2.0 | types `MoneyV1`, `MoneyV2` |
//! | definition `Money` with versions 1.0 and 1.1 | types `MoneyV1m0`, `MoneyV1m1` |
//! | task `billing.tasks.send_invoice` (base `send_invoice`: its `x-rust-name`, else the last `.`-segment) | input type `SendInvoiceInput`, `dispatch_send_invoice()`, `register_send_invoice()`, trait `SendInvoiceHandler` with method `send_invoice` |
//!
//! `user-created`, `user.created` and `user_created` all give the same names (so two of them
//! in one schema are a collision, reported as an error). Names that would start with a
//! digit get an `M`/`m_` prefix; keywords are escaped as raw identifiers.

use heck::{ToSnakeCase, ToUpperCamelCase};
use owlpost::Version;
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

/// The payload type of a message major: `UserCreatedV1` (`a` gives `Av1`: the name is
/// re-cased as typify re-cases every type name, so that both agree).
pub fn payload_type(message_type: &str, major: u32) -> String {
    typify_case(&format!("{}V{major}", pascal(message_type)))
}

/// The name typify gives a type it is asked to call `name`.
fn typify_case(name: &str) -> String {
    name.to_upper_camel_case()
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

/// The names generated for one Taskhawk task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNames {
    /// Input type (the task's kwargs): `SendInvoiceInput`.
    pub input: String,
    /// Dispatch function: `dispatch_send_invoice`.
    pub dispatch: String,
    /// Handler trait: `SendInvoiceHandler`.
    pub handler: String,
    /// Handler method: `send_invoice`.
    pub method: String,
    /// Registration function: `register_send_invoice`.
    pub register: String,
}

impl TaskNames {
    /// The names for a task whose base name is `base` (see [`task_base`]).
    pub fn new(base: &str) -> Self {
        let snake = snake(base);
        Self {
            input: typify_case(&format!("{}Input", pascal(base))),
            dispatch: format!("dispatch_{snake}"),
            handler: format!("{}Handler", pascal(base)),
            register: format!("register_{snake}"),
            method: snake,
        }
    }
}

/// The base of a task's Rust names: its `x-rust-name`, else the last `.`-segment of the
/// wire name (`billing.tasks.send_invoice` → `send_invoice`).
pub fn task_base<'a>(task: &'a str, rust_name: Option<&'a str>) -> &'a str {
    rust_name.unwrap_or_else(|| task.rsplit('.').next().unwrap_or(task))
}

/// A definition version's type name: `UserId` when it is the only version, `UserIdV1` when
/// its major is the only one of that major, `UserIdV1m2` otherwise (for version 1.2),
/// re-cased as typify does.
pub fn definition_type(name: &str, version: Version, versions: &[Version]) -> String {
    let same_major = versions.iter().filter(|v| v.major == version.major).count();
    typify_case(&match (versions.len(), same_major) {
        (1, _) => pascal(name),
        (_, 1) => format!("{}V{}", pascal(name), version.major),
        _ => format!("{}V{}M{}", pascal(name), version.major, version.minor),
    })
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
    fn payload_names_survive_typify_recasing() {
        assert_eq!(payload_type("a", 1), "Av1");
        assert_eq!(payload_type("user-a", 1), "UserAv1");
        assert_eq!(payload_type("x_y", 2), "Xyv2");
        for name in ["a", "user-a", "x_y", "user-created-v2", "3d-print"] {
            let ty = payload_type(name, 1);
            assert_eq!(typify_case(&ty), ty, "{name}");
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
    fn tasks_are_named_after_their_base() {
        assert_eq!(task_base("billing.tasks.send_invoice", None), "send_invoice");
        assert_eq!(task_base("billing.tasks.send_invoice", Some("email")), "email");
        assert_eq!(task_base("rebuild", None), "rebuild");
        let names = TaskNames::new("send_invoice");
        assert_eq!(
            names,
            TaskNames {
                input: "SendInvoiceInput".into(),
                dispatch: "dispatch_send_invoice".into(),
                handler: "SendInvoiceHandler".into(),
                method: "send_invoice".into(),
                register: "register_send_invoice".into(),
            }
        );
        assert_eq!(TaskNames::new("type").method, "type", "escaped when it becomes an identifier");
        assert_eq!(TaskNames::new("3d-print").input, "M3dPrintInput");
    }

    #[test]
    fn versioned_definitions_keep_their_version() {
        let (v10, v11, v20) = (Version::new(1, 0), Version::new(1, 1), Version::new(2, 0));
        assert_eq!(definition_type("user_id", v10, &[v10]), "UserId");
        assert_eq!(definition_type("money", v20, &[v10, v20]), "MoneyV2");
        assert_eq!(definition_type("money", v11, &[v10, v11, v20]), "MoneyV1m1");
        assert_eq!(definition_type("money", v20, &[v10, v11, v20]), "MoneyV2");
    }
}
