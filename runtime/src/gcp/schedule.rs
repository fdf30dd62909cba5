//! Cloud Scheduler jobs as `gcloud` commands: no Cloud Scheduler emulator exists (not on
//! PyPI, npm or in the gcloud SDK's emulators), so owlpost prints what to run rather than
//! call an API it cannot test.

use super::layout::GcpLayout;
use crate::cadence::ScheduledMessage;
use crate::taskhawk::Priority;

/// The shell commands that make `group`'s Cloud Scheduler jobs equal to `schedules`: one
/// line per schedule (update the job, or create it), then one deleting the service's others.
pub(super) fn gcloud_commands(layout: &GcpLayout, group: &str, schedules: &[ScheduledMessage]) -> Vec<String> {
    let place = format!("--project={} --location={}", quote(layout.project_id()), quote(layout.scheduler_location()));
    let mut commands = Vec::new();
    for scheduled in schedules {
        let job = layout.job_id(group, &scheduled.name);
        let mut common = format!(
            "{job} {place} --schedule={} --time-zone={} --topic={} --message-body={}",
            quote(&scheduled.cadence.unix_cron()),
            quote(&scheduled.time_zone),
            quote(&layout.topic_path(&scheduled.topic)),
            quote(&String::from_utf8_lossy(&scheduled.message.body)),
        );
        if let Some(description) = &scheduled.description {
            common.push_str(&format!(" --description={}", quote(description)));
        }
        let (update, create) = match scheduled.message.attributes.is_empty() {
            true => (String::new(), String::new()),
            false => {
                let attributes = quote(&attributes(scheduled));
                (format!(" --update-attributes={attributes}"), format!(" --attributes={attributes}"))
            }
        };
        // Updated in place when the job exists (never deleted first: a failed create would
        // lose it); `--update-attributes` sets every attribute the message has.
        commands.push(format!(
            "if gcloud scheduler jobs describe {job} {place} >/dev/null 2>&1; \
             then gcloud scheduler jobs update pubsub {common}{update}; \
             else gcloud scheduler jobs create pubsub {common}{create}; fi"
        ));
    }
    // The service's other jobs: those publishing to one of its four topics.
    let topics: Vec<String> = Priority::ALL.iter().map(|p| regex_escape(&layout.topic_path(&p.queue(group)))).collect();
    let keep: String = schedules.iter().map(|s| format!(" -e {}", layout.job_id(group, &s.name))).collect();
    let keep = if keep.is_empty() { String::new() } else { format!(" | grep -vxF{keep}") };
    commands.push(format!(
        "gcloud scheduler jobs list {place} --format='value(name.basename(),pubsubTarget.topicName)' \
         | awk {}{keep} | xargs -r -n1 gcloud scheduler jobs delete {place} --quiet",
        quote(&format!("$2 ~ /^({})$/ {{print $1}}", topics.join("|"))),
    ));
    commands
}

/// `--attributes` in gcloud's list syntax, with a delimiter no key or value contains
/// (`^;^k=v;k2=v2`; gcloud reads `^D^` as "split on D").
fn attributes(scheduled: &ScheduledMessage) -> String {
    let pairs: Vec<String> = scheduled.message.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let delimiter =
        [";", "|", "~", "@", "#"].into_iter().find(|d| pairs.iter().all(|p| !p.contains(d))).unwrap_or("\u{1}");
    format!("^{delimiter}^{}", pairs.join(delimiter))
}

/// One shell word: single-quoted, a `'` written as `'\''`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `text` matched literally in an awk (extended) regular expression.
fn regex_escape(text: &str) -> String {
    text.chars().map(|c| if "\\^$.|?*+()[]{}/".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_and_patterns_are_literal() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(regex_escape("projects/p/topics/taskhawk-a.b"), r"projects\/p\/topics\/taskhawk-a\.b");
    }
}
