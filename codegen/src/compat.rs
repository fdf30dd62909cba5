//! Schema evolution: what changed between two versions of a schema file, and whether each
//! change is safe while publishers and consumers of different minors run side by side.
//!
//! Hedwig edits a major's schema in place (`x-version` `1.1` → `1.2`) and rolling deploys
//! mix minors, so within a major every change must be readable both ways:
//!
//! * **breaking**: removing a property, making one required, adding a required one,
//!   narrowing `type`, tightening `enum`/`const`/`pattern`/`format`/`multipleOf`/
//!   `uniqueItems`, raising a lower bound (`minimum`, `exclusiveMinimum`, `minLength`,
//!   `minItems`, `minProperties`) or lowering an upper bound (`maximum`, `exclusiveMaximum`,
//!   `maxLength`, `maxItems`, `maxProperties`), adding a bound, setting
//!   `additionalProperties` to `false` (or to a schema), adding a property where the old
//!   schema forbids unknown ones, removing a major or a message type, and any change of a
//!   keyword owlpost cannot reason about (`oneOf`, `allOf`, `not`, ...);
//! * **compatible**: adding an optional property, widening (the reverse of each tightening
//!   above), adding a major or a message type;
//! * **version rules**: any compatible change needs a minor bump of `x-version`; a breaking
//!   change belongs in a new major; `x-version` never goes down.
//!
//! Taskhawk tasks carry no version on the wire, so a task's `input` is compared with the
//! same rules, but a breaking change needs a **new task name**; compatible changes need a
//! minor bump of the task's `x-version`; removing a task is breaking, adding one compatible.
//! Changing a task's default `priority` is compatible and needs no bump (the priority is a
//! routing choice the dispatcher may override, not part of the input): it is listed, because
//! tasks already queued stay on the old priority's queue.
//!
//! Annotations (`description`, `title`, `examples`, `default`, `$comment`, `x-versions`)
//! are not part of the contract and are not reported. `$ref`s are followed on both sides,
//! so a change in a definition is reported where a message reaches it.

use std::collections::BTreeSet;
use std::fmt;

use owlpost::{Document, MajorSchema, Version};
use serde_json::Value;

use crate::pointer;

/// How a change affects services running other minors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verdict {
    /// Safe within the major (still needs a minor bump).
    Compatible,
    /// Breaks publishers or consumers of other minors: needs a new major.
    Breaking,
    /// The versions do not follow the change (missing minor bump, `x-version` going down,
    /// breaking change within a major).
    Version,
}

impl Verdict {
    /// Whether this verdict fails the check.
    pub fn fails(self) -> bool {
        self != Verdict::Compatible
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Verdict::Compatible => "compatible",
            Verdict::Breaking => "breaking",
            Verdict::Version => "version",
        })
    }
}

/// One change between the old and the new schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// JSON pointer in the new document (in the old one for removals), through `$ref`s as a
    /// message reaches them (`/schemas/user-created/1.*/properties/user_id/pattern`).
    pub pointer: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// What changed.
    pub reason: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<10} {}: {}", self.verdict, self.pointer, self.reason)
    }
}

/// Every change from `old` to `new`, message type by message type, major by major, then
/// task by task.
pub fn compare(old: &Document, new: &Document) -> Vec<Change> {
    let mut changes = Vec::new();
    let types: BTreeSet<&String> = old.messages.keys().chain(new.messages.keys()).collect();
    for message_type in types {
        let pointer = pointer::message(message_type);
        let (Some(old_majors), Some(new_majors)) = (old.messages.get(message_type), new.messages.get(message_type))
        else {
            let (verdict, reason) = if new.messages.contains_key(message_type) {
                (Verdict::Compatible, "message type added")
            } else {
                (Verdict::Breaking, "message type removed: its publishers and consumers lose their schema")
            };
            changes.push(Change { pointer, verdict, reason: reason.into() });
            continue;
        };
        let majors: BTreeSet<&u32> = old_majors.keys().chain(new_majors.keys()).collect();
        for major in majors {
            let pointer = format!("{pointer}/{major}.*");
            match (old_majors.get(major), new_majors.get(major)) {
                (Some(before), Some(after)) => compare_major(old, new, before, after, &pointer, &mut changes),
                (None, _) => {
                    changes.push(Change { pointer, verdict: Verdict::Compatible, reason: "major added".into() })
                }
                (_, None) => changes.push(Change {
                    pointer,
                    verdict: Verdict::Breaking,
                    reason: format!("major {major} removed: its publishers and consumers lose their schema"),
                }),
            }
        }
    }
    compare_tasks(old, new, &mut changes);
    changes
}

