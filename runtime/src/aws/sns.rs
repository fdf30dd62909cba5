//! Publishing to SNS, with SNS's limits checked before anything is sent.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use base64::Engine;

use super::{Aws, MAX_ATTRIBUTES, MAX_BATCH, MAX_MESSAGE_BYTES, sdk_error};
use crate::attributes::Attributes;
use crate::backend::WireMessage;
use crate::backend::{BackendError, BoxFuture, Sink};

/// The sink publishing wire messages to SNS topics (a [`Sink`]).
#[derive(Clone, Debug)]
pub struct SnsSink {
    aws: Aws,
    client: aws_sdk_sns::Client,
}

impl SnsSink {
    pub(super) fn new(aws: Aws) -> Self {
        let client = aws.sns();
        Self { aws, client }
    }

    fn encoding(&self) -> &'static str {
        self.aws.layout.naming().encoding_attribute()
    }
}

/// A message as SNS takes it: a text body and string attributes.
struct SnsMessage {
    body: String,
    attributes: HashMap<String, MessageAttributeValue>,
}

/// Checks SNS's limits and converts: a body that is not UTF-8 travels as base64 with the
/// protocol's encoding attribute (`encoding`, Hedwig's `hedwig_encoding`) set to `base64`;
/// every attribute is a `String`.
///
/// A message that would carry no attribute at all (container mode without headers) gets
/// `hedwig_encoding=utf8`: SQS then delivers it with no attribute map, and hedwig-python 11's
/// SQS consumer fails on that outside its error handling, which stops its consumer loop.
/// Readers only act on `hedwig_encoding=base64`, and none makes it a header.
fn to_sns(message: &WireMessage, encoding: &str) -> Result<SnsMessage, BackendError> {
    let (body, attributes) = checked(message, encoding)?;
    let attributes = attributes
        .into_iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder().data_type("String").string_value(value).build();
            value.map(|v| (name.into_owned(), v)).map_err(|e| BackendError::Rejected { reason: e.to_string() })
        })
        .collect::<Result<_, _>>()?;
    Ok(SnsMessage { body, attributes })
}

/// The text body and attributes SNS (or SQS) takes for `message`, within SNS's limits.
fn checked(message: &WireMessage, encoding: &str) -> Result<(String, Attributes), BackendError> {
    let mut attributes = message.attributes.clone();
    let body = match std::str::from_utf8(&message.body) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            attributes.insert(encoding.to_owned(), "base64");
            base64::engine::general_purpose::STANDARD.encode(&message.body)
        }
    };
    if attributes.is_empty() {
        attributes.insert(encoding.to_owned(), "utf8");
    }
    check_limits(&body, &attributes)?;
    Ok((body, attributes))
}

/// SNS's limits: size of body plus attributes, attribute count (raw delivery to SQS keeps
/// 10), non-empty values, attribute names of `[A-Za-z0-9_.-]`.
pub(super) fn check_limits(body: &str, attributes: &Attributes) -> Result<(), BackendError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(BackendError::LimitExceeded {
            limit: "message attributes (SNS raw delivery to SQS keeps 10)",
            max: MAX_ATTRIBUTES,
            actual: attributes.len(),
        });
    }
    let size = body.len() + attributes.iter().map(|(k, v)| k.len() + "String".len() + v.len()).sum::<usize>();
    if size > MAX_MESSAGE_BYTES {
        return Err(BackendError::LimitExceeded {
            limit: "SNS message size (body and attributes), bytes",
            max: MAX_MESSAGE_BYTES,
            actual: size,
        });
    }
    for (name, value) in attributes {
        let reason = if value.is_empty() {
            Some("SNS does not accept an empty attribute value")
        } else if name.is_empty() || name.len() > 256 {
            Some("attribute names are 1 to 256 characters")
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
            Some("attribute names may contain only A-Z, a-z, 0-9, `_`, `-` and `.`")
        } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            Some("attribute names may not start or end with `.` or contain `..`")
        } else if name.to_ascii_lowercase().starts_with("aws.") || name.to_ascii_lowercase().starts_with("amazon.") {
            Some("attribute names starting with `AWS.` or `Amazon.` are reserved")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(BackendError::InvalidAttribute { name: name.to_owned(), reason: reason.to_owned() });
        }
    }
    Ok(())
}

