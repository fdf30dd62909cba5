//! The embedded schema (of message and task documents alike) and the `owlpost::Message`
//! impl of each payload type.

use proc_macro2::TokenStream;
use quote::quote;

use crate::enforced::unenforced;
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
        let (doc, enforced) = match unenforced(model.schema.document(), &major.pointer, &major.schema) {
            None => (
                " Valid by construction: the Rust type enforces the whole schema, so publishing serializes it straight to the body.".to_owned(),
                quote! { const VALID_BY_CONSTRUCTION: bool = true; },
            ),
            Some(construct) => (
                format!(" Validated against the schema when published: its Rust type does not enforce {construct}."),
                quote! {},
            ),
        };
        quote! {
            #[doc = #doc]
            impl ::owlpost::Message for #ty {
                const MESSAGE_TYPE: &'static str = #message_type;
                const MAJOR: u32 = #number;
                const MINOR: u32 = #minor;
                const DEFAULT_TOPIC: &'static str = #topic;
                #enforced
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
