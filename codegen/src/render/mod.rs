//! Step 3: the model rendered as Rust items, one module per concern.

mod consume;
mod messages;
mod publish;
mod types;

use quote::quote;

use crate::error::Result;
use crate::model::Model;
use crate::parse::SchemaFile;

/// Every item of the generated file, in a fixed order: schema, types, then per message
/// type (sorted) its `Message` impls, publish function and handler trait.
pub fn render(file: &SchemaFile, model: &Model) -> Result<syn::File> {
    let mut items: syn::File = syn::parse_quote!();
    items.items.extend(parse(messages::schema(model)));
    items.items.extend(types::render(file, model)?);
    for message in &model.messages {
        items.items.extend(parse(messages::message(message)));
        items.items.extend(parse(publish::render(message)));
        items.items.extend(parse(consume::render(message)));
    }
    Ok(items)
}

fn parse(tokens: proc_macro2::TokenStream) -> Vec<syn::Item> {
    // Our own `quote!` output always parses; a failure is a bug worth a loud panic in tests.
    let file: syn::File = syn::parse2(quote!(#tokens)).expect("owlpost-codegen rendered invalid Rust");
    file.items
}
