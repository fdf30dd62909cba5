//! AWS: publish to SNS topics, consume from SQS queues (feature `aws`).
//!
//! The layout ([`AwsLayout`], names from the protocol's [`Naming`], Hedwig's by default):
//! topic `arn:aws:sns:<region>:<account>:hedwig-<topic>`, queue `HEDWIG-<QUEUE>` subscribed
//! to each topic it consumes with raw message delivery, and its dead-letter queue
//! `HEDWIG-<QUEUE>-DLQ`. [`Aws`] makes the [`SnsSink`] and [`SqsSource`]s and is the
//! [`Broker`](crate::Broker) that provisions and re-queues. Configuration comes from the standard AWS
//! environment (`AWS_ENDPOINT_URL`, region, credentials chain) through `aws-config`;
//! credentials are never logged.

mod layout;
mod provision;
mod schedule;
mod sns;
mod sqs;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

pub use layout::AwsLayout;
pub use schedule::{EXECUTION_ID, MAX_QUEUE_DELAY, SCHEDULED_TIME};
pub use sns::SnsSink;
pub use sqs::SqsSource;

use crate::backend::BackendError;
use crate::layout::Naming;

/// SNS's limit on a message, body and attributes together (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Message attributes SNS keeps when it delivers raw to SQS (it drops the rest).
pub const MAX_ATTRIBUTES: usize = 10;
/// The most messages one SNS `PublishBatch` or SQS receive takes.
pub const MAX_BATCH: usize = 10;

/// Explicit settings for [`Aws::load`]; what is `None` comes from the environment.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// The account of the topics' ARNs.
    pub account_id: String,
    /// Endpoint of a local emulator (otherwise `AWS_ENDPOINT_URL`, otherwise AWS).
    pub endpoint_url: Option<String>,
    /// Region (otherwise `AWS_REGION` / the profile).
    pub region: Option<String>,
}

/// A handle on one AWS account and region: makes the sink and sources, provisions, and
/// re-queues dead letters.
#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
    layout: AwsLayout,
    /// The IAM role EventBridge Scheduler sends to SQS as.
    scheduler_role: Option<String>,
    /// Delays up to this go through SQS `DelaySeconds`, longer ones through EventBridge Scheduler.
    max_queue_delay: std::time::Duration,
}

impl Aws {
    /// Loads the standard AWS configuration (environment, profile, credentials chain,
    /// `AWS_ENDPOINT_URL`) with owlpost's timeouts: 3 s to connect, 30 s per attempt
    /// (above SQS's 20 s long poll). `account_id` is the account of the topics' ARNs.
    pub async fn from_env(account_id: impl Into<String>) -> Self {
        Self::load(AwsSettings { account_id: account_id.into(), endpoint_url: None, region: None }).await
    }

    /// Like [`Aws::from_env`], with explicit settings taking precedence over the environment.
    pub async fn load(settings: AwsSettings) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(endpoint) = settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = settings.region {
            loader = loader.region(aws_config::Region::new(region));
        }
        Self::new(loader.load().await, settings.account_id)
    }

    /// Uses an already loaded SDK configuration.
    pub fn new(sdk: SdkConfig, account_id: impl Into<String>) -> Self {
        let region = sdk.region().map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        Self { sdk, layout: AwsLayout::new(region, account_id), scheduler_role: None, max_queue_delay: MAX_QUEUE_DELAY }
    }

    /// The ARN of the IAM role EventBridge Scheduler assumes to send to the SQS queues
    /// (it needs `sqs:SendMessage` on them): required for schedules and for delays over
    /// [`Aws::with_max_queue_delay`].
    pub fn with_scheduler_role(mut self, role_arn: impl Into<String>) -> Self {
        self.scheduler_role = Some(role_arn.into());
        self
    }

    /// Dispatches delayed by up to `delay` go straight to the SQS queue with
    /// `DelaySeconds`; longer ones become a one-shot EventBridge Scheduler schedule.
    /// Default and most: 15 minutes, SQS's limit.
    pub fn with_max_queue_delay(mut self, delay: std::time::Duration) -> Self {
        self.max_queue_delay = delay.min(MAX_QUEUE_DELAY);
        self
    }

    /// Names resources with `naming` instead of Hedwig's.
    pub fn with_naming(mut self, naming: &'static dyn Naming) -> Self {
        self.layout = self.layout.with_naming(naming);
        self
    }

    /// The names of this account's resources.
    pub fn layout(&self) -> &AwsLayout {
        &self.layout
    }

    /// The SDK configuration, for clients of your own.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The sink publishing to SNS topics.
    pub fn sink(&self) -> SnsSink {
        SnsSink::new(self.clone())
    }

    /// The consumer's source reading the service queue `queue` (`HEDWIG-<queue>`, looked up
    /// by name).
    pub async fn source(&self, queue: &str) -> Result<SqsSource, BackendError> {
        SqsSource::open(self.clone(), queue).await
    }

    fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }
}

/// Error codes that mean "try again later".
const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KMSThrottlingException",
];
/// Error codes that mean the topic or queue does not exist.
const NOT_FOUND: &[&str] = &["NotFound", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"];

/// Maps an SDK error; `missing` is the error to return when the service says "not found".
fn sdk_error<E, R>(operation: &str, error: SdkError<E, R>, missing: impl FnOnce() -> BackendError) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or_default().to_owned();
    let reason = format!("{operation}: {}", aws_sdk_sqs::error::DisplayErrorContext(&error));
    match &error {
        SdkError::ServiceError(_) if NOT_FOUND.contains(&code.as_str()) => missing(),
        SdkError::ServiceError(_) if !TRANSIENT.contains(&code.as_str()) => BackendError::Rejected { reason },
        _ => BackendError::Unavailable { reason },
    }
}

/// Whole seconds for SQS, rounded up.
fn secs(duration: Duration) -> i32 {
    // Rounded up: a 300 ms delay is 1 s, not an immediate redelivery.
    let whole = duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0));
    i32::try_from(whole).unwrap_or(i32::MAX)
}
