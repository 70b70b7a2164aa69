//! `exists` as the specification reads it: a field is present even when its value is null.
//!
//! Appendix, "Generic Modifiers": `exists` "Defines that a certain field has to exist or must
//! not exist in a log event by providing a boolean value. Note that this check only verifies
//! the presence of a field, not its value, be it empty or null." rsigma 0.23 counts a field
//! whose value is null as absent, and Windows event logs render an empty `<Data/>` as null.
//!
//! An `exists` item is rewritten at load to ask for a presence field (the field's name followed
//! by [`SUFFIX`]), which [`Presented`] answers for the event: present, whatever the value, or
//! absent. Every other lookup passes straight through, so `Field: null` still matches both a
//! null and a missing field. The marker is a suffix after a dot so that the presence field
//! has its field's first path segment: rsigma's candidate index probes a field only when the
//! event has a top-level key equal to that segment.

use std::borrow::Cow;

use rsigma_eval::{Event, EventValue};
use rsigma_parser::{Detection, Modifier, SigmaRule};
use serde_json::Value;

/// Ends the name of a presence field: a path segment starting with a control character no log
/// field name carries.
const SUFFIX: &str = ".\u{1}present";

/// Points every `exists` item of `rule` at its field's presence field.
pub(crate) fn rewrite(rule: &mut SigmaRule) {
    fn walk(detection: &mut Detection) {
        match detection {
            Detection::AllOf(items) => {
                for item in items.iter_mut().filter(|i| i.field.modifiers.contains(&Modifier::Exists)) {
                    if let Some(name) = &mut item.field.name {
                        name.push_str(SUFFIX);
                    }
                }
            }
            Detection::AnyOf(parts) | Detection::And(parts) => parts.iter_mut().for_each(walk),
            Detection::ArrayMatch { body, .. } => walk(body),
            Detection::Conditional { named, .. } => named.values_mut().for_each(walk),
            Detection::Keywords(_) => {}
        }
    }
    rule.detection.named.values_mut().for_each(walk);
}

/// The field a presence field stands for, when `field` is one: results name that field.
pub(crate) fn presence_of(field: &str) -> Option<&str> {
    field.strip_suffix(SUFFIX)
}

/// An event as the rewritten rules see it: with presence fields.
pub(crate) struct Presented<'a, E>(pub(crate) &'a E);

impl<E: Event> Event for Presented<'_, E> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        match path.strip_suffix(SUFFIX) {
            Some(field) => self.0.get_field(field).map(|_| EventValue::Bool(true)),
            None => self.0.get_field(path),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.0.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.0.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.0.visit_string_values(visit);
    }

    fn to_json(&self) -> Value {
        self.0.to_json()
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        self.0.field_keys()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        self.0.top_level_keys()
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.0.visit_top_level_keys(visit)
    }
}
