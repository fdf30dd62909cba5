//! EventBridge Scheduler: a service's schedules (a schedule group per service, kept equal
//! to what is declared) and the one-shot `at()` schedules of long delays, both sending the
//! body straight to an SQS queue, as EventBridge Scheduler's SQS target does (no message
//! attributes).

use std::time::{Duration, SystemTime};

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};
use serde_json::Value;

use super::{Aws, sdk_error};
use crate::backend::{BackendError, WireMessage};
use crate::cadence::ScheduledMessage;
use crate::layout::Rescheduled;

/// What EventBridge Scheduler puts in a body for the firing's id.
pub const EXECUTION_ID: &str = "<aws.scheduler.execution-id>";
/// What EventBridge Scheduler puts in a body for the firing's time (RFC 3339).
pub const SCHEDULED_TIME: &str = "<aws.scheduler.scheduled-time>";
/// The group of the one-shot schedules of delays: the account's `default` group, which
/// always exists and which no service's schedules use.
const DELAY_GROUP: &str = "default";

/// One schedule as EventBridge Scheduler takes it.
struct Definition<'a> {
    name: &'a str,
    group: &'a str,
    expression: String,
    time_zone: &'a str,
    description: Option<&'a str>,
    /// The protocol's queue name (before the naming's prefix).
    queue: &'a str,
    input: String,
    one_shot: bool,
}

