//! The bodies of owlpost's fuzz targets. `fuzz/fuzz_targets/*.rs` (cargo-fuzz, run by
//! `cargo xtask fuzz`) call them with libFuzzer's inputs; `tests/replay.rs` calls them on
//! every seed and on every input that once failed (`fuzz/regressions/<target>/`), on the
//! stable toolchain, in the test suite.
//!
//! Each target returns normally for every input. It panics only when owlpost breaks one of
//! its promises: a panic inside owlpost, or a property below that does not hold.

use std::path::Path;
use std::sync::LazyLock;

use owlpost::taskhawk::{self, Priority, TaskRouter};
use owlpost::wire::{self, Encoding};
use owlpost::{Outcome, ProviderMetadata, Router, WireMessage};
use owlpost_e2e::messages::{OrderPlacedV1, UserCreatedV1, UserCreatedV2, UserDeletedV1};
use owlpost_e2e::tasks::{ChargeCustomerCardInput, RebuildInput, RemindOverdueInput, SendInvoiceInput};
use serde_json::Value;

/// A fuzz target: bytes in, a panic when owlpost breaks a promise.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name cargo-fuzz runs them under.
pub const TARGETS: [(&str, Target); 4] =
    [("delivery", delivery), ("schema", schema), ("compat", compat), ("validate", validate)];

/// Runs `target` as libFuzzer does, counting only the panics that escape it: one that
/// owlpost catches itself (the code generator runs typify behind `catch_unwind`) is not a
/// failure, but libfuzzer-sys's own panic hook aborts on every panic. Call
/// [`libfuzzer_init`] first.
pub fn run_for_libfuzzer(target: Target, data: &[u8]) {
    if std::panic::catch_unwind(|| target(data)).is_err() {
        LAST_PANIC.with(|last| eprintln!("panic escaped the target: {}", last.borrow()));
        std::process::abort();
    }
}

