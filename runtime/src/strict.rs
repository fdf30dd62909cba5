//! Reading a payload straight from its JSON body, for a type that enforces its schema
//! ([`Message::VALIDATION`](crate::Message::VALIDATION)), without a `Value` or the schema
//! walk. For a type of `Validation::Strings`, what this reads is valid only once the
//! checked strings pass too (`validation::strings_valid`, as the router does).
//!
//! Such a type's values are exactly its schema's instances (but for its checked strings),
//! yet serde reads more JSON into them than the schema admits: a struct from an array of
//! its fields in order, `None` from `null`, a unit enum variant from `{"variant": null}`.
//! [`from_slice`] reads JSON as the schema does: it wraps serde_json's deserializer and
//! refuses those three readings, so what it accepts (and the checked strings pass),
//! `jsonschema` accepts, with the same value as `serde_json::from_value`.
//! It refuses anything it is unsure of (`None`); the caller then takes the validating path,
//! which gives the error with its JSON pointer. `tests/tests/differential.rs` checks both
//! claims on arbitrary JSON.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

/// `bytes` as a `T`, read as JSON Schema reads JSON; `None` when serde or the strict reading
/// refuses it.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(Strict(&mut json)).ok()?;
    json.end().ok()?;
    Some(value)
}

/// A deserializer whose every nested deserializer is strict too.
struct Strict<D>(D);

/// What the type asked the deserializer for, which decides what the visitor refuses.
#[derive(Clone, Copy, PartialEq)]
enum Asked {
    /// A struct: not from an array.
    Struct,
    /// An `Option`: not from `null` (an optional property is absent, never null, in a type
    /// valid by construction).
    Option,
    /// Anything else: as serde_json gives it.
    Other,
}

macro_rules! forward {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Checked { visitor, asked: Asked::Other })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(Checked { visitor, asked: Asked::Option })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Checked { visitor, asked: Asked::Other })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Checked { visitor, asked: Asked::Other })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Checked { visitor, asked: Asked::Other })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Checked { visitor, asked: Asked::Other })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Checked { visitor, asked: Asked::Struct })
    }

    /// A unit variant from its name as a JSON string, and nothing else: the enums of a type
    /// valid by construction are string enums.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_str(UnitVariant(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor that refuses what [`Asked`] says, and hands on strict deserializers.
struct Checked<V> {
    visitor: V,
    asked: Asked,
}

impl<V> Checked<V> {
    fn refuse<'de, E: de::Error>(&self, unexpected: de::Unexpected<'_>) -> Result<V::Value, E>
    where
        V: Visitor<'de>,
    {
        Err(E::invalid_type(unexpected, &self.visitor))
    }
}

macro_rules! pass {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.visitor.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Checked<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    pass!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        if self.asked == Asked::Option { self.refuse(de::Unexpected::Unit) } else { self.visitor.visit_unit() }
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        if self.asked == Asked::Option { self.refuse(de::Unexpected::Option) } else { self.visitor.visit_none() }
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Strict(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Strict(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        if self.asked == Asked::Struct { self.refuse(de::Unexpected::Seq) } else { self.visitor.visit_seq(Strict(seq)) }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(Strict(map))
    }

    /// serde_json offers an enum only to `deserialize_enum`, which [`UnitVariant`] answers.
    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<V::Value, A::Error> {
        self.refuse(de::Unexpected::Enum)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Strict(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Strict<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

/// Reads a JSON string as the unit variant it names.
struct UnitVariant<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for UnitVariant<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<V::Value, E> {
        self.0.visit_enum(name.into_deserializer())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::from_slice;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Payload {
        id: String,
        count: u64,
        plan: Plan,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        tags: Vec<Tag>,
        extra: BTreeMap<String, Tag>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Tag {
        name: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    enum Plan {
        #[serde(rename = "pro")]
        Pro,
    }

    #[test]
    fn reads_what_the_schema_admits_and_refuses_what_only_serde_reads() {
        let valid = r#"{"id":"a","count":1,"plan":"pro","note":"n","tags":[{"name":"t"}],"extra":{"k":{"name":"u"}}}"#;
        let payload: Payload = from_slice(valid.as_bytes()).expect("a valid document");
        assert_eq!(payload.note.as_deref(), Some("n"));
        assert_eq!(payload.extra["k"], Tag { name: "u".into() });
        let without_note = r#"{"id":"a","count":1,"plan":"pro","tags":[],"extra":{}}"#;
        assert_eq!(from_slice::<Payload>(without_note.as_bytes()).unwrap().note, None);
        for (what, refused) in [
            ("null for an optional field", r#"{"id":"a","count":1,"plan":"pro","note":null,"tags":[],"extra":{}}"#),
            ("an array for a struct", r#"["a",1,"pro",null,[],{}]"#),
            ("an array for a nested struct", r#"{"id":"a","count":1,"plan":"pro","tags":[["t"]],"extra":{}}"#),
            ("an array for a struct in a map", r#"{"id":"a","count":1,"plan":"pro","tags":[],"extra":{"k":["u"]}}"#),
            ("a variant as an object", r#"{"id":"a","count":1,"plan":{"pro":null},"tags":[],"extra":{}}"#),
            ("1.0 for an integer", r#"{"id":"a","count":1.0,"plan":"pro","tags":[],"extra":{}}"#),
            ("a duplicate key", r#"{"id":"a","id":"b","count":1,"plan":"pro","tags":[],"extra":{}}"#),
            ("trailing data", r#"{"id":"a","count":1,"plan":"pro","tags":[],"extra":{}} 1"#),
        ] {
            assert!(from_slice::<Payload>(refused.as_bytes()).is_none(), "{what}: {refused}");
            // What makes the strict reading needed: serde alone reads the first five.
            if what.starts_with("null") || what.starts_with("an array") || what.starts_with("a variant") {
                assert!(serde_json::from_str::<Payload>(refused).is_ok(), "serde reads {what}");
            }
        }
    }
}
