//! Detection rules read as the Sigma Rules Specification v2.1 and its modifiers appendix read
//! them, where rsigma 0.23 reads them otherwise (the table, with the upstream reports, is in
//! `rules/README.md`).
//!
//! Each correction rewrites the parsed rule between parse and compile into one rsigma evaluates
//! as the specification says, so nothing is added to the per-event work of the engine.

use crate::written::{self, Number, WrittenNumbers};

use rsigma_parser::{
    Detection, DetectionItem, FieldSpec, Modifier, SigmaRule, SigmaString, SigmaValue, SpecialChar, StringPart,
};

/// Rewrites every detection of `rule`, whose file is `text`; the reason the rule is refused
/// when the specification asks for what no log field can hold.
pub(crate) fn rewrite(rule: &mut SigmaRule, text: &str) -> Result<(), String> {
    // Floats and integers written other than in decimal (`0x1F`, `0o17`, `+5`) are rare: the
    // file is read again only for a rule that has one, not for the thousands of `EventID: 4624`.
    let numbers = if rule.detection.named.values().any(|d| needs_written_text(d, text)) {
        written::written_numbers(text, &rule.title, rule.id.as_deref())
    } else {
        WrittenNumbers::default()
    };
    for detection in rule.detection.named.values_mut() {
        rewrite_detection(detection, &numbers)?;
    }
    Ok(())
}

/// Whether `detection` holds a float, or an integer whose decimal text the file `text` does not
/// hold as a plain scalar (so it was written `0x1F`, `0o17` or `+5`).
fn needs_written_text(detection: &Detection, text: &str) -> bool {
    let needs = |value: &SigmaValue| match value {
        SigmaValue::Float(_) => true,
        SigmaValue::Integer(n) => !holds_plain_scalar(text, &n.to_string()),
        _ => false,
    };
    match detection {
        Detection::AllOf(items) => items.iter().flat_map(|i| &i.values).any(needs),
        Detection::AnyOf(parts) | Detection::And(parts) => parts.iter().any(|d| needs_written_text(d, text)),
        Detection::Keywords(values) => values.iter().any(needs),
        Detection::ArrayMatch { body, .. } => needs_written_text(body, text),
        Detection::Conditional { named, .. } => named.values().any(|d| needs_written_text(d, text)),
    }
}

/// Whether `scalar` appears in the YAML `text` as a plain scalar of its own: after a space, a
/// tab or a flow delimiter, and before the end of the line, a comment or a flow delimiter.
fn holds_plain_scalar(text: &str, scalar: &str) -> bool {
    text.match_indices(scalar).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + scalar.len()..].chars().next();
        matches!(before, Some(' ' | '\t' | '[' | '{' | ','))
            && matches!(after, None | Some('\n' | '\r' | ' ' | '\t' | '#' | ',' | ']' | '}'))
    })
}

