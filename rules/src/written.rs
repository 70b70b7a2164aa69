//! Numbers in a rule's detection as the rule file wrote them.
//!
//! Rules specification, "General": "All values are treated as case-insensitive strings." The
//! YAML reader resolves an unquoted `1.50` to the number 1.5 and `0445` to 445 before rsigma sees
//! the rule, so the string the author wrote is gone from the parsed rule. It is read back here
//! from the file: the document is read once for its shape, then again asking for the text of
//! each number in `detection` (the YAML reader gives a scalar's text as written when asked for
//! a string).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use yaml_serde::Value;

/// A number as the rule parser holds it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Number {
    Integer(i64),
    /// The bits of the float.
    Float(u64),
}

impl Number {
    fn of(value: &yaml_serde::Number) -> Option<Number> {
        // As rsigma-parser reads a number: an integer when it fits an i64, else a float.
        value.as_i64().map(Number::Integer).or_else(|| value.as_f64().map(|f| Number::Float(f.to_bits())))
    }
}

/// The texts each number of one rule's `detection` was written as.
#[derive(Default, Debug)]
pub(crate) struct WrittenNumbers(HashMap<Number, BTreeSet<String>>);

impl WrittenNumbers {
    /// The text `number` was written as; an error when the rule wrote it in several ways, as
    /// the parsed rule cannot tell which value was which.
    pub(crate) fn text(&self, number: Number, shown: &dyn fmt::Display) -> Result<Option<String>, String> {
        let Some(texts) = self.0.get(&number) else { return Ok(None) };
        let mut texts = texts.iter();
        match (texts.next(), texts.next()) {
            (Some(text), None) => Ok(Some(text.clone())),
            (Some(first), Some(second)) => Err(format!(
                "the value {shown} is written both as {first} and as {second}: the parsed rule cannot tell them \
                 apart, and values are strings"
            )),
            (None, _) => Ok(None),
        }
    }
}

/// The numbers of the `detection` of the document in `text` titled `title` with this `id` (or
/// `name`, for a rule without id). Empty when no such document reads.
pub(crate) fn written_numbers(text: &str, title: &str, id: Option<&str>) -> WrittenNumbers {
    let shapes = yaml_serde::Deserializer::from_str(text).map(Value::deserialize);
    let again = yaml_serde::Deserializer::from_str(text);
    for (shape, document) in shapes.zip(again) {
        let Ok(shape) = shape else { break };
        let text_of = |key: &str| shape.get(key).and_then(Value::as_str);
        if text_of("title") != Some(title) || text_of("id").or_else(|| text_of("name")) != id {
            continue;
        }
        let Some(detection) = shape.get("detection") else { break };
        let mut found = WrittenNumbers::default();
        let seed = Document { detection, found: &mut found };
        return match seed.deserialize(document) {
            Ok(()) => found,
            Err(_) => WrittenNumbers::default(),
        };
    }
    WrittenNumbers::default()
}

/// Reads a document, descending into `detection` only.
struct Document<'a> {
    detection: &'a Value,
    found: &'a mut WrittenNumbers,
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rule document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Value>()? {
            if key.as_str() == Some("detection") {
                map.next_value_seed(Node { shape: self.detection, found: self.found })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads the node whose parsed value is `shape`, recording the text of every number in it.
struct Node<'a> {
    shape: &'a Value,
    found: &'a mut WrittenNumbers,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.shape {
            Value::Mapping(_) => deserializer.deserialize_map(self),
            Value::Sequence(_) => deserializer.deserialize_seq(self),
            Value::Number(number) => {
                let text = deserializer.deserialize_str(Text)?;
                if let Some(number) = Number::of(number) {
                    self.found.0.entry(number).or_default().insert(text);
                }
                Ok(())
            }
            _ => deserializer.deserialize_ignored_any(IgnoredAny).map(|_| ()),
        }
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the node already read")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Value>()? {
            match self.shape.get(&key) {
                Some(shape) => map.next_value_seed(Node { shape, found: self.found })?,
                None => map.next_value::<IgnoredAny>().map(|_| ())?,
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Value::Sequence(items) = self.shape else { return Ok(()) };
        let mut items = items.iter();
        loop {
            let read = match items.next() {
                Some(shape) => seq.next_element_seed(Node { shape, found: self.found })?,
                None => seq.next_element::<IgnoredAny>()?.map(|_| ()),
            };
            if read.is_none() {
                return Ok(());
            }
        }
    }
}

/// A scalar's text as written.
struct Text;

impl Visitor<'_> for Text {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::{Number, written_numbers};

    #[test]
    fn numbers_are_read_back_as_written() {
        let text = "title: Other\ndetection: {sel: {F: 2.50}}\n---\ntitle: T\nid: x\ndetection:\n    sel:\n        \
                    F: 1.50\n        G: [0445, 7]\n        H: {nested: 1e3}\n    condition: sel\nlevel: 1.0\n";
        let found = written_numbers(text, "T", Some("x"));
        let text_of = |n| found.text(n, &"n").unwrap();
        assert_eq!(text_of(Number::Float(1.5f64.to_bits())).as_deref(), Some("1.50"));
        assert_eq!(text_of(Number::Float(2.5f64.to_bits())), None, "another document");
        assert_eq!(text_of(Number::Float(1.0f64.to_bits())), None, "outside detection");
        assert_eq!(text_of(Number::Integer(7)).as_deref(), Some("7"));
        assert_eq!(text_of(Number::Float(1000f64.to_bits())).as_deref(), Some("1e3"));
        assert_eq!(written_numbers(text, "T", Some("y")).0.len(), 0);
    }

    #[test]
    fn a_number_written_two_ways_is_an_error() {
        let text = "title: T\ndetection: {sel: {F: 1.5, G: 1.50}, condition: sel}\n";
        assert!(written_numbers(text, "T", None).text(Number::Float(1.5f64.to_bits()), &1.5).is_err());
    }
}