/// Replaces libfuzzer-sys's panic hook (which aborts at once) with one that keeps the last
/// panic's message for [`run_for_libfuzzer`].
pub fn libfuzzer_init() {
    std::panic::set_hook(Box::new(|info| LAST_PANIC.with(|last| *last.borrow_mut() = info.to_string())));
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A delivery as text: `name=value` attribute lines, an empty line, then the body (any
/// bytes). An input without an empty line is all body, with no attributes.
pub fn frame(bytes: &[u8]) -> WireMessage {
    let Some(split) = bytes.windows(2).position(|w| w == b"\n\n") else {
        return WireMessage { body: bytes.to_vec(), attributes: Default::default() };
    };
    let head = String::from_utf8_lossy(&bytes[..split]);
    let attributes = head
        .lines()
        .map(|line| line.split_once('=').unwrap_or((line, "")))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    WireMessage { body: bytes[split + 2..].to_vec(), attributes }
}

/// Decoding a delivery from arbitrary bytes and attributes: Hedwig in either mode (and
/// base64 bodies), SNS's envelope, Taskhawk bodies, then routing through a router of the
/// example schema's message types and one of the example task schema's tasks.
///
/// Properties: what decodes re-encodes to a message that decodes the same (a task whose
/// body carries a header with Taskhawk's reserved prefix is refused by the encoder, and only
/// such a task); routing settles
/// every delivery with a typed outcome (handled, or rejected with a `ConsumeError`), never
/// a panic.
pub fn delivery(bytes: &[u8]) {
    let framed = frame(bytes);
    let unwrapped = std::str::from_utf8(&framed.body).ok().and_then(WireMessage::from_sns_notification);
    for message in std::iter::once(framed).chain(unwrapped) {
        if let Ok((metadata, data)) = wire::decode(&message) {
            let again = wire::encode(&metadata, &data, Encoding::Attributes).expect("attributes mode encodes anything");
            let decoded = wire::decode(&again).expect("a re-encoded message decodes");
            assert_eq!(decoded, (metadata, data), "re-encoded {again:?}");
        }
        if let Ok(task) = taskhawk::wire::decode(&message, Priority::Default) {
            // A body may carry a header named like Taskhawk's own attributes (the decoder
            // keeps what was sent); the encoder refuses exactly those, as a dispatch does.
            let reserved = task.headers.keys().any(|key| key.starts_with(taskhawk::wire::attr::RESERVED_PREFIX));
            match taskhawk::wire::encode(&task) {
                Err(taskhawk::wire::EncodeError::ReservedHeader { .. }) if reserved => {}
                Err(error) => panic!("a decoded task does not encode: {error}"),
                Ok(again) => {
                    assert!(!reserved, "a reserved header was encoded");
                    let decoded = taskhawk::wire::decode(&again, task.priority).expect("a re-encoded task decodes");
                    assert_eq!(decoded, task, "re-encoded {again:?}");
                }
            }
        }
        RUNTIME.block_on(async {
            let provider = ProviderMetadata::Memory { queue: "fuzz".into(), receive_count: 1 };
            for processed in [
                owlpost::dispatch(&*MESSAGES, message.clone(), provider.clone()).await,
                owlpost::dispatch(&*TASKS, message.clone(), provider).await,
            ] {
                assert!(
                    matches!(processed.outcome, Outcome::Acked | Outcome::Rejected(_)),
                    "{processed:?} for {message:?}"
                );
            }
        });
    }
}

/// Parsing and compiling a schema document, and the whole generator on it (parse → model →
/// render → format): a typed error or code, never a panic, a hang or unbounded memory
/// (libFuzzer's `-timeout` and `-rss_limit_mb` catch those).
pub fn schema(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(file) = owlpost_codegen::parse::parse(Path::new("fuzz.json"), text) {
        let _ = owlpost_codegen::generate_file(&file);
    }
}

/// `compat` on a pair of schemas: the old document, a line `---`, the new one (without
/// that line, the document against itself).
///
/// Property: each document compared with itself has no change at all.
pub fn compat(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let (old, new) = text.split_once("\n---\n").unwrap_or((text, text));
    let document = |text: &str| {
        let value = serde_json::from_str(text).ok()?;
        owlpost::Document::parse("fuzz.json", value).ok()
    };
    let (Some(old), Some(new)) = (document(old), document(new)) else { return };
    let _ = owlpost_codegen::compat::compare(&old, &new);
    for document in [&old, &new] {
        let same = owlpost_codegen::compat::compare(document, document);
        assert!(same.is_empty(), "a document compared with itself changed: {same:?}");
    }
}

/// Validating arbitrary JSON against each major of the example schema.
///
/// Properties: a rejection's JSON pointer is a location in the document; a document the
/// schema accepts and the payload type reads serializes back to a document the schema
/// accepts (what a consumer republishes is valid).
pub fn validate(bytes: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return };
    check::<UserCreatedV1>(&value);
    check::<UserCreatedV2>(&value);
    check::<OrderPlacedV1>(&value);
    check::<UserDeletedV1>(&value);
}

fn check<M: owlpost::Message>(value: &Value) {
    let schema = M::schema();
    match schema.validate(M::MESSAGE_TYPE, M::version(), value) {
        Err(error) => assert!(value.pointer(&error.pointer).is_some(), "{error} is no location of {value}"),
        Ok(()) => {
            if let Ok(typed) = serde_json::from_value::<M>(value.clone()) {
                let again = serde_json::to_value(&typed).expect("a payload serializes");
                if let Err(error) = schema.validate(M::MESSAGE_TYPE, M::version(), &again) {
                    panic!("{} read from {value} serializes to the invalid {again}: {error}", M::MESSAGE_TYPE);
                }
            }
        }
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime"));

/// Every message major of the example schema, each with a handler that succeeds.
static MESSAGES: LazyLock<Router> = LazyLock::new(|| {
    let mut router = Router::new();
    router.route::<UserCreatedV1, _, _>(|_| async { Ok(()) });
    router.route::<UserCreatedV2, _, _>(|_| async { Ok(()) });
    router.route::<OrderPlacedV1, _, _>(|_| async { Ok(()) });
    router.route::<UserDeletedV1, _, _>(|_| async { Ok(()) });
    router
});

/// Every task of the example task schema, each with a handler that succeeds.
static TASKS: LazyLock<TaskRouter> = LazyLock::new(|| {
    let mut router = TaskRouter::new();
    router.route::<SendInvoiceInput, _, _>(|_| async { Ok(()) });
    router.route::<ChargeCustomerCardInput, _, _>(|_| async { Ok(()) });
    router.route::<RemindOverdueInput, _, _>(|_| async { Ok(()) });
    router.route::<RebuildInput, _, _>(|_| async { Ok(()) });
    router
});