fn rewrite_detection(detection: &mut Detection, numbers: &WrittenNumbers) -> Result<(), String> {
    match detection {
        Detection::AllOf(items) => {
            for item in items.iter_mut() {
                values_are_strings(item, numbers)?;
                utf16_without_base64(item)?;
            }
            let mut split = Vec::new();
            for item in std::mem::take(items) {
                split.extend(base64_offset_stable_middle(item));
            }
            if let Some(rewritten) = keywords_all_anywhere(&mut split) {
                *detection = rewritten;
            } else {
                *items = split;
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            parts.iter_mut().try_for_each(|part| rewrite_detection(part, numbers))?;
        }
        Detection::Keywords(values) => values.iter_mut().try_for_each(|value| value_as_string(value, numbers))?,
        Detection::ArrayMatch { body, .. } => rewrite_detection(body, numbers)?,
        Detection::Conditional { named, .. } => {
            named.values_mut().try_for_each(|part| rewrite_detection(part, numbers))?;
        }
    }
    Ok(())
}

/// Encodes the values of a `wide`/`utf16le`/`utf16be`/`utf16` item that no base64 encoding
/// follows, as the text a log field holding those bytes reads as.
///
/// Appendix, "Encoding": "`utf16le`: Transforms value to UTF16-LE encoding, e.g. `cmd` > `63 00
/// 6d 00 64 00`", "`utf16be`: … `00 63 00 6d 00 64`", "`wide`: an alias for the `utf16le`
/// modifier". rsigma 0.23 computes the encoded bytes only for base64 and otherwise matches the
/// value as written, so `F|wide: cmd` matched `cmd`. The value becomes its encoded bytes, one
/// character each (`c\0m\0d\0`); wildcards stay wildcards between the encoded pieces (`?`, one
/// character, becomes two: one UTF-16 unit is two bytes), and the other modifiers (`contains`,
/// …) apply as before. A byte that is not ASCII (any character beyond it, and `utf16`'s byte
/// order mark `FF FE`) cannot be in a text field: such a rule is refused, as pySigma refuses
/// `wide` for a value that is not ASCII.
fn utf16_without_base64(item: &mut DetectionItem) -> Result<(), String> {
    let modifiers = &item.field.modifiers;
    let Some(encoding) =
        modifiers.iter().copied().find(|m| matches!(m, Modifier::Wide | Modifier::Utf16be | Modifier::Utf16))
    else {
        return Ok(());
    };
    if modifiers.iter().any(|m| matches!(m, Modifier::Base64 | Modifier::Base64Offset)) {
        return Ok(());
    }
    let name = match encoding {
        Modifier::Wide => "wide/utf16le",
        Modifier::Utf16be => "utf16be",
        _ => "utf16",
    };
    let unsupported = modifiers.iter().find(|m| {
        !matches!(
            m,
            Modifier::Wide
                | Modifier::Utf16be
                | Modifier::Utf16
                | Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Cased
        )
    });
    if let Some(other) = unsupported {
        return Err(format!("{name} without base64 next to {other:?} is not supported"));
    }
    if encoding == Modifier::Utf16 {
        return Err("utf16 without base64: its byte order mark (FF FE) is not text a log field can hold".to_owned());
    }
    for value in &mut item.values {
        let SigmaValue::String(text) = value else { continue };
        let mut parts = Vec::with_capacity(text.parts.len());
        for part in &text.parts {
            let plain = match part {
                StringPart::Plain(plain) => plain,
                // One character is one UTF-16 unit: two bytes.
                StringPart::Special(SpecialChar::WildcardSingle) => {
                    parts.extend([part.clone(), part.clone()]);
                    continue;
                }
                StringPart::Special(_) => {
                    parts.push(part.clone());
                    continue;
                }
            };
            if !plain.is_ascii() {
                return Err(format!(
                    "{name} without base64 of a value that is not ASCII ({:?}): its bytes are not text a log field can hold",
                    text.original
                ));
            }
            let encoded: String =
                plain.chars().flat_map(|c| if encoding == Modifier::Wide { [c, '\0'] } else { ['\0', c] }).collect();
            parts.push(StringPart::Plain(encoded));
        }
        text.parts = parts;
    }
    item.field.modifiers.retain(|m| !matches!(m, Modifier::Wide | Modifier::Utf16be));
    Ok(())
}

/// Makes numbers and booleans written in a rule plain strings, unless a numeric modifier asks
/// for a number.
///
/// Spec, "General": "All values are treated as case-insensitive strings."; appendix "Numeric
/// Modifiers": `lt`, `lte`, `gt`, `gte` compare numbers. rsigma compiles an unquoted `445` to a
/// numeric equality that parses the event's string as a number, so it matched `"0445"` and
/// `"445.0"`, and an unquoted `true` to a boolean test that matched `"yes"` and `"1"`. A float
/// becomes the text it was written as (`1.50`, not `1.5`), read back from the file.
fn values_are_strings(item: &mut DetectionItem, numbers: &WrittenNumbers) -> Result<(), String> {
    let numeric = item.field.modifiers.iter().any(|m| {
        matches!(
            m,
            Modifier::Lt
                | Modifier::Lte
                | Modifier::Gt
                | Modifier::Gte
                | Modifier::Exists
                | Modifier::Minute
                | Modifier::Hour
                | Modifier::Day
                | Modifier::Week
                | Modifier::Month
                | Modifier::Year
        )
    });
    if !numeric {
        item.values.iter_mut().try_for_each(|value| value_as_string(value, numbers))?;
    }
    Ok(())
}

fn value_as_string(value: &mut SigmaValue, numbers: &WrittenNumbers) -> Result<(), String> {
    let text = match value {
        SigmaValue::Integer(n) => numbers.text(Number::Integer(*n), n)?.unwrap_or_else(|| n.to_string()),
        SigmaValue::Float(f) => numbers.text(Number::Float(f.to_bits()), f)?.unwrap_or_else(|| f.to_string()),
        SigmaValue::Bool(b) => b.to_string(),
        SigmaValue::String(_) | SigmaValue::Null => return Ok(()),
    };
    *value = SigmaValue::String(SigmaString::from_raw(&text));
    Ok(())
}

/// Replaces a `base64offset` item by the three encodings' stable parts, each searched for.
///
/// Appendix, "Encoding": "There are three variants for shifts by zero to two bytes and except
/// the first and last byte the encoded values have a static part in the middle that can be
/// recognized." rsigma 0.23 keeps the last, partly encoded character of each variant, which
/// depends on the byte that follows the value: a value followed by anything else in the encoded
/// text was not found. With `all`, each value becomes its own item (all of them must be found,
/// each in any of its three variants).
fn base64_offset_stable_middle(item: DetectionItem) -> Vec<DetectionItem> {
    let modifiers = &item.field.modifiers;
    let Some(at) = modifiers.iter().position(|m| *m == Modifier::Base64Offset) else { return vec![item] };
    let encodings = &modifiers[..at];
    let plain_after = modifiers[at + 1..].iter().all(|m| {
        matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::All | Modifier::Cased)
    });
    let only_encodings =
        encodings.iter().all(|m| matches!(m, Modifier::Wide | Modifier::Utf16be | Modifier::Utf16 | Modifier::Cased));
    let texts: Option<Vec<String>> = item
        .values
        .iter()
        .map(|v| match v {
            SigmaValue::String(s) => s.as_plain(),
            _ => None,
        })
        .collect();
    // Anything else (wildcards, a number, an encoding after base64offset) is left to rsigma.
    let (true, true, Some(texts)) = (plain_after, only_encodings, texts) else { return vec![item] };
    let mut kept: Vec<Modifier> = modifiers
        .iter()
        .copied()
        .filter(|m| matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Cased))
        .collect();
    // rsigma searches for the variants anywhere; so do we when no position is written.
    if !kept.iter().any(|m| matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith)) {
        kept.push(Modifier::Contains);
    }
    let variants = |text: &String| -> Vec<SigmaValue> {
        let mut bytes = text.as_bytes().to_vec();
        for encoding in encodings {
            bytes = encode(*encoding, &bytes);
        }
        offset_variants(&bytes).iter().map(|v| SigmaValue::String(SigmaString::from_raw(v))).collect()
    };
    let field = |modifiers: Vec<Modifier>| FieldSpec::new(item.field.name.clone(), modifiers);
    if modifiers.contains(&Modifier::All) {
        texts.iter().map(|t| DetectionItem { field: field(kept.clone()), values: variants(t) }).collect()
    } else {
        vec![DetectionItem { field: field(kept), values: texts.iter().flat_map(variants).collect() }]
    }
}

