//! The Taskhawk protocol: background tasks on a service's own queues, one per [`Priority`]
//! (TASKHAWK.md). This module holds what is Taskhawk's own, beside Hedwig's: the task model
//! ([`Task`], [`OutgoingTask`], [`ReceivedTask`]), dispatching ([`Dispatcher`]), routing
//! received tasks to typed handlers ([`TaskRouter`]), its resource names ([`TaskhawkNaming`])
//! and its wire format ([`wire`]); the backends, layouts and the consumer loop are the
//! protocol-neutral ones.

mod dispatch;
mod naming;
mod priority;
mod router;
mod schedule;
mod task;
pub mod wire;

pub use dispatch::{DispatchError, Dispatched, Dispatcher, DynamicTask};
pub use naming::TaskhawkNaming;
pub use priority::{Priority, UnknownPriority};
pub use router::TaskRouter;
pub use schedule::Schedule;
pub(crate) use schedule::parse_schedules;
pub use task::{IntoOutgoingTask, OutgoingTask, ReceivedTask, Task};

use crate::backend::Source;
use crate::consume::Prioritized;
use crate::layout::{ConsumedTopic, Provisioning};

/// One source over a service's priority queues, for one [`Consumer`](crate::Consumer)
/// under one in-flight bound: deliveries are handed out 8:4:2:1 (high, default, low, bulk)
/// while every queue has work, so higher priorities go first and bulk still gets 1 in 15;
/// a queue with nothing gives its share to the others. Each delivery's origin is its
/// priority, which a message that names none is taken to have.
pub fn sources<S: Source>(queues: impl IntoIterator<Item = (Priority, S)>) -> Prioritized {
    queues.into_iter().fold(Prioritized::new(), |all, (priority, source)| {
        all.with_source(priority.as_str(), priority.weight(), source)
    })
}

/// What provisioning creates for one priority of the service queue `queue`: the
/// priority's topic and its queue subscribed to it (names from [`TaskhawkNaming`] on
/// SNS/SQS and Pub/Sub), with a dead-letter queue.
pub fn provisioning(queue: &str, priority: Priority) -> Provisioning {
    let name = priority.queue(queue);
    Provisioning { consumes: vec![ConsumedTopic::new(&name)], ..Provisioning::new(name) }
}
