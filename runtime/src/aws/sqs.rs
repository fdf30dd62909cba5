//! Consuming from SQS: long polling, raw and SNS-wrapped bodies, leases, dead letters.

use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};

use super::{Aws, MAX_BATCH, sdk_error, secs};
use crate::acks::{AckGroups, SendGroup};
use crate::attributes::Attributes;
use crate::backend::WireMessage;
use crate::backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, Requeued, Source};

/// The consumer's source reading one service queue, `HEDWIG-<QUEUE>`.
#[derive(Clone, Debug)]
pub struct SqsSource {
    client: aws_sdk_sqs::Client,
    /// The queue's dead-letter queue, by name.
    dead_letter_name: String,
    url: String,
    wait: Duration,
    visibility: Duration,
    dead_letter_url: std::sync::Arc<tokio::sync::OnceCell<String>>,
    /// Acks go out grouped (`DeleteMessageBatch`): under load one request settles ten.
    acks: std::sync::Arc<AckGroups>,
}

impl SqsSource {
    pub(super) async fn open(aws: Aws, queue: &str) -> Result<Self, BackendError> {
        let client = aws.sqs();
        let url = queue_url(&client, &aws.layout.queue_name(queue)).await?;
        Ok(Self {
            acks: AckGroups::new(MAX_BATCH, delete_batch(client.clone(), url.clone())),
            client,
            dead_letter_name: aws.layout.dead_letter_queue_name(queue),
            url,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(30),
            dead_letter_url: Default::default(),
        })
    }

    /// How long a received message stays hidden before SQS hands it out again (default
    /// 30 s, at most 12 h), asked for on every receive whatever the queue's own setting;
    /// the consumer extends it while the handler runs.
    pub fn with_visibility_timeout(mut self, visibility: Duration) -> Self {
        self.visibility = visibility.min(Duration::from_secs(12 * 60 * 60));
        self
    }

    /// How long a receive waits for messages (long polling; default and maximum 20 s).
    pub fn with_wait_time(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Moves every message of `HEDWIG-<QUEUE>-DLQ` back to `HEDWIG-<QUEUE>`: each batch is
    /// sent, then deleted from the dead-letter queue only where the send succeeded.
    pub(super) async fn move_dead_letters(
        &self,
        progress: &mut (dyn FnMut(&Requeued) + Send),
    ) -> Result<Requeued, BackendError> {
        let dlq_url = queue_url(&self.client, &self.dead_letter_name).await?;
        let mut report = Requeued::default();
        loop {
            let received = self
                .client
                .receive_message()
                .queue_url(&dlq_url)
                .max_number_of_messages(MAX_BATCH as i32)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| sdk_error("SQS ReceiveMessage", e, || not_found(&dlq_url)))?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(report);
            }
            self.requeue_batch(&dlq_url, messages, &mut report).await?;
            progress(&report);
        }
    }

    async fn requeue_batch(
        &self,
        dlq_url: &str,
        messages: Vec<Message>,
        report: &mut Requeued,
    ) -> Result<(), BackendError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .set_message_body(message.body.clone())
                    .set_message_attributes(message.message_attributes.clone())
                    .build()
                    .map_err(|e| BackendError::Rejected { reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("SQS SendMessageBatch", e, || not_found(&self.url)))?;
        report
            .failed
            .extend(sent.failed.iter().map(|f| format!("{}: {}", f.code, f.message.clone().unwrap_or_default())));
        let deletes = sent
            .successful
            .iter()
            .filter_map(|ok| {
                let receipt = messages.get(ok.id.parse::<usize>().ok()?)?.receipt_handle.clone()?;
                DeleteMessageBatchRequestEntry::builder().id(ok.id.clone()).receipt_handle(receipt).build().ok()
            })
            .collect::<Vec<_>>();
        if deletes.is_empty() {
            return Ok(());
        }
        let deleted = self
            .client
            .delete_message_batch()
            .queue_url(dlq_url)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(|e| sdk_error("SQS DeleteMessageBatch", e, || not_found(dlq_url)))?;
        report.moved += deleted.successful.len();
        report.failed.extend(deleted.failed.iter().map(|f| format!("sent but not deleted from the DLQ: {}", f.code)));
        Ok(())
    }
}

/// One `DeleteMessageBatch` for a group of receipt handles, a result for each.
fn delete_batch(client: aws_sdk_sqs::Client, url: String) -> SendGroup {
    std::sync::Arc::new(move |receipts: Vec<String>| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move {
            let entries = receipts.iter().enumerate().map(|(index, receipt)| {
                DeleteMessageBatchRequestEntry::builder().id(index.to_string()).receipt_handle(receipt).build()
            });
            let all = |result: Result<(), BackendError>| vec![result; receipts.len()];
            let entries = match entries.collect::<Result<Vec<_>, _>>() {
                Ok(entries) => entries,
                Err(e) => return all(Err(BackendError::Rejected { reason: e.to_string() })),
            };
            let sent = client.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await;
            let output = match sent {
                Ok(output) => output,
                Err(e) => return all(Err(sdk_error("SQS DeleteMessageBatch", e, || not_found(&url)))),
            };
            let mut results = all(Ok(()));
            for failed in &output.failed {
                if let Some(slot) = failed.id.parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
                    let reason = format!("{}: {}", failed.code, failed.message.clone().unwrap_or_default());
                    *slot = Err(BackendError::Rejected { reason: format!("SQS DeleteMessageBatch: {reason}") });
                }
            }
            results
        })
    })
}