/// The tasks of both documents: each task's input compared like a major's schema.
fn compare_tasks(old: &Document, new: &Document, changes: &mut Vec<Change>) {
    let names: BTreeSet<&String> = old.tasks.keys().chain(new.tasks.keys()).collect();
    for name in names {
        let pointer = pointer::task(name);
        match (old.tasks.get(name), new.tasks.get(name)) {
            (Some(before), Some(after)) => {
                if before.priority != after.priority {
                    changes.push(Change {
                        pointer: format!("{pointer}/priority"),
                        verdict: Verdict::Compatible,
                        reason: format!(
                            "default priority {} → {}: new dispatches go to the {} queue, tasks already queued stay on the {} queue (owlpost's worker reads all four)",
                            before.priority, after.priority, after.priority, before.priority
                        ),
                    });
                }
                let compared =
                    Compared { before: &before.input, after: &after.input, from: before.latest, to: after.latest };
                compare_versioned(old, new, compared, &pointer, Evolution::Task, changes)
            }
            (None, _) => changes.push(Change { pointer, verdict: Verdict::Compatible, reason: "task added".into() }),
            (_, None) => changes.push(Change {
                pointer,
                verdict: Verdict::Breaking,
                reason: "task removed: its dispatchers and workers lose their schema".into(),
            }),
        }
    }
}

fn compare_major(
    old: &Document,
    new: &Document,
    before: &MajorSchema,
    after: &MajorSchema,
    pointer: &str,
    changes: &mut Vec<Change>,
) {
    let compared = Compared { before: &before.schema, after: &after.schema, from: before.latest, to: after.latest };
    compare_versioned(old, new, compared, pointer, Evolution::Major, changes)
}

/// Two versions of one versioned schema: a message major's, or a task's input.
struct Compared<'a> {
    before: &'a Value,
    after: &'a Value,
    from: Version,
    to: Version,
}

/// Where a breaking change has to go instead.
#[derive(Clone, Copy)]
enum Evolution {
    /// Into a new major of the message type (Hedwig sends the major).
    Major,
    /// Under a new task name (Taskhawk sends no version).
    Task,
}

/// The changes between two versions of a schema at `pointer` (a major's `/schemas/<type>/<major>.*`
/// or a task's `/tasks/<name>`, whose schema is at `/input`), then the version rules.
fn compare_versioned(
    old: &Document,
    new: &Document,
    compared: Compared,
    pointer: &str,
    evolution: Evolution,
    changes: &mut Vec<Change>,
) {
    let schema_pointer = match evolution {
        Evolution::Major => pointer.to_owned(),
        Evolution::Task => format!("{pointer}/input"),
    };
    let mut walk = Walk { old, new, seen: BTreeSet::new(), changes: Vec::new() };
    walk.schema(compared.before, compared.after, &schema_pointer);
    let found = std::mem::take(&mut walk.changes);
    let (from, to) = (compared.from, compared.to);
    let at = format!("{pointer}/x-version");
    let breaking = found.iter().any(|c| c.verdict == Verdict::Breaking);
    changes.extend(found.iter().cloned());
    if to < from {
        changes.push(Change {
            pointer: at,
            verdict: Verdict::Version,
            reason: format!("x-version goes down: {from} → {to}"),
        });
    } else if breaking {
        changes.push(match evolution {
            Evolution::Major => Change {
                pointer: at,
                verdict: Verdict::Version,
                reason: format!(
                    "breaking changes within major {}: publish them as a new major `{}.*` instead",
                    from.major,
                    from.major + 1
                ),
            },
            Evolution::Task => Change {
                pointer: pointer.to_owned(),
                verdict: Verdict::Breaking,
                reason: "breaking changes to a task's input: tasks have no version on the wire: give the changed task a new name".into(),
            },
        });
    } else if !found.is_empty() && to == from {
        changes.push(Change {
            pointer: at,
            verdict: Verdict::Version,
            reason: format!(
                "compatible changes need a minor bump: x-version is still {from}, make it {}.{}",
                from.major,
                from.minor + 1
            ),
        });
    } else if to != from {
        changes
            .push(Change { pointer: at, verdict: Verdict::Compatible, reason: format!("x-version {from} → {to}") });
    }
}

/// Keywords that document a schema without constraining data.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "examples",
    "example",
    "default",
    "$comment",
    "x-version",
    "x-versions",
    "$schema",
    "id",
    "$id",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Keywords handled one by one below; any other keyword that changes is reported as unknown.
