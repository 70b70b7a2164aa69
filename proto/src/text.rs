//! Text that came from the operating system and may not be valid UTF-8.
//!
//! File names and command lines are byte strings on Linux. Vietnamese names are almost
//! always valid UTF-8, but a hostile or legacy name may not be, and evidence must not be
//! altered: invalid bytes are escaped as `\xHH` (and, in such a string only, `\` as `\\`)
//! so the original bytes can always be recovered.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A string from the operating system, kept losslessly: valid UTF-8 as is, anything else
/// escaped (see the module documentation) so that [`Text::to_bytes`] returns the original.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Text {
    value: String,
    escaped: bool,
}

impl Text {
    /// Takes bytes as the operating system gave them; escapes them only if they are not UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Text {
        match std::str::from_utf8(bytes) {
            Ok(s) => Text { value: s.to_owned(), escaped: false },
            Err(_) => Text { value: escape(bytes), escaped: true },
        }
    }

    /// The text as valid UTF-8 (escaped if the original bytes were not UTF-8).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Whether the original bytes were not valid UTF-8.
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// The original bytes, exactly as the operating system gave them.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.escaped { unescape(&self.value) } else { self.value.as_bytes().to_vec() }
    }

    /// A rendering safe for a terminal: control characters (including ESC and bidi
    /// overrides) are shown as `\u{..}` so an attacker-chosen file name cannot rewrite
    /// the analyst's screen.
    pub fn display_safe(&self) -> String {
        terminal_safe(&self.value)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text { value: s.to_owned(), escaped: false }
    }
}

impl From<String> for Text {
    fn from(value: String) -> Text {
        Text { value, escaped: false }
    }
}

#[cfg(unix)]
impl From<&std::path::Path> for Text {
    fn from(p: &std::path::Path) -> Text {
        use std::os::unix::ffi::OsStrExt;
        Text::from_bytes(p.as_os_str().as_bytes())
    }
}

#[cfg(not(unix))]
impl From<&std::path::Path> for Text {
    fn from(p: &std::path::Path) -> Text {
        Text::from(p.to_string_lossy().into_owned())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Escapes characters that a terminal would interpret (control characters, including ESC, and
/// bidirectional overrides) as `\u{..}`, so text from outside the process cannot rewrite an
/// analyst's screen. Use it on anything printed to a terminal.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let dangerous =
            c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if dangerous {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                push_escaping_backslash(&mut out, valid);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // `valid_up_to` guarantees this prefix is UTF-8.
                push_escaping_backslash(&mut out, std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len()).max(1);
                for b in &after[..bad] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = &after[bad..];
            }
        }
    }
    out
}

fn push_escaping_backslash(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
}

fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            if bytes[i + 1] == b'\\' {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if bytes[i + 1] == b'x' && i + 3 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).ok();
                if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_utf8_is_kept_verbatim() {
        let t = Text::from_bytes("Kế hoạch tuyệt mật.docx".as_bytes());
        assert!(!t.is_escaped());
        assert_eq!(t.as_str(), "Kế hoạch tuyệt mật.docx");
    }

    #[test]
    fn invalid_bytes_round_trip_losslessly() {
        let raw = b"C:\\th\xff\xfe m\\x41\xc3".to_vec();
        let t = Text::from_bytes(&raw);
        assert!(t.is_escaped());
        assert!(t.as_str().contains("\\xff\\xfe"));
        assert_eq!(t.to_bytes(), raw);
    }

    #[test]
    fn control_characters_are_neutralised_for_terminals() {
        let t = Text::from("evil\x1b[2J\u{202e}fdp.exe");
        assert_eq!(t.display_safe(), "evil\\u{1b}[2J\\u{202e}fdp.exe");
    }
}
