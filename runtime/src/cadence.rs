//! When a broker's own scheduler fires a message: a [`Cadence`] (a five-field cron
//! expression or a rate) in a time zone, written as each scheduler takes it — EventBridge
//! Scheduler's `cron(…)`/`rate(…)`, Cloud Scheduler's unix cron — and the
//! [`ScheduledMessage`] a backend creates a schedule for. Protocol-neutral: Taskhawk's
//! schedules ([`taskhawk::Schedule`](crate::taskhawk::Schedule)) become these.

use std::fmt;

use crate::backend::WireMessage;

/// How often a schedule fires. Both forms mean the same on every scheduler, so a schedule
/// declared once runs alike on AWS and Google Cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// A unix cron expression, `minute hour day-of-month month day-of-week`, checked by
    /// [`Cadence::cron`].
    Cron(String),
    /// Every `every` `unit`s, checked by [`Cadence::rate`]. EventBridge counts from the
    /// schedule's creation; Cloud Scheduler (a cron) from the top of the hour or day.
    Rate {
        /// How many units.
        every: u32,
        /// Minutes, hours or days.
        unit: RateUnit,
    },
}

/// The unit of a [`Cadence::Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    /// Minutes (a rate of minutes divides the hour: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30).
    Minutes,
    /// Hours (divides the day: 1, 2, 3, 4, 6, 8, 12).
    Hours,
    /// Days (only 1: a cron has no "every N days").
    Days,
}

impl RateUnit {
    fn name(self, every: u32) -> &'static str {
        match (self, every) {
            (Self::Minutes, 1) => "minute",
            (Self::Minutes, _) => "minutes",
            (Self::Hours, 1) => "hour",
            (Self::Hours, _) => "hours",
            (Self::Days, 1) => "day",
            (Self::Days, _) => "days",
        }
    }
}

/// The fields of a cron expression: name, smallest and largest value, names allowed.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    ("month", 1, 12, &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
    ("day of week", 0, 7, &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
];

impl Cadence {
    /// A unix cron expression: five fields of `*`, `*/step`, values, `a-b` ranges and
    /// `a-b/step`, in comma-separated lists; months and days of the week also by their
    /// three-letter English names; Sunday is 0 or 7. Not both a day of the month and a day
    /// of the week (cron would run on either, EventBridge refuses it), and no steps in the
    /// day of the week.
    pub fn cron(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cron {text:?} has {} fields; expected 5: minute hour day-of-month month day-of-week",
                fields.len()
            ));
        }
        for (field, &(name, min, max, names)) in fields.iter().zip(&FIELDS) {
            check_field(field, min, max, names)
                .map_err(|reason| format!("cron {text:?}: {name} {field:?}: {reason}"))?;
        }
        if fields[2] != "*" && fields[4] != "*" {
            return Err(format!(
                "cron {text:?} restricts both the day of the month and the day of the week; \
                 cron runs on either, EventBridge refuses it: keep one `*`"
            ));
        }
        if fields[4].contains('/') {
            return Err(format!("cron {text:?}: steps in the day of the week are not supported"));
        }
        Ok(Self::Cron(fields.join(" ")))
    }

    /// A rate, `N minutes`, `N hours` or `1 day` (singular or plural), where N divides the
    /// hour or the day, so that Cloud Scheduler's cron can say it too.
    pub fn rate(text: &str) -> Result<Self, String> {
        let usage = "expected `N minutes`, `N hours` or `1 day`";
        let (count, unit) = text.trim().split_once(' ').ok_or_else(|| format!("rate {text:?}: {usage}"))?;
        let every: u32 = count.parse().map_err(|_| format!("rate {text:?}: {count:?} is not a whole number"))?;
        let (unit, whole) = match unit.trim() {
            "minute" | "minutes" => (RateUnit::Minutes, 60),
            "hour" | "hours" => (RateUnit::Hours, 24),
            "day" | "days" => (RateUnit::Days, 1),
            other => return Err(format!("rate {text:?}: unknown unit {other:?}; {usage}")),
        };
        if every == 0 || whole % every != 0 || (every == whole && unit != RateUnit::Days) {
            let of = if unit == RateUnit::Days {
                "be 1"
            } else {
                "divide the hour (minutes) or the day (hours) and be less (60 minutes is `1 hour`)"
            };
            return Err(format!("rate {text:?}: the count must {of}, for Cloud Scheduler's cron to say it"));
        }
        Ok(Self::Rate { every, unit })
    }

    /// EventBridge Scheduler's expression: `cron(m h dom mon dow *)` with `?` for the day
    /// field left free and days of the week counted from 1 (Sunday), or `rate(N unit)`.
    pub fn eventbridge(&self) -> String {
        match self {
            Self::Rate { every, unit } => format!("rate({every} {})", unit.name(*every)),
            Self::Cron(text) => {
                let fields: Vec<&str> = text.split(' ').collect();
                let step = |field: &str, start: &str| {
                    let item = |item: &str| match item.strip_prefix("*/") {
                        Some(step) => format!("{start}/{step}"),
                        None => item.to_owned(),
                    };
                    field.split(',').map(item).collect::<Vec<_>>().join(",")
                };
                let (day, weekday) = if fields[4] == "*" {
                    (step(fields[2], "1"), "?".to_owned())
                } else {
                    ("?".to_owned(), eventbridge_weekdays(fields[4]))
                };
                format!(
                    "cron({} {} {day} {} {weekday} *)",
                    step(fields[0], "0"),
                    step(fields[1], "0"),
                    step(fields[3], "1")
                )
            }
        }
    }

    /// The unix cron Cloud Scheduler takes: the expression itself, or a rate as a cron
    /// (`*/15 * * * *`, `0 */6 * * *`, `0 0 * * *`).
    pub fn unix_cron(&self) -> String {
        match self {
            Self::Cron(text) => text.clone(),
            Self::Rate { every: 1, unit: RateUnit::Minutes } => "* * * * *".into(),
            Self::Rate { every, unit: RateUnit::Minutes } => format!("*/{every} * * * *"),
            Self::Rate { every: 1, unit: RateUnit::Hours } => "0 * * * *".into(),
            Self::Rate { every, unit: RateUnit::Hours } => format!("0 */{every} * * *"),
            Self::Rate { unit: RateUnit::Days, .. } => "0 0 * * *".into(),
        }
    }
}

