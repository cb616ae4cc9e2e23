//! A JSON object body read as its fields, in order, with each value kept as raw JSON for
//! the field's own parser. Two things a plain map hides are caught here: a key sent twice
//! (`{"price":1,"price":1000}` — which one did the client mean? serde_json's map keeps
//! the last silently, other parsers the first) is a 400, and the caller can name every
//! field it does not know.

use std::collections::HashSet;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::domain::refusal::Refusal;

/// The fields of a JSON object, in the order sent.
pub struct ObjectFields {
    fields: Vec<(String, Box<RawValue>)>,
}

/// What a body turned out to be.
enum Shape {
    Object {
        fields: Vec<(String, Box<RawValue>)>,
        duplicate: Option<String>,
    },
    NotAnObject,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut fields = Vec::new();
                let mut seen = HashSet::new();
                let mut duplicate = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: Box<RawValue> = map.next_value()?;
                    if !seen.insert(key.clone()) && duplicate.is_none() {
                        duplicate = Some(key.clone());
                    }
                    fields.push((key, value));
                }
                Ok(Shape::Object { fields, duplicate })
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Shape, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Shape::NotAnObject)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::NotAnObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::NotAnObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::NotAnObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::NotAnObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::NotAnObject)
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::NotAnObject)
            }
        }
        deserializer.deserialize_any(ShapeVisitor)
    }
}

impl ObjectFields {
    /// Parses a body that must be one JSON object: malformed JSON or a key sent twice is a
    /// 400, anything but an object a 422 on `body`.
    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        match serde_json::from_slice::<Shape>(body) {
            Err(error) => Err(Refusal::Malformed(format!(
                "the body is not valid JSON: {error}"
            ))),
            Ok(Shape::NotAnObject) => Err(Refusal::field("body", "must be a JSON object")),
            Ok(Shape::Object {
                duplicate: Some(key),
                ..
            }) => {
                let shown: String = key.chars().take(40).collect();
                Err(Refusal::Malformed(format!(
                    "the body names the field `{shown}` more than once"
                )))
            }
            Ok(Shape::Object { fields, .. }) => Ok(Self { fields }),
        }
    }

    /// The raw JSON of a field, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.get())
    }

    /// Fields other than `known`, in the order sent.
    pub fn unknown<'a>(&'a self, known: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .map(|(key, _)| key.as_str())
            .filter(|key| !known.contains(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_a_400_and_shapes_a_422() {
        assert!(matches!(
            ObjectFields::parse(br#"{"a":1,"b":2,"a":3}"#),
            Err(Refusal::Malformed(message)) if message.contains("`a` more than once")
        ));
        for not_object in [&b"[1]"[..], b"1", b"\"x\"", b"null", b"true"] {
            assert!(matches!(
                ObjectFields::parse(not_object),
                Err(Refusal::Invalid(_))
            ));
        }
        assert!(matches!(
            ObjectFields::parse(b"{"),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            ObjectFields::parse(br#"{"a":1} trailing"#),
            Err(Refusal::Malformed(_))
        ));
        let fields = ObjectFields::parse(br#"{"name":"x","color":"red","size":[1]}"#).unwrap();
        assert_eq!(fields.get("name"), Some("\"x\""));
        assert_eq!(fields.get("size"), Some("[1]"));
        assert_eq!(
            fields.unknown(&["name"]).collect::<Vec<_>>(),
            ["color", "size"]
        );
        // Keys that differ only after unescaping are the same key.
        assert!(ObjectFields::parse(br#"{"a":1,"\u0061":2}"#).is_err());
    }
}
