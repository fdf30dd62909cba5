//! Per Taskhawk task: the `owlpost::taskhawk::Task` impl of its input type,
//! `dispatch_<task>()`, its handler trait and the function registering it with a router.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::TaskDef;
use crate::naming::{self, ident};

/// Every item of one task.
pub fn render(task: &TaskDef) -> TokenStream {
    let name = &task.name;
    let names = &task.names;
    let (input, dispatch, handler, method, register) = (
        ident(&names.input),
        ident(&names.dispatch),
        ident(&names.handler),
        ident(&names.method),
        ident(&names.register),
    );
    let priority = ident(&naming::pascal(task.priority.as_str()));
    let description: Vec<String> = task.description.iter().map(|d| format!(" {d}")).collect();
    let dispatch_doc =
        format!(" Validates and dispatches a `{name}` task (input {}) to the `{}` queue.", task.latest, task.priority);
    let dispatch_detail =
        format!(" `task` is a [`{}`] or an outgoing task wrapping one, to set headers or the id.", names.input);
    let trait_doc = format!(" Handles `{name}` tasks. Register an implementation with [`{}`].", names.register);
    let method_doc = format!(" Runs one `{name}` task; its input was validated against the schema.");
    let register_doc = format!(" Routes `{name}` tasks to `handler`.");
    quote! {
        impl ::owlpost::taskhawk::Task for #input {
            const NAME: &'static str = #name;
            const PRIORITY: ::owlpost::taskhawk::Priority = ::owlpost::taskhawk::Priority::#priority;
            fn schema() -> &'static ::owlpost::Schema {
                schema()
            }
        }

        #[doc = #dispatch_doc]
        #(#[doc = ""] #[doc = #description])*
        #[doc = ""]
        #[doc = #dispatch_detail]
        pub async fn #dispatch<T>(
            dispatcher: &::owlpost::taskhawk::Dispatcher,
            task: T,
        ) -> ::std::result::Result<::owlpost::taskhawk::Dispatched, ::owlpost::taskhawk::DispatchError>
        where
            T: ::owlpost::taskhawk::IntoOutgoingTask<Task = #input>,
        {
            dispatcher.dispatch(task).await
        }

        #[doc = #trait_doc]
        #(#[doc = ""] #[doc = #description])*
        pub trait #handler: ::std::marker::Send + ::std::marker::Sync + 'static {
            #[doc = #method_doc]
            fn #method(
                &self,
                task: ::owlpost::taskhawk::ReceivedTask<#input>,
            ) -> impl ::std::future::Future<Output = ::owlpost::HandlerResult> + ::std::marker::Send;
        }

        #[doc = #register_doc]
        pub fn #register<H: #handler>(router: &mut ::owlpost::taskhawk::TaskRouter, handler: H) {
            let handler = ::std::sync::Arc::new(handler);
            router.route(move |task: ::owlpost::taskhawk::ReceivedTask<#input>| {
                let h = ::std::sync::Arc::clone(&handler);
                async move { h.#method(task).await }
            });
        }
    }
}