impl fmt::Display for Cadence {
    /// `cron 0 9 * * 1-5` or `every 15 minutes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cron(text) => write!(f, "cron {text}"),
            Self::Rate { every, unit } => write!(f, "every {every} {}", unit.name(*every)),
        }
    }
}

/// One comma-separated list of a cron field.
fn check_field(field: &str, min: u32, max: u32, names: &[&str]) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            let step: u32 = step.parse().map_err(|_| format!("step {step:?} is not a whole number"))?;
            if step == 0 || step > max {
                return Err(format!("step {step} is out of range 1-{max}"));
            }
            if range != "*" && !range.contains('-') {
                return Err(format!("a step applies to `*` or a range `a-b`, not {range:?}"));
            }
        }
        if range == "*" {
            continue;
        }
        let value = |text: &str| -> Result<u32, String> {
            let found = match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
                // Months count from 1 (JAN), days of the week from 0 (SUN).
                Some(index) => index as u32 + u32::from(names.len() == 12),
                None => text.parse().map_err(|_| {
                    format!("{text:?} is not a number{}", if names.is_empty() { "" } else { " or a name" })
                })?,
            };
            if (min..=max).contains(&found) { Ok(found) } else { Err(format!("{found} is out of range {min}-{max}")) }
        };
        match range.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (value(from)?, value(to)?);
                if from > to {
                    return Err(format!("range {range:?} goes backwards"));
                }
                if max == 7 && to == 7 && from != 7 {
                    return Err(format!("range {range:?}: write Sunday as 0 in a range"));
                }
            }
            None => {
                value(range)?;
            }
        }
    }
    Ok(())
}