pub(super) async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> Result<String, BackendError> {
    let output = client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("SQS GetQueueUrl", e, || not_found(name)))?;
    output.queue_url.ok_or_else(|| not_found(name))
}

fn not_found(queue: &str) -> BackendError {
    BackendError::QueueNotFound { queue: queue.to_owned() }
}

impl Source for SqsSource {
    fn receive(&self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, BackendError>> {
        Box::pin(async move {
            let output = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
                .wait_time_seconds(secs(self.wait))
                .visibility_timeout(secs(self.visibility))
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| sdk_error("SQS ReceiveMessage", e, || not_found(&self.url)))?;
            let lease = Duration::from_secs(secs(self.visibility) as u64);
            Ok(output.messages.unwrap_or_default().into_iter().map(|m| delivery(m, lease)).collect())
        })
    }

    /// Grouped with the acks that arrive while a request is out: one `DeleteMessageBatch`
    /// settles up to ten under load; an ack alone goes at once.
    fn ack<'a>(&'a self, ack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.acks.ack(ack_id))
    }

    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        self.extend(ack_id, delay)
    }

    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            // SQS allows 0 to 12 hours.
            let seconds = secs(by).min(12 * 60 * 60);
            self.client
                .change_message_visibility()
                .queue_url(&self.url)
                .receipt_handle(ack_id)
                .visibility_timeout(seconds)
                .send()
                .await
                .map_err(|e| sdk_error("SQS ChangeMessageVisibility", e, || not_found(&self.url)))?;
            Ok(())
        })
    }

    /// Sends the message, body and attributes as received, to `HEDWIG-<QUEUE>-DLQ`.
    fn dead_letter<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let dlq_url =
                self.dead_letter_url.get_or_try_init(|| queue_url(&self.client, &self.dead_letter_name)).await?;
            let attributes = attributes(&delivery.message.attributes)?;
            self.client
                .send_message()
                .queue_url(dlq_url)
                .message_body(String::from_utf8_lossy(&delivery.message.body))
                .set_message_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| sdk_error("SQS SendMessage", e, || not_found(&self.dead_letter_name)))?;
            Ok(())
        })
    }
}

/// String attributes as SQS takes them.
pub(super) fn attributes(
    attributes: &Attributes,
) -> Result<std::collections::HashMap<String, MessageAttributeValue>, BackendError> {
    attributes
        .iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder().data_type("String").string_value(value).build();
            Ok((name.to_owned(), value.map_err(|e| BackendError::Rejected { reason: e.to_string() })?))
        })
        .collect()
}

/// An SQS message as a delivery: string attributes, or, for a subscription without raw
/// delivery, the `Message` and `MessageAttributes` of SNS's JSON envelope.
fn delivery(message: Message, lease: Duration) -> Delivery {
    let body = message.body.unwrap_or_default();
    let attributes = string_attributes(message.message_attributes.unwrap_or_default());
    let wire = match attributes.is_empty().then(|| WireMessage::from_sns_notification(&body)).flatten() {
        Some(unwrapped) => unwrapped,
        None => WireMessage { body: body.into_bytes(), attributes },
    };
    let system = message.attributes.unwrap_or_default();
    let number = |name: MessageSystemAttributeName| system.get(&name).and_then(|v| v.parse::<i64>().ok());
    let provider = ProviderMetadata::Aws {
        receive_count: number(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or(1) as u32,
        sent_timestamp: number(MessageSystemAttributeName::SentTimestamp),
        first_receive_timestamp: number(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
        receipt_handle: message.receipt_handle.clone().unwrap_or_default(),
    };
    Delivery {
        ack_id: message.receipt_handle.unwrap_or_default(),
        message: wire,
        provider,
        lease: Some(lease),
        origin: None,
    }
}

fn string_attributes(attributes: std::collections::HashMap<String, MessageAttributeValue>) -> Attributes {
    attributes.into_iter().filter_map(|(k, v)| Some((k, v.string_value?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference capture of an SQS body delivered by SNS without raw delivery.
    #[test]
    fn sns_wrapped_bodies_are_unwrapped() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire-samples/sqs-sns-wrapped-body.json");
        let sample: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let message = Message::builder().body(sample["Body"].to_string()).receipt_handle("r-1").build();
        let delivery = delivery(message, Duration::from_secs(30));
        assert_eq!(delivery.message.body, br#"{"user_id":"U_1234"}"#);
        assert_eq!(delivery.message.attributes["hedwig_id"], "467f08be-5760-4dbe-9f08-7afeacd26ac8");
        assert_eq!(delivery.message.attributes["hedwig_format_version"], "1.0");
        assert_eq!(delivery.ack_id, "r-1");
    }

    #[test]
    fn raw_bodies_are_left_alone() {
        let body = r#"{"Type":"Notification","Message":"x"}"#;
        let attribute = MessageAttributeValue::builder().data_type("String").string_value("1.0").build().unwrap();
        let message = Message::builder().body(body).message_attributes("hedwig_format_version", attribute).build();
        assert_eq!(delivery(message, Duration::ZERO).message.body, body.as_bytes(), "attributes present: raw delivery");
    }
}
