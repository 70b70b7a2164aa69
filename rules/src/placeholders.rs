//! Placeholder values for `expand`, from configuration, and the rewrite that puts them in rules.
//!
//! Spec, "Placeholders": placeholders "get their final meaning at conversion or usage time of
//! the rule", only under `expand`; "`field|expand: \%plain%name%` handles `%plain` as plain
//! value and `%name%` as placeholder", and "If the tool isn't able to handle placeholders, it
//! must reject the rule." rsigma 0.23 fills a placeholder from the event field of the same
//! name at match time. Here a placeholder takes the values configured for it, as pySigma's
//! value-list placeholder transformation does (its processing pipelines' `vars:` section is the
//! file format), and a rule with a placeholder that has none is refused with that reason.

use std::collections::HashMap;
use std::path::Path;

use rsigma_parser::{Detection, Modifier, SigmaRule, SigmaString, SigmaValue};
use serde::Deserialize;

/// Values of each placeholder, by name (without the `%`).
#[derive(Clone, Debug, Default)]
pub struct Placeholders {
    values: HashMap<String, Vec<String>>,
}

/// A placeholder's value or values, as a pipeline file writes them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    One(Scalar),
    Many(Vec<Scalar>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(text) => text,
            Scalar::Integer(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// The part of a pySigma processing pipeline file that defines placeholder values; the rest
/// (`name`, `priority`, `transformations`…) is pySigma's and ignored.
#[derive(Deserialize)]
struct PipelineFile {
    #[serde(default)]
    vars: HashMap<String, Values>,
}

impl Placeholders {
    /// Reads a pySigma processing pipeline file's `vars:` (placeholder name → a value or a
    /// list of values; values may use Sigma wildcards).
    pub fn from_file(path: &Path) -> Result<Placeholders, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Placeholders::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// As [`Placeholders::from_file`], from the file's text.
    pub fn from_yaml(text: &str) -> Result<Placeholders, String> {
        let file: PipelineFile = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        let values = file
            .vars
            .into_iter()
            .map(|(name, values)| {
                let values = match values {
                    Values::One(value) => vec![value.into_text()],
                    Values::Many(values) => values.into_iter().map(Scalar::into_text).collect(),
                };
                (name, values)
            })
            .collect();
        Ok(Placeholders { values })
    }

    /// Replaces every `expand` value of `rule` by the values of its placeholders, or says
    /// which placeholder has none.
    pub(crate) fn expand(&self, rule: &mut SigmaRule) -> Result<(), String> {
        rule.detection.named.values_mut().try_for_each(|d| self.expand_detection(d))
    }

    fn expand_detection(&self, detection: &mut Detection) -> Result<(), String> {
        match detection {
            Detection::AllOf(items) => {
                for item in items.iter_mut().filter(|i| i.field.modifiers.contains(&Modifier::Expand)) {
                    let mut expanded = Vec::new();
                    for value in &item.values {
                        match value {
                            SigmaValue::String(s) => expanded.extend(
                                self.fill(&s.original)?.iter().map(|v| SigmaValue::String(SigmaString::new(v))),
                            ),
                            other => expanded.push(other.clone()),
                        }
                    }
                    item.values = expanded;
                    item.field.modifiers.retain(|m| *m != Modifier::Expand);
                }
                Ok(())
            }
            Detection::AnyOf(parts) | Detection::And(parts) => {
                parts.iter_mut().try_for_each(|d| self.expand_detection(d))
            }
            Detection::ArrayMatch { body, .. } => self.expand_detection(body),
            Detection::Conditional { named, .. } => named.values_mut().try_for_each(|d| self.expand_detection(d)),
            Detection::Keywords(_) => Ok(()),
        }
    }

    /// Every string `text` stands for: each placeholder replaced by each of its values (all
    /// combinations when there are several placeholders). `\%` is a plain `%`.
    fn fill(&self, text: &str) -> Result<Vec<String>, String> {
        let mut filled = vec![String::new()];
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\\%") {
                filled.iter_mut().for_each(|f| f.push('%'));
                rest = after;
            } else if let Some(after) = rest.strip_prefix('%')
                && let Some(end) = after.find('%')
            {
                let name = &after[..end];
                let values = self
                    .values
                    .get(name)
                    .ok_or_else(|| format!("placeholder %{name}% has no value (see --placeholders)"))?;
                filled = filled.iter().flat_map(|f| values.iter().map(move |v| format!("{f}{v}"))).collect();
                rest = &after[end + 1..];
            } else {
                let next =
                    rest.char_indices().skip(1).find(|(_, c)| matches!(c, '%' | '\\')).map_or(rest.len(), |(i, _)| i);
                filled.iter_mut().for_each(|f| f.push_str(&rest[..next]));
                rest = &rest[next..];
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::Placeholders;

    #[test]
    fn pipeline_vars_are_read_as_value_lists() {
        let placeholders = Placeholders::from_yaml(
            "name: site\npriority: 10\nvars:\n    Admins: [root, 'adm*']\n    Port: 445\ntransformations:\n    - type: value_placeholders\n",
        )
        .expect("parses");
        assert_eq!(placeholders.fill("%Admins%").expect("defined"), ["root", "adm*"]);
        assert_eq!(placeholders.fill("\\%plain%Port%").expect("defined"), ["%plain445"]);
        assert_eq!(placeholders.fill("%Admins%:%Port%").expect("defined"), ["root:445", "adm*:445"]);
        assert!(placeholders.fill("%Servers%").unwrap_err().contains("%Servers%"));
        assert_eq!(placeholders.fill("100%").expect("no placeholder"), ["100%"]);
    }
}
