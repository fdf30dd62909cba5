//! Step 3: the model rendered as Rust items, one module per concern.

mod consume;
mod crate_docs;
mod messages;
mod publish;
mod types;

use quote::quote;

pub use crate_docs::crate_docs;

use crate::error::Result;
use crate::model::Model;

/// Every item of the generated file, in a fixed order: schema, types, then per message
/// type (sorted) its `Message` impls, publish function and handler trait.
pub fn render(model: &Model) -> Result<syn::File> {
    let mut items: syn::File = syn::parse_quote!();
    items.items.extend(parse(messages::schema(model)));
    items.items.extend(types::render(model)?);
    for message in &model.messages {
        items.items.extend(parse(messages::message(message)));
        items.items.extend(parse(publish::render(message)));
        items.items.extend(parse(consume::render(message)));
    }
    check_unique(model, &items)?;
    Ok(items)
}

/// Two items of one name would not compile: report it as a schema problem instead (typify
/// names nested types after their parents, which can meet a definition's name).
fn check_unique(model: &Model, items: &syn::File) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for item in &items.items {
        let ident = match item {
            syn::Item::Struct(i) => &i.ident,
            syn::Item::Enum(i) => &i.ident,
            syn::Item::Trait(i) => &i.ident,
            syn::Item::Fn(i) => &i.sig.ident,
            syn::Item::Const(i) => &i.ident,
            syn::Item::Type(i) => &i.ident,
            syn::Item::Mod(i) => &i.ident,
            _ => continue,
        };
        if !seen.insert(ident.to_string()) {
            return Err(crate::Error::NameCollision {
                path: model.path.clone(),
                pointer: String::new(),
                name: ident.to_string(),
                first: "a generated item".into(),
                second: "another generated item (a nested type named like a definition or message?)".into(),
            });
        }
    }
    Ok(())
}

fn parse(tokens: proc_macro2::TokenStream) -> Vec<syn::Item> {
    // Our own `quote!` output always parses; a failure is a bug worth a loud panic in tests.
    let file: syn::File = syn::parse2(quote!(#tokens)).expect("owlpost-codegen rendered invalid Rust");
    file.items
}
