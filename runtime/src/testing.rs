//! Helpers for testing a service's own code: a publisher (or task dispatcher) that records
//! instead of sending, with typed asserts, and a way to run a handler on a message (or a
//! task) without a broker.
//!
//! ```ignore
//! let recording = Recording::new();
//! signup(&recording.publisher("signup"), "ada@example.com").await?;   // code under test
//! recording.assert_published::<UserCreatedV1>(|m| m.data.email == "ada@example.com");
//!
//! let processed = owlpost::testing::handle(&router, user).await?;   // validated like a publish
//! assert!(matches!(processed.outcome, Outcome::Acked));
//! ```

use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::{BackendError, BoxFuture, ProviderMetadata, Sink, WireMessage};
use crate::consume::{Dispatch, Processed};
use crate::schema::SchemaUrl;
use crate::taskhawk::{self, DispatchError, Dispatcher, IntoOutgoingTask, Priority, ReceivedTask, Task};
use crate::wire;
use crate::{IntoOutgoing, Message, PublishError, Publisher, Received};

/// A sink that keeps every message instead of sending it. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    published: Arc<Mutex<Vec<(String, WireMessage)>>>,
}

impl Recording {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// A publisher for the service `name` that records into this recording. Messages are
    /// validated and encoded exactly as they would be for a broker.
    pub fn publisher(&self, name: impl Into<String>) -> Publisher {
        Publisher::new(name, self.clone())
    }

    /// Everything published so far, in order: `(topic, wire message)`.
    pub fn messages(&self) -> Vec<(String, WireMessage)> {
        self.published.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forgets what was published.
    pub fn clear(&self) {
        self.published.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The published messages of `M`'s type and major, decoded, in order.
    pub fn published<M: Message>(&self) -> Vec<Received<M>> {
        self.messages().iter().filter_map(|(_, wire)| decode::<M>(wire)).collect()
    }

    /// The first published `M` that `matches` accepts. Panics, listing what was published,
    /// when there is none.
    #[track_caller]
    pub fn assert_published<M: Message>(&self, matches: impl Fn(&Received<M>) -> bool) -> Received<M> {
        match self.published::<M>().into_iter().find(|m| matches(m)) {
            Some(found) => found,
            None => panic!(
                "no `{}` major {} published that matches; published: {}",
                M::MESSAGE_TYPE,
                M::MAJOR,
                self.listing()
            ),
        }
    }

    /// Panics, listing them, if any `M` was published.
    #[track_caller]
    pub fn assert_not_published<M: Message>(&self) {
        let count = self.published::<M>().len();
        assert!(count == 0, "{count} `{}` major {} published: {}", M::MESSAGE_TYPE, M::MAJOR, self.listing());
    }

    fn listing(&self) -> String {
        let messages = self.messages();
        if messages.is_empty() {
            return "nothing".to_owned();
        }
        messages.iter().fold(String::new(), |mut text, (topic, wire)| {
            let _ = match (wire::decode(wire), taskhawk::wire::decode(wire, Priority::Default)) {
                (Ok((metadata, data)), _) => write!(text, "\n  {topic}: {} {data}", metadata.schema),
                (_, Ok(task)) => write!(text, "\n  {topic}: task {} {:?}", task.task, task.kwargs),
                (Err(error), Err(_)) => write!(text, "\n  {topic}: undecodable ({error})"),
            };
            text
        })
    }
}

impl Recording {
    /// A task dispatcher for the service queue `queue` that records into this recording.
    /// Tasks are validated and encoded exactly as they would be for a broker; each is
    /// recorded under its priority's topic (`<queue>`, `<queue>-high-priority`, …).
    pub fn dispatcher(&self, queue: impl Into<String>) -> Dispatcher {
        Dispatcher::new(queue, self.clone())
    }

    /// The dispatched tasks `T`, decoded, in order.
    pub fn dispatched<T: Task>(&self) -> Vec<ReceivedTask<T>> {
        self.messages().iter().filter_map(|(_, wire)| decode_task::<T>(wire)).collect()
    }

    /// The first dispatched `T` that `matches` accepts. Panics, listing what was recorded,
    /// when there is none.
    #[track_caller]
    pub fn assert_dispatched<T: Task>(&self, matches: impl Fn(&ReceivedTask<T>) -> bool) -> ReceivedTask<T> {
        match self.dispatched::<T>().into_iter().find(|t| matches(t)) {
            Some(found) => found,
            None => panic!("no task `{}` dispatched that matches; recorded: {}", T::NAME, self.listing()),
        }
    }

    /// Panics, listing them, if any `T` was dispatched.
    #[track_caller]
    pub fn assert_not_dispatched<T: Task>(&self) {
        let count = self.dispatched::<T>().len();
        assert!(count == 0, "{count} task(s) `{}` dispatched: {}", T::NAME, self.listing());
    }
}

fn decode_task<T: Task>(wire: &WireMessage) -> Option<ReceivedTask<T>> {
    let mut message = taskhawk::wire::decode(wire, Priority::Default).ok()?;
    if message.task != T::NAME {
        return None;
    }
    let input = serde_json::from_value(serde_json::Value::Object(std::mem::take(&mut message.kwargs))).ok()?;
    Some(ReceivedTask::new(input, message, ProviderMetadata::None))
}

fn decode<M: Message>(wire: &WireMessage) -> Option<Received<M>> {
    let (metadata, data) = wire::decode(wire).ok()?;
    let url = SchemaUrl::parse(&metadata.schema)?;
    if url.message_type != M::MESSAGE_TYPE || url.version.major != M::MAJOR {
        return None;
    }
    let data = serde_json::from_value(data).ok()?;
    Some(Received { data, version: url.version, metadata, provider: ProviderMetadata::None })
}

impl Sink for Recording {
    fn publish<'a>(&'a self, topic: &'a str, message: &'a WireMessage) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move {
            let mut published = self.published.lock().unwrap_or_else(PoisonError::into_inner);
            published.push((topic.to_owned(), message.clone()));
            Ok(format!("recorded-{}", published.len()))
        })
    }
}

/// Runs `router`'s handler on `message` as a consumer would, without a broker: the message
/// is validated and encoded as a publish would (so an invalid one is a [`PublishError`]),
/// then decoded, validated and dispatched. The handler sees [`ProviderMetadata::None`].
pub async fn handle<O: IntoOutgoing>(router: &impl Dispatch, message: O) -> Result<Processed, PublishError> {
    let recording = Recording::new();
    recording.publisher("owlpost-test").publish(message).await?;
    let (_, wire) = recording.messages().pop().expect("a successful publish recorded one message");
    Ok(crate::dispatch(router, wire, ProviderMetadata::None).await)
}

/// Runs `router`'s handler on a task as a worker would, without a broker: the task is
/// validated and encoded as a dispatch would (so an invalid one is a [`DispatchError`]),
/// then decoded, validated and routed. The handler sees [`ProviderMetadata::None`].
pub async fn handle_task<O: IntoOutgoingTask>(router: &impl Dispatch, task: O) -> Result<Processed, DispatchError> {
    let recording = Recording::new();
    recording.dispatcher("owlpost-test").dispatch(task).await?;
    let (_, wire) = recording.messages().pop().expect("a successful dispatch recorded one message");
    Ok(crate::dispatch(router, wire, ProviderMetadata::None).await)
}
