//! [`Attributes`]: the string attributes of a wire message, as brokers carry them.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;

/// A message's attributes (SNS/SQS message attributes, Pub/Sub attributes): string keys
/// and values, sorted by key, each key once.
///
/// A map with the interface of a `BTreeMap<String, String>`, kept as one sorted vector
/// whose keys may be `&'static str`: the attributes a protocol defines (`hedwig_id`,
/// `taskhawk_task`, …) cost no allocation, and a message's handful of attributes is one
/// allocation rather than a tree of nodes. Every publish builds one and every consume reads
/// one, so this is most of what a message costs beyond its payload.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attributes {
    entries: Vec<(Cow<'static, str>, String)>,
}

impl Attributes {
    /// No attributes.
    pub const fn new() -> Self {
        Self { entries: Vec::new() }
    }

    /// The attributes of `entries`, which must be sorted by key with no key twice; checked
    /// in debug builds. What encoders use when they know the order: nothing is sorted.
    pub(crate) fn from_sorted(entries: Vec<(Cow<'static, str>, String)>) -> Self {
        debug_assert!(entries.is_sorted_by(|a, b| a.0 < b.0), "attributes out of order: {entries:?}");
        Self { entries }
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.position(key).ok().map(|i| &self.entries[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaces.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Option<String> {
        let (key, value) = (key.into(), value.into());
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.position(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Keeps the attributes for which `keep(key, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|(k, v)| keep(k, v));
    }

    /// Removes every attribute.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attributes as `(key, value)` pairs, sorted by key.
    pub fn iter(&self) -> <&Self as IntoIterator>::IntoIter {
        self.into_iter()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Like a map's `collect`: sorted by key; of a key given twice, the last value stays.
impl<K: Into<Cow<'static, str>>, V: Into<String>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut entries: Vec<(Cow<'static, str>, String)> =
            pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, so of equal keys the last given is last; `dedup_by` keeps the first of
            // a run, so the run is reversed first.
            entries.reverse();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
        }
        Self { entries }
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>, const N: usize> From<[(K, V); N]> for Attributes {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Attributes {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self::from_sorted(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
    }
}

impl From<Attributes> for BTreeMap<String, String> {
    fn from(attributes: Attributes) -> Self {
        attributes.into_iter().map(|(k, v)| (k.into_owned(), v)).collect()
    }
}

impl PartialEq<BTreeMap<String, String>> for Attributes {
    fn eq(&self, other: &BTreeMap<String, String>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|((k, v), (ok, ov))| k == ok && v == ov)
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>> Extend<(K, V)> for Attributes {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

impl IntoIterator for Attributes {
    type Item = (Cow<'static, str>, String);
    type IntoIter = std::vec::IntoIter<(Cow<'static, str>, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Cow<'static, str>, String)>,
        fn(&'a (Cow<'static, str>, String)) -> (&'a str, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k.borrow(), v))
    }
}

impl std::ops::Index<&str> for Attributes {
    type Output = String;
    /// The value of `key`; panics when it is absent, as a map's index does.
    fn index(&self, key: &str) -> &String {
        self.get(key).unwrap_or_else(|| panic!("no attribute {key:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_sorted_map_where_the_last_value_of_a_key_wins() {
        let pairs = [("b", "1"), ("a", "2"), ("b", "3"), ("c", "4"), ("a", "5")];
        let ours: Attributes = pairs.into_iter().collect();
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(ours, map);
        assert_eq!(format!("{ours:?}"), format!("{map:?}"));
        let mut edited = ours.clone();
        assert_eq!(edited.insert("b", "6"), Some("3".to_owned()));
        assert_eq!(edited.insert(String::from("aa"), "7"), None);
        assert_eq!(edited.remove("a"), Some("5".to_owned()));
        assert_eq!(edited.remove("a"), None);
        assert_eq!(edited.keys().collect::<Vec<_>>(), ["aa", "b", "c"]);
        assert_eq!(edited["b"], "6");
        assert!(edited.contains_key("c") && !edited.contains_key("a") && edited.get("z").is_none());
        edited.retain(|k, _| k != "c");
        assert_eq!(BTreeMap::from(edited), BTreeMap::from([("aa".into(), "7".into()), ("b".into(), "6".into())]));
    }
}
