//! The handler trait of each message type and the function registering it with a router.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::MessageDef;
use crate::naming::ident;

/// `<Type>Handler` and `register_<type>()`.
pub fn render(message: &MessageDef) -> TokenStream {
    let message_type = &message.message_type;
    let handler = ident(&message.names.handler);
    let register = ident(&message.names.register);
    let trait_doc = format!(
        " Handles `{message_type}` messages: one method per major version. Register an implementation with [`{}`].",
        message.names.register
    );
    let methods = message.majors.iter().map(|major| {
        let method = ident(&major.method);
        let ty = ident(&major.type_name);
        let summary =
            format!(" Handles `{message_type}` {}.x (up to {} and any newer minor).", major.major, major.latest);
        let description = major.description.as_deref().map(|d| format!(" {d}"));
        let description = description.iter();
        quote! {
            #[doc = #summary]
            #(#[doc = ""] #[doc = #description])*
            fn #method(
                &self,
                message: ::owlpost::Received<#ty>,
            ) -> impl ::std::future::Future<Output = ::owlpost::HandlerResult> + ::std::marker::Send;
        }
    });
    let routes = message.majors.iter().map(|major| {
        let method = ident(&major.method);
        let ty = ident(&major.type_name);
        quote! {
            let h = ::std::sync::Arc::clone(&handler);
            router.route(move |message: ::owlpost::Received<#ty>| {
                let h = ::std::sync::Arc::clone(&h);
                async move { h.#method(message).await }
            });
        }
    });
    let register_doc = format!(" Routes every major of `{message_type}` to `handler`.");
    quote! {
        #[doc = #trait_doc]
        pub trait #handler: ::std::marker::Send + ::std::marker::Sync + 'static {
            #(#methods)*
        }

        #[doc = #register_doc]
        pub fn #register<H: #handler>(router: &mut ::owlpost::Router, handler: H) {
            let handler = ::std::sync::Arc::new(handler);
            #(#routes)*
        }
    }
}
