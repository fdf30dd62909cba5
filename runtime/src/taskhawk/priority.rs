//! The four priorities of a Taskhawk service, each its own queue.

use std::fmt;
use std::str::FromStr;

/// A task's priority: which of the service's four queues it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// `high`: queue `<q>-high-priority`.
    High,
    /// `default`: queue `<q>`.
    #[default]
    Default,
    /// `low`: queue `<q>-low-priority`.
    Low,
    /// `bulk`: queue `<q>-bulk`.
    Bulk,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [Priority::High, Priority::Default, Priority::Low, Priority::Bulk];

    /// The name on the wire (`metadata.priority`): `high`, `default`, `low`, `bulk`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Default => "default",
            Self::Low => "low",
            Self::Bulk => "bulk",
        }
    }

    /// What the priority adds to the service's queue name: `-high-priority`, nothing,
    /// `-low-priority`, `-bulk`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::High => "-high-priority",
            Self::Default => "",
            Self::Low => "-low-priority",
            Self::Bulk => "-bulk",
        }
    }

    /// This priority's share of a worker's deliveries while every queue has work
    /// ([`sources`](super::sources)): 8, 4, 2, 1.
    pub const fn weight(self) -> u32 {
        match self {
            Self::High => 8,
            Self::Default => 4,
            Self::Low => 2,
            Self::Bulk => 1,
        }
    }

    /// The queue (and topic) name of this priority for the service queue `queue`, before
    /// the broker's prefix and casing: `dev-myapp` → `dev-myapp-high-priority`.
    pub fn queue(self, queue: &str) -> String {
        format!("{queue}{}", self.suffix())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A priority name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority {0:?} (expected high, default, low or bulk)")]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == text).ok_or_else(|| UnknownPriority(text.to_owned()))
    }
}