impl Sink for SnsSink {
    fn publish<'a>(&'a self, topic: &'a str, message: &'a WireMessage) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move {
            let SnsMessage { body, attributes } = to_sns(message, self.encoding())?;
            let arn = self.aws.layout.topic_arn(topic);
            let output = self
                .client
                .publish()
                .topic_arn(&arn)
                .message(body)
                .set_message_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| sdk_error("SNS Publish", e, || BackendError::TopicNotFound { topic: arn.clone() }))?;
            Ok(output.message_id.unwrap_or_default())
        })
    }

    /// Delays the arrival itself, on the SQS queue named like the topic (a Taskhawk
    /// priority's queue, its topic's only subscriber): up to
    /// [`Aws::with_max_queue_delay`] (15 min) with SQS `DelaySeconds`, in whole seconds
    /// rounded down (the consumer holds the rest); longer through a one-shot EventBridge
    /// Scheduler schedule (which carries the body only, no attributes), whose name is the
    /// returned id.
    fn publish_at<'a>(
        &'a self,
        topic: &'a str,
        message: &'a WireMessage,
        due: SystemTime,
    ) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move {
            let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
            if wait.as_secs() == 0 {
                return self.publish(topic, message).await;
            }
            if wait > self.aws.max_queue_delay {
                return self.aws.send_at(topic, message, due).await;
            }
            let (body, attributes) = checked(message, self.encoding())?;
            let queue = self.aws.layout.queue_name(topic);
            let sqs = self.aws.sqs();
            let url = super::sqs::queue_url(&sqs, &queue).await?;
            let output = sqs
                .send_message()
                .queue_url(url)
                .message_body(body)
                .delay_seconds(i32::try_from(wait.as_secs()).unwrap_or(i32::MAX))
                .set_message_attributes(Some(super::sqs::attributes(&attributes)?))
                .send()
                .await
                .map_err(|e| {
                    sdk_error("SQS SendMessage", e, || BackendError::QueueNotFound { queue: queue.clone() })
                })?;
            Ok(output.message_id.unwrap_or_default())
        })
    }

    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        messages: &'a [WireMessage],
    ) -> BoxFuture<'a, Vec<Result<String, BackendError>>> {
        Box::pin(async move {
            let arn = self.aws.layout.topic_arn(topic);
            let mut results = Vec::with_capacity(messages.len());
            for chunk in messages.chunks(MAX_BATCH) {
                results.extend(self.publish_chunk(&arn, chunk).await);
            }
            results
        })
    }
}

impl SnsSink {
    /// One `PublishBatch` of at most 10; a message over a limit fails alone, before sending.
    async fn publish_chunk(&self, arn: &str, chunk: &[WireMessage]) -> Vec<Result<String, BackendError>> {
        let mut results: Vec<Option<Result<String, BackendError>>> = vec![None; chunk.len()];
        let mut entries = Vec::new();
        for (index, message) in chunk.iter().enumerate() {
            match to_sns(message, self.encoding()).and_then(|m| {
                PublishBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message(m.body)
                    .set_message_attributes(Some(m.attributes))
                    .build()
                    .map_err(|e| BackendError::Rejected { reason: e.to_string() })
            }) {
                Ok(entry) => entries.push(entry),
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        if !entries.is_empty() {
            match self
                .client
                .publish_batch()
                .topic_arn(arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => {
                    for ok in output.successful.unwrap_or_default() {
                        if let Some(slot) = ok.id.as_deref().and_then(|id| id.parse::<usize>().ok()) {
                            results[slot] = Some(Ok(ok.message_id.unwrap_or_default()));
                        }
                    }
                    for failed in output.failed.unwrap_or_default() {
                        if let Ok(slot) = failed.id.parse::<usize>() {
                            let reason = format!("{}: {}", failed.code, failed.message.unwrap_or_default());
                            results[slot] = Some(Err(if failed.sender_fault {
                                BackendError::Rejected { reason }
                            } else {
                                BackendError::Unavailable { reason }
                            }));
                        }
                    }
                }
                Err(e) => {
                    let error =
                        sdk_error("SNS PublishBatch", e, || BackendError::TopicNotFound { topic: arn.to_owned() });
                    for slot in results.iter_mut().filter(|r| r.is_none()) {
                        *slot = Some(Err(error.clone()));
                    }
                }
            }
        }
        let unanswered =
            || Err(BackendError::Unavailable { reason: "SNS PublishBatch gave no result for this entry".into() });
        results.into_iter().map(|r| r.unwrap_or_else(unanswered)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(body: &[u8], attributes: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        let attributes = attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let message = to_sns(&WireMessage { body: body.to_vec(), attributes }, "hedwig_encoding").unwrap();
        let mut attributes: Vec<_> =
            message.attributes.into_iter().map(|(k, v)| (k, v.string_value().unwrap_or_default().to_owned())).collect();
        attributes.sort();
        (message.body, attributes)
    }

    fn pairs(attributes: &[(&str, &str)]) -> Vec<(String, String)> {
        attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_message_without_attributes_gets_hedwig_encoding_utf8() {
        assert_eq!(sent(b"{}", &[]), ("{}".to_owned(), pairs(&[("hedwig_encoding", "utf8")])));
        assert_eq!(sent(b"{}", &[("request_id", "r-1")]), ("{}".to_owned(), pairs(&[("request_id", "r-1")])));
        assert_eq!(sent(&[0xff, 0x00, 0xfe], &[]), ("/wD+".to_owned(), pairs(&[("hedwig_encoding", "base64")])));
    }
}