const HANDLED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "pattern",
    "format",
    "multipleOf",
    "uniqueItems",
    "items",
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
    "$ref",
];

/// Numeric lower bounds: raising one tightens.
const LOWER_BOUNDS: &[&str] = &["minimum", "minLength", "minItems", "minProperties"];
/// Numeric upper bounds: lowering one tightens.
const UPPER_BOUNDS: &[&str] = &["maximum", "maxLength", "maxItems", "maxProperties"];

struct Walk<'a> {
    old: &'a Document,
    new: &'a Document,
    /// `$ref` pairs already compared (recursive definitions end here).
    seen: BTreeSet<(String, String)>,
    changes: Vec<Change>,
}

impl<'a> Walk<'a> {
    fn push(&mut self, pointer: String, verdict: Verdict, reason: impl Into<String>) {
        self.changes.push(Change { pointer, verdict, reason: reason.into() });
    }

    fn narrow(&mut self, pointer: String, reason: impl Into<String>) {
        self.push(pointer, Verdict::Breaking, reason);
    }

    fn widen(&mut self, pointer: String, reason: impl Into<String>) {
        let reason = format!(
            "{} (widening: consumers on older minors refuse what is newly allowed until they upgrade)",
            reason.into()
        );
        self.push(pointer, Verdict::Compatible, reason);
    }

