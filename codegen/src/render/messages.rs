//! The embedded schema (of message and task documents alike) and the `owlpost::Message`
//! impl of each payload type.

use proc_macro2::TokenStream;
use quote::quote;

use crate::enforced::{CheckedString, Step, enforced};
use crate::model::{MessageDef, Model};
use crate::naming::ident;

/// `schema()`: the document, embedded as pretty-printed JSON and compiled once on first use.
pub fn schema(model: &Model) -> TokenStream {
    let (file, root) = (&model.file_name, &model.root);
    let json = raw_string(&serde_json::to_string_pretty(&model.schema.document().value).unwrap_or_default());
    let doc = format!(" The compiled schema document `{file}` (root `{root}`), compiled on first use.");
    quote! {
        /// The root URL of the schema this code was generated from.
        pub const SCHEMA_ROOT: &str = #root;

        #[doc = #doc]
        pub fn schema() -> &'static ::owlpost::Schema {
            const JSON: &str = #json;
            static SCHEMA: ::std::sync::LazyLock<::owlpost::Schema> =
                ::std::sync::LazyLock::new(|| ::owlpost::__private::schema(#file, JSON));
            &SCHEMA
        }
    }
}

/// `text` as a raw string literal (`r#"..."#`, with as many `#` as it needs), so that the
/// embedded schema reads as the pretty-printed JSON it is.
fn raw_string(text: &str) -> proc_macro2::Literal {
    let hashes = "#".repeat((0..).find(|n| !text.contains(&format!("\"{}", "#".repeat(*n)))).unwrap_or(0));
    format!("r{hashes}\"{text}\"{hashes}").parse().expect("a raw string literal")
}

/// The `Message` impls of one message type's payloads, and its marker trait.
pub fn message(model: &Model, message: &MessageDef) -> TokenStream {
    let message_type = &message.message_type;
    let marker = ident(&message.names.marker);
    let marker_doc = format!(" The payload types of `{message_type}`, one per major version.");
    let impls = message.majors.iter().map(|major| {
        let ty = ident(&major.type_name);
        let (number, minor) = (major.major, major.latest.minor);
        let topic = &major.topic;
        let (doc, validation) = validation(model, &major.pointer, &major.schema);
        quote! {
            #[doc = #doc]
            impl ::owlpost::Message for #ty {
                const MESSAGE_TYPE: &'static str = #message_type;
                const MAJOR: u32 = #number;
                const MINOR: u32 = #minor;
                const DEFAULT_TOPIC: &'static str = #topic;
                #validation
                fn schema() -> &'static ::owlpost::Schema {
                    schema()
                }
            }
            impl #marker for #ty {}
        }
    });
    quote! {
        #[doc = #marker_doc]
        pub trait #marker: ::owlpost::Message {}
        #(#impls)*
    }
}

/// The doc and the `VALIDATION` const of a payload type: what its Rust type enforces of its
/// schema (see `enforced`).
fn validation(model: &Model, pointer: &str, schema: &serde_json::Value) -> (String, TokenStream) {
    let checks = enforced(model.schema.document(), pointer, schema).and_then(|checks| {
        // A subschema jsonschema did not compile under its pointer could not be checked.
        match checks.iter().find(|check| !model.schema.has_subschema(&check.fragment())) {
            Some(check) => Err(format!("a string schema without its own validator at {}", check.pointer)),
            None => Ok(checks),
        }
    });
    match checks {
        Ok(checks) if checks.is_empty() => (
            " Valid by construction: the Rust type enforces the whole schema, so publishing serializes it straight to the body.".to_owned(),
            quote! { const VALIDATION: ::owlpost::Validation = ::owlpost::Validation::Construction; },
        ),
        Ok(checks) => {
            let paths: Vec<String> = checks.iter().map(|check| format!("`{}`", instance_path(check))).collect();
            let doc = format!(
                " Its Rust type enforces the whole schema but the strings at {}: the typed publish (in attributes encoding, without default headers) and consume write and read it straight, then validate those strings against their own schemas.",
                paths.join(", ")
            );
            let checks = checks.iter().map(|check| {
                let steps = check.path.iter().map(|step| match step {
                    Step::Field(name) => quote! { ::owlpost::Step::Field(#name) },
                    Step::Item => quote! { ::owlpost::Step::Item },
                });
                let fragment = check.fragment();
                quote! { ::owlpost::StringCheck { path: &[#(#steps),*], schema: #fragment } }
            });
            (doc, quote! { const VALIDATION: ::owlpost::Validation = ::owlpost::Validation::Strings(&[#(#checks),*]); })
        }
        Err(construct) => (
            format!(" Validated against the schema when published: its Rust type does not enforce {construct}."),
            quote! {},
        ),
    }
}

/// Where a checked string is in the payload, as a JSON pointer with `*` for every item.
fn instance_path(check: &CheckedString) -> String {
    check.path.iter().fold(String::new(), |path, step| match step {
        Step::Field(name) => crate::pointer::join(&path, name),
        Step::Item => path + "/*",
    })
}
