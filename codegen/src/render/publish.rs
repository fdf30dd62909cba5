//! `publish_<type>()`: one function per message type, for every major.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::MessageDef;
use crate::naming::ident;

/// The publish function of one message type.
pub fn render(message: &MessageDef) -> TokenStream {
    let function = ident(&message.names.publish);
    let marker = ident(&message.names.marker);
    let message_type = &message.message_type;
    let types: Vec<String> = message.majors.iter().map(|m| format!("[`{}`]", m.type_name)).collect();
    let summary = format!(" Validates and publishes a `{message_type}` message.");
    let detail = format!(
        " `message` is a payload ({}) or an [`owlpost::Outgoing`] wrapping one, to set headers or the id. \
         It goes to the topic the publisher routes this major to (by default `{message_type}-v<major>`).",
        types.join(", ")
    );
    let descriptions = message.majors.iter().filter_map(|m| {
        let text = format!(" * {}.x: {}", m.major, m.description.as_deref()?);
        Some(quote! { #[doc = #text] })
    });
    quote! {
        #[doc = #summary]
        #[doc = ""]
        #(#descriptions)*
        #[doc = ""]
        #[doc = #detail]
        pub async fn #function<O>(
            publisher: &::owlpost::Publisher,
            message: O,
        ) -> ::std::result::Result<::owlpost::Published, ::owlpost::PublishError>
        where
            O: ::owlpost::IntoOutgoing,
            <O as ::owlpost::IntoOutgoing>::Message: #marker,
        {
            publisher.publish(message).await
        }
    }
}