/// Days of the week for EventBridge, which counts 1 (Sunday) to 7 (Saturday): numbers
/// shift by one (7, Sunday too, is 1); names stay.
fn eventbridge_weekdays(field: &str) -> String {
    let shift = |text: &str| match text.parse::<u32>() {
        Ok(day) => (day % 7 + 1).to_string(),
        Err(_) => text.to_owned(),
    };
    field
        .split(',')
        .map(|item| match item.split_once('-') {
            Some((from, to)) => format!("{}-{}", shift(from), shift(to)),
            None => shift(item),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A message a broker's scheduler sends on a [`Cadence`]: what
/// [`Broker::schedule`](crate::Broker::schedule) creates one schedule for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledMessage {
    /// The schedule's name, unique in its group: letters, digits, `-` and `_`.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The protocol's topic it goes to (a Taskhawk priority queue, e.g. `billing-bulk`);
    /// EventBridge sends to the SQS queue of that name, Cloud Scheduler publishes to the topic.
    pub topic: String,
    /// When it fires.
    pub cadence: Cadence,
    /// The IANA time zone the cadence is read in (`Europe/Paris`; `UTC`).
    pub time_zone: String,
    /// What every firing sends. EventBridge's SQS target carries the body only, no attributes.
    pub message: WireMessage,
    /// Where the body holds a per-firing id, for schedulers that can fill one in
    /// (EventBridge's `<aws.scheduler.execution-id>`): a JSON pointer to a string field.
    pub firing_id: Option<&'static str>,
    /// Where the body holds the firing's time, for schedulers that can fill one in
    /// (EventBridge's `<aws.scheduler.scheduled-time>`, RFC 3339).
    pub firing_time: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eventbridge(cron: &str) -> String {
        Cadence::cron(cron).unwrap().eventbridge()
    }

    #[test]
    fn crons_become_eventbridge_expressions() {
        assert_eq!(eventbridge("0 9 * * 1-5"), "cron(0 9 ? * 2-6 *)");
        assert_eq!(eventbridge("30 3 1 * *"), "cron(30 3 1 * ? *)");
        assert_eq!(eventbridge("*/15 * * * *"), "cron(0/15 * * * ? *)");
        assert_eq!(eventbridge("0 */6 */2 * *"), "cron(0 0/6 1/2 * ? *)");
        assert_eq!(eventbridge("5,*/20 * * * *"), "cron(5,0/20 * * * ? *)");
        assert_eq!(eventbridge("0 0 * * 0,6"), "cron(0 0 ? * 1,7 *)");
        assert_eq!(eventbridge("0 0 * * 7"), "cron(0 0 ? * 1 *)");
        assert_eq!(eventbridge("0 12 * * MON-FRI"), "cron(0 12 ? * MON-FRI *)");
        assert_eq!(eventbridge("0   6  *  JAN,JUL  *"), "cron(0 6 * JAN,JUL ? *)");
    }

    #[test]
    fn rates_become_both_schedulers_expressions() {
        let rate = |text: &str| Cadence::rate(text).unwrap();
        assert_eq!(rate("1 minute").eventbridge(), "rate(1 minute)");
        assert_eq!(rate("15 minutes").eventbridge(), "rate(15 minutes)");
        assert_eq!(rate("15 minutes").unix_cron(), "*/15 * * * *");
        assert_eq!(rate("1 minutes").unix_cron(), "* * * * *");
        assert_eq!(rate("6 hours").unix_cron(), "0 */6 * * *");
        assert_eq!(rate("1 hour").unix_cron(), "0 * * * *");
        assert_eq!(rate("1 day").eventbridge(), "rate(1 day)");
        assert_eq!(rate("1 day").unix_cron(), "0 0 * * *");
        assert_eq!(rate("6 hours").to_string(), "every 6 hours");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let cron = |text: &str| Cadence::cron(text).unwrap_err();
        assert!(cron("0 9 * *").contains("has 4 fields"), "{}", cron("0 9 * *"));
        assert!(cron("60 9 * * *").contains("minute \"60\": 60 is out of range 0-59"), "{}", cron("60 9 * * *"));
        assert!(cron("0 9 1 * 1").contains("both the day of the month and the day of the week"));
        assert!(cron("0 9 * * */2").contains("steps in the day of the week"));
        assert!(cron("0 9 * * 5-7").contains("write Sunday as 0"));
        assert!(cron("0 17-9 * * *").contains("goes backwards"));
        assert!(cron("0 9 * FOO *").contains("not a number or a name"));
        assert!(cron("5/10 * * * *").contains("a step applies to"));
        let rate = |text: &str| Cadence::rate(text).unwrap_err();
        assert!(rate("7 minutes").contains("divide the hour"), "{}", rate("7 minutes"));
        assert!(rate("2 days").contains("must be 1"));
        assert!(rate("60 minutes").contains("`1 hour`"), "{}", rate("60 minutes"));
        assert!(rate("24 hours").contains("be less"));
        assert!(rate("0 hours").contains("divide"));
        assert!(rate("5 weeks").contains("unknown unit"));
        assert!(rate("soon").contains("expected `N minutes`"));
    }

    #[test]
    fn names_count_from_the_fields_first_value() {
        assert!(Cadence::cron("0 0 1 DEC *").is_ok());
        assert!(Cadence::cron("0 0 * * SAT").is_ok());
        assert_eq!(check_field("JAN-DEC", 1, 12, FIELDS[3].3), Ok(()));
        assert_eq!(check_field("SUN-SAT", 0, 7, FIELDS[4].3), Ok(()));
    }
}