    fn side(&self, new_side: bool) -> &'a Document {
        if new_side { self.new } else { self.old }
    }

    /// A value with its `$ref`s replaced by their targets (a few levels deep), to compare
    /// keywords owlpost does not interpret.
    fn expand(&self, value: &Value, new_side: bool, depth: usize) -> Value {
        match value {
            Value::Object(map) if map.contains_key("$ref") && depth < 8 => {
                let target = map.get("$ref").and_then(Value::as_str).and_then(|r| self.side(new_side).resolve_ref(r));
                match target {
                    Some((_, target)) => self.expand(target, new_side, depth + 1),
                    None => value.clone(),
                }
            }
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.expand(v, new_side, depth))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.expand(v, new_side, depth)).collect()),
            other => other.clone(),
        }
    }

    fn schema(&mut self, old: &'a Value, new: &'a Value, pointer: &str) {
        let (old, old_target) = self.old.follow_refs(old);
        let (new, new_target) = self.new.follow_refs(new);
        // Only a pair of references can recur; an inline side always ends.
        if let (Some(old_target), Some(new_target)) = (old_target, new_target)
            && !self.seen.insert((old_target.to_owned(), new_target.to_owned()))
        {
            return;
        }
        if old == new && !has_ref(old) {
            return;
        }
        let (old_map, new_map) = match (old, new) {
            (Value::Bool(true), Value::Object(n)) => (&*EMPTY, n),
            (Value::Object(o), Value::Bool(true)) => (o, &*EMPTY),
            (Value::Object(o), Value::Object(n)) => (o, n),
            (Value::Bool(false), _) => return self.widen(pointer.to_owned(), "schema no longer `false`"),
            _ => return self.narrow(pointer.to_owned(), format!("schema changed from {old} to {new}")),
        };
        self.object(old_map, new_map, pointer);
    }

    fn object(
        &mut self,
        old: &'a serde_json::Map<String, Value>,
        new: &'a serde_json::Map<String, Value>,
        pointer: &str,
    ) {
        self.types(old.get("type"), new.get("type"), pointer);
        self.properties(old, new, pointer);
        self.additional_properties(old.get("additionalProperties"), new.get("additionalProperties"), pointer);
        self.enumeration(old.get("enum"), new.get("enum"), &format!("{pointer}/enum"));
        for keyword in ["const", "pattern", "format", "multipleOf"] {
            self.exact(keyword, old.get(keyword), new.get(keyword), pointer);
        }
        if old.get("uniqueItems") != new.get("uniqueItems") {
            let now = new.get("uniqueItems") == Some(&Value::Bool(true));
            let at = format!("{pointer}/uniqueItems");
            if now {
                self.narrow(at, "items must now be unique")
            } else {
                self.widen(at, "items no longer need to be unique")
            }
        }
        for keyword in LOWER_BOUNDS.iter().chain(UPPER_BOUNDS) {
            let lower = LOWER_BOUNDS.contains(keyword);
            self.bound(keyword, number(old.get(*keyword)), number(new.get(*keyword)), lower, pointer);
        }
        for (keyword, lower) in [("exclusiveMinimum", true), ("exclusiveMaximum", false)] {
            self.exclusive(keyword, old.get(keyword), new.get(keyword), lower, pointer);
        }
        self.items(old.get("items"), new.get("items"), pointer);
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys {
            if ANNOTATIONS.contains(&key.as_str()) || HANDLED.contains(&key.as_str()) {
                continue;
            }
            let expand = |value: Option<&Value>, new_side| value.map(|v| self.expand(v, new_side, 0));
            if expand(old.get(key), false) == expand(new.get(key), true) {
                continue;
            }
            self.narrow(
                pointer::join(pointer, key),
                format!("`{key}` changed: owlpost cannot tell whether this is compatible, so it counts as breaking"),
            );
        }
    }

    fn types(&mut self, old: Option<&Value>, new: Option<&Value>, pointer: &str) {
        let (before, after) = (type_set(old), type_set(new));
        if before == after {
            return;
        }
        let at = format!("{pointer}/type");
        let covers = |wide: &Option<BTreeSet<String>>, narrow: &Option<BTreeSet<String>>| match (wide, narrow) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(wide), Some(narrow)) => {
                narrow.iter().all(|t| wide.contains(t) || (t == "integer" && wide.contains("number")))
            }
        };
        let show = |set: &Option<BTreeSet<String>>| match set {
            None => "any".to_owned(),
            Some(set) => set.iter().cloned().collect::<Vec<_>>().join(" | "),
        };
        let reason = format!("type {} → {}", show(&before), show(&after));
        if covers(&after, &before) {
            self.widen(at, reason);
        } else if covers(&before, &after) {
            self.narrow(at, format!("{reason} (narrowed)"));
        } else {
            self.narrow(at, format!("{reason} (changed)"));
        }
    }

    fn properties(
        &mut self,
        old: &'a serde_json::Map<String, Value>,
        new: &'a serde_json::Map<String, Value>,
        pointer: &str,
    ) {
        let old_props = old.get("properties").and_then(Value::as_object).unwrap_or(&EMPTY);
        let new_props = new.get("properties").and_then(Value::as_object).unwrap_or(&EMPTY);
        let old_required = string_set(old.get("required"));
        let new_required = string_set(new.get("required"));
        let closed = old.get("additionalProperties");
        for (name, schema) in old_props {
            let at = pointer::join(&format!("{pointer}/properties"), name);
            match new_props.get(name) {
                Some(after) => self.schema(schema, after, &at),
                None => self.narrow(at, format!("property `{name}` removed")),
            }
        }
        for name in new_props.keys().filter(|name| !old_props.contains_key(*name)) {
            let at = pointer::join(&format!("{pointer}/properties"), name);
            if new_required.contains(name) {
                self.narrow(at, format!("required property `{name}` added: messages of older minors lack it"));
            } else if closed == Some(&Value::Bool(false)) {
                self.narrow(at, format!("property `{name}` added where the old schema forbids unknown properties"));
            } else if closed.is_some_and(Value::is_object) {
                self.narrow(at, format!("property `{name}` added where the old schema constrains unknown properties"));
            } else {
                self.push(at, Verdict::Compatible, format!("optional property `{name}` added"));
            }
        }
        for name in new_required.difference(&old_required) {
            if old_props.contains_key(name.as_str()) || !new_props.contains_key(name.as_str()) {
                self.narrow(format!("{pointer}/required"), format!("property `{name}` made required"));
            }
        }
        for name in old_required.difference(&new_required) {
            if new_props.contains_key(name.as_str()) {
                self.widen(format!("{pointer}/required"), format!("property `{name}` made optional"));
            }
        }
    }

    fn additional_properties(&mut self, old: Option<&'a Value>, new: Option<&'a Value>, pointer: &str) {
        let at = format!("{pointer}/additionalProperties");
        match (old, new) {
            _ if old == new && !old.is_some_and(has_ref) => {}
            (None | Some(Value::Bool(true)), None | Some(Value::Bool(true))) => {}
            (_, Some(Value::Bool(false))) => {
                self.narrow(at, "additionalProperties set to false: unknown properties are now refused")
            }
            (Some(Value::Bool(false)), _) => self.widen(at, "additionalProperties no longer false"),
            (Some(before @ Value::Object(_)), Some(after @ Value::Object(_))) => self.schema(before, after, &at),
            (None | Some(Value::Bool(true)), Some(_)) => {
                self.narrow(at, "additionalProperties constrained by a schema")
            }
            _ => self.widen(at, "additionalProperties no longer constrained"),
        }
    }

    fn enumeration(&mut self, old: Option<&Value>, new: Option<&Value>, at: &str) {
        match (old.and_then(Value::as_array), new.and_then(Value::as_array)) {
            (None, None) => {}
            (None, Some(_)) => self.narrow(at.to_owned(), "enum added"),
            (Some(_), None) => self.widen(at.to_owned(), "enum removed"),
            (Some(before), Some(after)) => {
                let removed: Vec<String> = before.iter().filter(|v| !after.contains(v)).map(Value::to_string).collect();
                let added: Vec<String> = after.iter().filter(|v| !before.contains(v)).map(Value::to_string).collect();
                if !removed.is_empty() {
                    self.narrow(at.to_owned(), format!("enum values removed: {}", removed.join(", ")));
                }
                if !added.is_empty() {
                    self.widen(at.to_owned(), format!("enum values added: {}", added.join(", ")));
                }
            }
        }
    }

    /// A keyword whose value must stay the same (adding or changing it tightens).
    fn exact(&mut self, keyword: &str, old: Option<&Value>, new: Option<&Value>, pointer: &str) {
        let at = format!("{pointer}/{keyword}");
        match (old, new) {
            _ if old == new => {}
            (None, Some(value)) => self.narrow(at, format!("{keyword} {value} added")),
            (Some(value), None) => self.widen(at, format!("{keyword} {value} removed")),
            (Some(before), Some(after)) => self.narrow(at, format!("{keyword} {before} → {after}")),
            (None, None) => {}
        }
    }

    fn bound(&mut self, keyword: &str, old: Option<f64>, new: Option<f64>, lower: bool, pointer: &str) {
        let at = format!("{pointer}/{keyword}");
        let show = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        let reason = format!("{keyword} {} → {}", show(old), show(new));
        let tighter = match (old, new) {
            (None, None) => return,
            (Some(a), Some(b)) if a == b => return,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => (b > a) == lower,
        };
        if tighter { self.narrow(at, reason) } else { self.widen(at, reason) }
    }

    /// `exclusiveMinimum`/`exclusiveMaximum`: a number (draft-06+) or a flag on
    /// `minimum`/`maximum` (draft-04).
    fn exclusive(&mut self, keyword: &str, old: Option<&Value>, new: Option<&Value>, lower: bool, pointer: &str) {
        if old == new {
            return;
        }
        let flag = |v: Option<&Value>| matches!(v, None | Some(Value::Bool(_)));
        if flag(old) && flag(new) {
            let at = format!("{pointer}/{keyword}");
            if new == Some(&Value::Bool(true)) {
                self.narrow(at, format!("{keyword} set: the bound itself is now refused"));
            } else {
                self.widen(at, format!("{keyword} unset: the bound itself is now accepted"));
            }
        } else {
            self.bound(keyword, number(old), number(new), lower, pointer);
        }
    }

    fn items(&mut self, old: Option<&'a Value>, new: Option<&'a Value>, pointer: &str) {
        let at = format!("{pointer}/items");
        match (old, new) {
            _ if old == new && !old.is_some_and(has_ref) => {}
            (None, Some(after)) => self.schema(&TRUE, after, &at),
            (Some(before), None) => self.schema(before, &TRUE, &at),
            (Some(Value::Array(before)), Some(Value::Array(after))) if before.len() == after.len() => {
                for (index, (b, a)) in before.iter().zip(after).enumerate() {
                    self.schema(b, a, &format!("{at}/{index}"));
                }
            }
            (Some(before), Some(after)) if !before.is_array() && !after.is_array() => self.schema(before, after, &at),
            _ => self.narrow(at, "tuple `items` changed shape"),
        }
    }
}

static TRUE: Value = Value::Bool(true);
static EMPTY: std::sync::LazyLock<serde_json::Map<String, Value>> = std::sync::LazyLock::new(serde_json::Map::new);

/// Whether a schema contains a `$ref` (equal text may then still reach changed definitions).
fn has_ref(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key("$ref") || map.values().any(has_ref),
        Value::Array(items) => items.iter().any(has_ref),
        _ => false,
    }
}

fn type_set(value: Option<&Value>) -> Option<BTreeSet<String>> {
    match value? {
        Value::String(one) => Some(BTreeSet::from([one.clone()])),
        Value::Array(many) => Some(many.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        _ => None,
    }
}

fn string_set(value: Option<&Value>) -> BTreeSet<String> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn number(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}