impl Aws {
    fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.sdk)
    }

    /// The role EventBridge Scheduler sends to SQS as, which `with_scheduler_role` set.
    fn scheduler_role(&self) -> Result<&str, BackendError> {
        self.scheduler_role.as_deref().ok_or_else(|| BackendError::Rejected {
            reason: "EventBridge Scheduler needs a role to send to SQS as: set Aws::with_scheduler_role \
                     (`owlpost provision --scheduler-role`)"
                .into(),
        })
    }

    /// Keeps the schedule group of `group` (`taskhawk-<group>`) equal to `schedules`.
    pub(super) async fn reschedule(
        &self,
        group: &str,
        schedules: &[ScheduledMessage],
    ) -> Result<Rescheduled, BackendError> {
        self.scheduler_role()?;
        let client = self.scheduler();
        let group_name = self.layout.schedule_group(group);
        // A group that exists already is a conflict: what is wanted.
        if let Err(error) = client.create_schedule_group().name(&group_name).send().await
            && error.as_service_error().is_none_or(|e| !e.is_conflict_exception())
        {
            return Err(sdk_error("Scheduler CreateScheduleGroup", error, || group_missing(&group_name)));
        }
        let existing = self.schedule_names(&client, &group_name).await?;
        let mut report = Rescheduled::default();
        for scheduled in schedules {
            let definition = Definition {
                name: &scheduled.name,
                group: &group_name,
                expression: scheduled.cadence.eventbridge(),
                time_zone: &scheduled.time_zone,
                description: scheduled.description.as_deref(),
                queue: &scheduled.topic,
                input: eventbridge_input(scheduled)?,
                one_shot: false,
            };
            let exists = existing.contains(&scheduled.name);
            self.put(&client, &definition, exists).await?;
            if exists { &mut report.updated } else { &mut report.created }.push(scheduled.name.clone());
        }
        for name in existing.into_iter().filter(|name| schedules.iter().all(|s| &s.name != name)) {
            client
                .delete_schedule()
                .group_name(&group_name)
                .name(&name)
                .send()
                .await
                .map_err(|e| sdk_error("Scheduler DeleteSchedule", e, || group_missing(&group_name)))?;
            report.deleted.push(name);
        }
        Ok(report)
    }

    /// Sends `message` to the SQS queue of `queue` (before the naming) at `due`, through a one-shot `at()`
    /// schedule that EventBridge Scheduler deletes once it fired. Returns its name.
    pub(super) async fn send_at(
        &self,
        queue: &str,
        message: &WireMessage,
        due: SystemTime,
    ) -> Result<String, BackendError> {
        let name = format!("owlpost-delay-{}", uuid::Uuid::new_v4());
        let at = chrono::DateTime::<chrono::Utc>::from(due);
        // At whole seconds, rounded up: never before it is due.
        let at = at + chrono::Duration::seconds(i64::from(at.timestamp_subsec_nanos() > 0));
        let input = String::from_utf8(message.body.clone())
            .map_err(|_| BackendError::Rejected { reason: "EventBridge Scheduler takes text bodies only".into() })?;
        let definition = Definition {
            name: &name,
            group: DELAY_GROUP,
            expression: format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")),
            time_zone: "UTC",
            description: Some("an owlpost delayed task: deletes itself once it fired"),
            queue,
            input,
            one_shot: true,
        };
        self.put(&self.scheduler(), &definition, false).await?;
        Ok(name)
    }

    async fn put(
        &self,
        client: &aws_sdk_scheduler::Client,
        definition: &Definition<'_>,
        exists: bool,
    ) -> Result<(), BackendError> {
        let invalid = |e: aws_sdk_scheduler::error::BuildError| BackendError::Rejected { reason: e.to_string() };
        let target = Target::builder()
            .arn(self.layout.queue_arn(definition.queue))
            .role_arn(self.scheduler_role()?)
            .input(&definition.input)
            .build()
            .map_err(invalid)?;
        let window = FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(invalid)?;
        let after = if definition.one_shot { ActionAfterCompletion::Delete } else { ActionAfterCompletion::None };
        let missing = || group_missing(definition.group);
        // CreateSchedule and UpdateSchedule take the same fields, through two builder types.
        macro_rules! with_definition {
            ($builder:expr) => {
                $builder
                    .name(definition.name)
                    .group_name(definition.group)
                    .schedule_expression(&definition.expression)
                    .schedule_expression_timezone(definition.time_zone)
                    .set_description(definition.description.map(str::to_owned))
                    .flexible_time_window(window)
                    .target(target)
                    .state(ScheduleState::Enabled)
                    .action_after_completion(after)
                    .send()
                    .await
            };
        }
        if exists {
            with_definition!(client.update_schedule())
                .map_err(|e| sdk_error("Scheduler UpdateSchedule", e, missing))?;
        } else {
            with_definition!(client.create_schedule())
                .map_err(|e| sdk_error("Scheduler CreateSchedule", e, missing))?;
        }
        Ok(())
    }

    /// The names of the schedules in a group, every page.
    async fn schedule_names(
        &self,
        client: &aws_sdk_scheduler::Client,
        group: &str,
    ) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        let mut pages = client.list_schedules().group_name(group).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("Scheduler ListSchedules", e, || group_missing(group)))?;
            names.extend(page.schedules.into_iter().filter_map(|s| s.name));
        }
        names.sort();
        Ok(names)
    }
}

/// The body with EventBridge's per-firing fields in place: its execution id and its
/// scheduled time where the message has room for them.
fn eventbridge_input(scheduled: &ScheduledMessage) -> Result<String, BackendError> {
    let not_json = || BackendError::Rejected {
        reason: format!("schedule {}: EventBridge Scheduler takes a JSON body", scheduled.name),
    };
    let mut body: Value = serde_json::from_slice(&scheduled.message.body).map_err(|_| not_json())?;
    for (pointer, placeholder) in [(scheduled.firing_id, EXECUTION_ID), (scheduled.firing_time, SCHEDULED_TIME)] {
        if let Some(field) = pointer.and_then(|p| body.pointer_mut(p)) {
            *field = Value::from(placeholder);
        }
    }
    Ok(body.to_string())
}

fn group_missing(group: &str) -> BackendError {
    BackendError::Rejected { reason: format!("schedule group {group:?} does not exist") }
}

/// The longest `DelaySeconds` SQS takes.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(15 * 60);