fn encode(encoding: Modifier, bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    match encoding {
        Modifier::Wide => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Modifier::Utf16be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Modifier::Utf16 => [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
        _ => bytes.to_vec(),
    }
}

/// The three encodings of `bytes` preceded by zero, one and two bytes, each cut to the
/// characters that depend on `bytes` alone: after the first one or two (shared with the bytes
/// before) and before the last one or two (shared with the bytes after, or padding).
pub(crate) fn offset_variants(bytes: &[u8]) -> Vec<String> {
    (0..3)
        .filter_map(|shift: usize| {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(bytes);
            let encoded = base64(&shifted);
            let start = [0, 2, 3][shift];
            let end = encoded.len() - [0, 3, 2][shifted.len() % 3];
            (start < end).then(|| encoded[start..end].to_owned())
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Turns keyword items with `all` (`'|all': [a, b]`) into one keyword search per value, all
/// required.
///
/// Spec, "Keywords search": "It's a matter of searching for keywords across an entire event",
/// and with the `'|all':` modifier, `OabVirtualDirectory` and ` -ExternalUrl ` "Give :
/// "OabVirtualDirectory" **and** " -ExternalUrl "". rsigma 0.23 compiles the item to one
/// matcher tried on each string of the event in turn, and as an exact match: both keywords had
/// to be the whole of one and the same field.
fn keywords_all_anywhere(items: &mut Vec<DetectionItem>) -> Option<Detection> {
    // A single value with `all` stays as written, for rsigma to refuse: "Single item values are
    // not allowed to have an `all` modifier".
    let is_keywords_all =
        |i: &DetectionItem| i.field.name.is_none() && i.field.modifiers == [Modifier::All] && i.values.len() > 1;
    if !items.iter().any(is_keywords_all) {
        return None;
    }
    let (keywords, fields): (Vec<_>, Vec<_>) = std::mem::take(items).into_iter().partition(is_keywords_all);
    let mut parts: Vec<Detection> =
        keywords.into_iter().flat_map(|k| k.values).map(|v| Detection::Keywords(vec![v])).collect();
    if !fields.is_empty() {
        parts.push(Detection::AllOf(fields));
    }
    Some(if parts.len() == 1 { parts.remove(0) } else { Detection::And(parts) })
}

#[cfg(test)]
mod tests {
    use super::{base64, offset_variants};

    #[test]
    fn base64_matches_the_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xFF, 0xFE, 0xFD]), "//79");
    }

    /// pySigma's variants for `/bin/bash` (its test of `base64offset`).
    #[test]
    fn offset_variants_keep_the_stable_middle() {
        assert_eq!(offset_variants(b"/bin/bash"), ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
    }
}
