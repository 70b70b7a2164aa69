//! The Sigma specification v2.1, point by point: for each clause a rule, events that must match
//! and near-misses that must not. The expectations come from the text quoted with each case
//! (SigmaHQ/sigma-specification, `specification/sigma-rules-specification.md` and
//! `specification/sigma-appendix-modifiers.md`), never from an engine's output; where rsigma
//! reads a clause otherwise, `rules/README.md` lists the departure and our correction.

use haidang_rules::RuleSet;
use rsigma_eval::JsonEvent;
use serde_json::{Value, json};

/// A detection rule with `detection` (YAML, indented four spaces) and condition `sel`.
fn rule(detection: &str) -> RuleSet {
    let yaml = format!(
        "title: Conformance\nid: 00000000-0000-4000-8000-00000000c0f0\nlogsource:\n    product: test\n\
         detection:\n{detection}\n    condition: sel\n"
    );
    let (rules, report) = RuleSet::load_documents(&[("conformance.yml", &yaml)]);
    assert!(!report.has_errors(), "{yaml}\n{:?}", report.skipped_entries().map(|e| e.to_string()).collect::<Vec<_>>());
    rules
}

fn matches(rules: &RuleSet, event: &Value) -> bool {
    !rules.detect(&JsonEvent::borrow(event), None).is_empty()
}

/// Checks one clause: every `hit` matches the rule, no `miss` does.
#[track_caller]
fn clause(spec: &str, detection: &str, hits: &[Value], misses: &[Value]) {
    let rules = rule(detection);
    for hit in hits {
        assert!(matches(&rules, hit), "spec: {spec}\nrule:\n{detection}\nmust match {hit}");
    }
    for miss in misses {
        assert!(!matches(&rules, miss), "spec: {spec}\nrule:\n{detection}\nmust not match {miss}");
    }
}

fn field(value: impl Into<Value>) -> Value {
    json!({ "F": value.into() })
}

// ---------------------------------------------------------------------------------------------
// Rules specification, "General", "String Wildcard", "Escape Character", "Lists", "Maps",
// "Special Field Values", "Keywords search".
// ---------------------------------------------------------------------------------------------

#[test]
fn values_are_case_insensitive_strings() {
    clause(
        "General: \"All values are treated as case-insensitive strings.\"",
        "    sel:\n        F: 'Whoami.EXE'",
        &[field("whoami.exe"), field("WHOAMI.EXE")],
        &[field("whoami.exe "), field("xwhoami.exe")],
    );
}

#[test]
fn an_unquoted_number_is_the_string_of_its_digits() {
    clause(
        "General: \"All values are treated as case-insensitive strings.\"",
        "    sel:\n        F: 445",
        &[field("445"), field(445)],
        &[field("0445"), field("445.0"), field(4450), field("4.45e2")],
    );
    clause(
        "General: \"All values are treated as case-insensitive strings.\" (lists of values)",
        "    sel:\n        F:\n            - 4624\n            - 4625",
        &[field(4625), field("4624")],
        &[field("04624"), field(4626)],
    );
}

#[test]
fn an_unquoted_float_is_the_string_as_written() {
    clause(
        "General: \"All values are treated as case-insensitive strings.\"",
        "    sel:\n        F: 1.50\n        G:\n            - 2e3\n            - .5",
        &[json!({"F": "1.50", "G": "2E3"}), json!({"F": "1.50", "G": ".5"})],
        &[json!({"F": "1.5", "G": "2e3"}), json!({"F": 1.5, "G": "2e3"}), json!({"F": "1.50", "G": "2000"})],
    );
    // One number written two ways: the parsed rule cannot tell which value is which.
    let yaml = "title: Two ways\nid: 00000000-0000-4000-8000-00000000c0f2\nlogsource:\n    product: test\ndetection:\n    \
                sel:\n        F: 1.5\n        G: 1.50\n    condition: sel\n";
    let (rules, report) = RuleSet::load_documents(&[("two_ways.yml", yaml)]);
    assert_eq!(rules.detection_rules(), 0);
    let skipped: Vec<String> = report.skipped_entries().map(|e| e.to_string()).collect();
    assert!(skipped.len() == 1 && skipped[0].contains("written both as 1.5 and as 1.50"), "{skipped:?}");
}

#[test]
fn an_unquoted_integer_in_another_base_is_the_string_as_written() {
    clause(
        "General: \"All values are treated as case-insensitive strings.\"",
        "    sel:\n        F: 0x1F\n        G: +5\n        H: 0o17\n        I: 4624",
        &[
            json!({"F": "0x1F", "G": "+5", "H": "0o17", "I": "4624"}),
            json!({"F": "0X1f", "G": "+5", "H": "0O17", "I": 4624}),
        ],
        &[
            json!({"F": "31", "G": "+5", "H": "0o17", "I": "4624"}),
            json!({"F": 31, "G": "+5", "H": "0o17", "I": "4624"}),
            json!({"F": "0x1F", "G": "5", "H": "0o17", "I": "4624"}),
            json!({"F": "0x1F", "G": "+5", "H": "15", "I": "4624"}),
        ],
    );
}

#[test]
fn an_unquoted_boolean_is_the_string_true_or_false() {
    clause(
        "General: \"All values are treated as case-insensitive strings.\"",
        "    sel:\n        F: true",
        &[field(true), field("true"), field("TRUE")],
        &[field("yes"), field("1"), field(1), field(false)],
    );
}

#[test]
fn wildcards_stand_for_one_or_any_characters() {
    clause(
        "String Wildcard: \"`?` to replace a single mandatory character.\" \"`*` to replace an unbounded length wildcard.\"",
        "    sel:\n        F: 'prog?.exe*'",
        &[field("progA.exe"), field("PROGb.exe --x")],
        &[field("prog.exe"), field("progAB.exe")],
    );
}

#[test]
fn escaped_wildcards_are_plain_characters() {
    clause(
        "Escape Character: \"A wildcard has to be escaped to be handled as a plain character. eg: `\\*`, `\\?`.\"",
        "    sel:\n        F: 'a\\*b\\?'",
        &[field("a*b?")],
        &[field("axxb?"), field("a*bc")],
    );
    clause(
        "Escape Character: \"The backslash before a wildcard has to be escaped to handle the value as a backslash followed by a wildcard: `\\\\*`.\"",
        "    sel:\n        F: 'C:\\\\*'",
        &[field("C:\\Windows"), field("C:\\")],
        &[field("C:Windows")],
    );
}

#[test]
fn list_values_are_or_and_map_items_are_and() {
    clause(
        "Maps: \"All elements of a map are joined with a logical 'AND'.\"; EventID 517 or 1102",
        "    sel:\n        EventLog: Security\n        EventID:\n            - 517\n            - 1102",
        &[json!({"EventLog": "Security", "EventID": 1102}), json!({"EventLog": "security", "EventID": "517"})],
        &[json!({"EventLog": "Security", "EventID": 4624}), json!({"EventLog": "System", "EventID": 517})],
    );
    clause(
        "Lists: \"maps (see below). All map items of a list are logically linked with 'OR'.\"",
        "    sel:\n        - Image|endswith: '\\example.exe'\n        - Description|contains: 'Test executable'",
        &[json!({"Image": "C:\\x\\example.exe"}), json!({"Description": "A test executable here"})],
        &[json!({"Image": "C:\\x\\example.exe.bak", "Description": "executable"})],
    );
}

#[test]
fn empty_and_null_are_their_own_values() {
    clause(
        "Special Field Values: \"An empty value is defined with `''`\"",
        "    sel:\n        F: ''",
        &[field("")],
        &[field(" "), field("x")],
    );
    clause(
        "Special Field Values: \"A null value is defined with `null`\" (example `PasswordLastSet: null`)",
        "    sel:\n        F: null",
        &[field(Value::Null), json!({})],
        &[field(""), field("null"), field(0)],
    );
}

#[test]
fn keywords_are_searched_across_the_entire_event() {
    clause(
        "Keywords search: \"It's a matter of searching for keywords across an entire event.\" Give : \"event::clear\" **or** \"event::drop\"",
        "    sel:\n        - 'event::clear'\n        - 'event::drop'",
        &[json!({"A": "mimikatz # event::drop", "B": "x"}), json!({"B": "EVENT::CLEAR"})],
        &[json!({"A": "event::list"}), json!({"event::clear": "field name only"})],
    );
}

#[test]
fn keywords_with_all_may_match_in_different_fields() {
    clause(
        "Keywords search: \"To have a **and** operator , we use the `'|all':` modifier\" Give : \"OabVirtualDirectory\" **and** \" -ExternalUrl \"",
        "    sel:\n        '|all':\n            - 'OabVirtualDirectory'\n            - ' -ExternalUrl '",
        &[
            json!({"CommandLine": "Set-OabVirtualDirectory -ExternalUrl 'http://x'"}),
            json!({"Cmdlet": "Set-OabVirtualDirectory", "Parameters": "x -ExternalUrl y"}),
        ],
        &[json!({"Cmdlet": "Set-OabVirtualDirectory", "Parameters": "-InternalUrl"}), json!({"A": " -ExternalUrl "})],
    );
    clause(
        "Keywords search with `'|all':` next to a field in the same map (map items are AND)",
        "    sel:\n        '|all':\n            - 'alpha'\n            - 'beta'\n        EventID: 1",
        &[json!({"EventID": 1, "A": "alpha", "B": "BETA"})],
        &[json!({"EventID": 2, "A": "alpha", "B": "beta"}), json!({"EventID": 1, "A": "alpha"})],
    );
}

// ---------------------------------------------------------------------------------------------
// Modifiers appendix, "Generic Modifiers".
// ---------------------------------------------------------------------------------------------

#[test]
fn modifier_all_links_the_values_with_and() {
    clause(
        "all: \"Normally, lists of values are linked with *OR* in the generated query. This modifier changes this to *AND*.\"",
        "    sel:\n        F|contains|all:\n            - ' -a '\n            - ' -b '",
        &[field("cmd -b  -a x"), field("x -A  -B ")],
        &[field("cmd -a x"), field("cmd -b x")],
    );
}

#[test]
fn modifier_startswith() {
    clause(
        "startswith: \"The value is expected at the beginning of the field's content.\"",
        "    sel:\n        F|startswith: 'adm'",
        &[field("admin"), field("ADM")],
        &[field(" admin"), field("xadm")],
    );
}

#[test]
fn modifier_endswith() {
    clause(
        "endswith: \"The value is expected at the end of the field's content\"",
        "    sel:\n        F|endswith: '\\cmd.exe'",
        &[field("C:\\Windows\\System32\\CMD.EXE")],
        &[field("C:\\cmd.exe.bak"), field("cmd.exe")],
    );
}

#[test]
fn modifier_contains() {
    clause(
        "contains: \"Puts `*` wildcards around the values, such that the value is matched anywhere in the field.\"",
        "    sel:\n        F|contains: 'whoami'",
        &[field("whoami"), field("cmd /c WhoAmI /all")],
        &[field("who ami")],
    );
}

#[test]
fn modifier_exists_checks_presence_not_value() {
    clause(
        "exists: \"Note that this check only verifies the presence of a field, not its value, be it empty or null.\"",
        "    sel:\n        F|exists: true",
        &[field("x"), field(""), field(Value::Null), field(0)],
        &[json!({}), json!({"G": "x"})],
    );
    clause(
        "exists: \"Defines that a certain field has to exist or must not exist in a log event by providing a boolean value.\"",
        "    sel:\n        F|exists: false",
        &[json!({}), json!({"G": Value::Null})],
        &[field(Value::Null), field(""), field("x")],
    );
}

#[test]
fn modifier_cased() {
    clause(
        "cased: \"Values are applied case sensitively. Default Sigma behavior is case-insensitive matching.\"",
        "    sel:\n        F|cased: 'CreateRemoteThread'",
        &[field("CreateRemoteThread")],
        &[field("createremotethread"), field("CREATEREMOTETHREAD")],
    );
}

#[test]
fn modifier_neq() {
    clause(
        "neq: \"The field is different from the specified values.\"",
        "    sel:\n        F|neq:\n            - 'a'\n            - 'b'",
        &[field("c"), field("ab")],
        &[field("a"), field("B")],
    );
}

// ---------------------------------------------------------------------------------------------
// "String Modifiers", "Regular Expression".
// ---------------------------------------------------------------------------------------------

#[test]
fn modifier_windash() {
    clause(
        "windash: \"Creates all possible permutations of the `-`, `/`, `–` (en dash), `—` (em dash), and `―` (horizontal bar) characters.\"",
        "    sel:\n        F|windash|contains: ' -enc '",
        &[field("ps -enc x"), field("ps /enc x"), field("ps –enc x"), field("ps —enc x"), field("ps ―enc x")],
        &[field("ps +enc x"), field("ps enc x")],
    );
}

#[test]
fn modifier_re_is_case_sensitive() {
    clause(
        "re: \"Value is handled as a regular expression by backends. Regex is matched case-sensitive by default.\"",
        "    sel:\n        F|re: 'ab+c'",
        &[field("abbc"), field("xabcx")],
        &[field("ABBC"), field("ac")],
    );
}

#[test]
fn modifier_re_i() {
    clause(
        "re sub-modifiers: \"`i`: (insensitive) to enable case-insensitive matching.\"",
        "    sel:\n        F|re|i: '^ab+c$'",
        &[field("ABBC"), field("abc")],
        &[field("xabc")],
    );
}

#[test]
fn modifier_re_m() {
    clause(
        "re sub-modifiers: \"`m`: (multi line) to match across multiple lines. `^` /`$` match the start/end of line.\"",
        "    sel:\n        F|re|m: '^b$'",
        &[field("a\nb\nc")],
        &[field("a\nbb\nc")],
    );
    clause(
        "re without `m`: `^`/`$` are the start/end of the value",
        "    sel:\n        F|re: '^b$'",
        &[field("b")],
        &[field("a\nb\nc")],
    );
}

#[test]
fn modifier_re_s() {
    clause(
        "re sub-modifiers: \"`s`: (single line) to enable that dot (`.`) matches all characters, including the newline character.\"",
        "    sel:\n        F|re|s: 'a.c'",
        &[field("a\nc"), field("abc")],
        &[field("ac")],
    );
    clause(
        "re without `s`: `.` does not match a newline",
        "    sel:\n        F|re: 'a.c'",
        &[field("abc")],
        &[field("a\nc")],
    );
}

// ---------------------------------------------------------------------------------------------
// "Encoding".
// ---------------------------------------------------------------------------------------------

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// `encoded` at every byte offset (0, 1, 2 bytes before it) and followed by other bytes, and
/// at the very end: the events a `base64offset` rule must find, each base64-encoded.
fn at_every_offset(encoded: &[u8]) -> Vec<Value> {
    let mut events = Vec::new();
    for before in [&b""[..], b"x", b"xy", b"IEX "] {
        for after in [&b""[..], b"!", b"; more text", b"\x00\xff"] {
            let whole = [before, encoded, after].concat();
            events.push(field(format!("powershell -enc {}", base64(&whole))));
        }
    }
    events
}

#[test]
fn modifier_base64() {
    clause(
        "base64: \"The value is encoded with Base64.\"",
        "    sel:\n        F: 'Y21k'\n        G|base64: 'cmd'",
        &[json!({"F": "Y21k", "G": "Y21k"})],
        &[json!({"F": "Y21k", "G": "Y21kZA=="})],
    );
    clause(
        "base64: \"The value is encoded with Base64.\" (with contains)",
        "    sel:\n        F|base64|contains: 'http://'",
        &[field(format!("x {} y", base64(b"http://")))],
        &[field(base64(b"https://"))],
    );
}

#[test]
fn encoded_values_are_matched_without_case_unless_cased() {
    clause(
        "cased: \"Values are applied case sensitively. Default Sigma behavior is case-insensitive matching.\" \
         (base64: \"The value is encoded with Base64.\")",
        "    sel:\n        F|base64: 'cmd'",
        &[field("Y21k"), field("y21K")],
        &[field("Y21kZA==")],
    );
    clause(
        "cased: \"Values are applied case sensitively.\" (with base64 and base64offset)",
        "    sel:\n        F|base64|cased: 'cmd'\n        G|base64offset|contains|cased: 'cmd'",
        &[json!({"F": "Y21k", "G": base64(b"xcmd")})],
        &[json!({"F": "y21K", "G": base64(b"xcmd")}), json!({"F": "Y21k", "G": base64(b"xcmd").to_lowercase()})],
    );
}

#[test]
fn modifier_base64offset_finds_the_value_at_every_offset_whatever_follows() {
    clause(
        "base64offset: \"There are three variants for shifts by zero to two bytes and except the first and last byte the encoded values have a static part in the middle that can be recognized.\"",
        "    sel:\n        F|base64offset|contains: 'IEX (New-Object'",
        &at_every_offset(b"IEX (New-Object"),
        &[field(base64(b"IEX (New-Objexx")), field(base64(b"IEX New-Object"))],
    );
    // Every length modulo 3, so that each variant has a trailing partial character.
    for value in ["/bin/bash", "/bin/bash ", "/bin/bash -"] {
        let hits = at_every_offset(value.as_bytes());
        clause(
            "base64offset (each value length modulo 3)",
            &format!("    sel:\n        F|base64offset|contains: '{value}'"),
            &hits,
            &[field(base64(b"/bin/dash"))],
        );
    }
}

#[test]
fn modifier_base64offset_with_all_requires_every_value() {
    clause(
        "all: \"This modifier changes this to *AND*.\" with base64offset: each value in any of its three variants",
        "    sel:\n        F|base64offset|contains|all:\n            - 'Invoke-Mimikatz'\n            - 'DumpCreds'",
        &[field(format!("{} {}", base64(b"xInvoke-Mimikatz -x"), base64(b"xy DumpCreds;")))],
        &[field(base64(b"xInvoke-Mimikatz -x")), field(base64(b"xy DumpCreds;"))],
    );
}

#[test]
fn modifier_utf16le_and_wide_with_base64offset() {
    for modifier in ["utf16le", "wide"] {
        clause(
            "utf16le: \"Transforms value to UTF16-LE encoding, e.g. `cmd` > `63 00 6d 00 64 00`\"; wide: \"an alias for the `utf16le` modifier.\"",
            &format!("    sel:\n        F|{modifier}|base64offset|contains: 'ping -n'"),
            &at_every_offset(&utf16le("ping -n")),
            &[field(base64(b"xping -n 1")), field(base64(&utf16be("ping -n")))],
        );
    }
}

#[test]
fn modifier_utf16be_with_base64offset() {
    clause(
        "utf16be: \"Transforms value to UTF16-BE encoding, e.g. `cmd` > `00 63 00 6d 00 64`\"",
        "    sel:\n        F|utf16be|base64offset|contains: 'ping -n'",
        &at_every_offset(&utf16be("ping -n")),
        &[field(base64(&utf16le("ping -n")))],
    );
}

#[test]
fn modifier_utf16_with_base64() {
    let with_bom = [&[0xFF, 0xFE][..], &utf16le("cmd")].concat();
    clause(
        "utf16: \"Prepends a byte order mark and encodes UTF16, e.g. `cmd` > `FF FE 63 00 6d 00 64 00`\"",
        "    sel:\n        F|utf16|base64: 'cmd'",
        &[field(base64(&with_bom))],
        &[field(base64(&utf16le("cmd"))), field(base64(b"cmd"))],
    );
}

/// An event whose field `F` holds UTF-16 bytes: text with a NUL beside each ASCII character.
fn bytes_as_text(bytes: &[u8]) -> Value {
    field(Value::String(bytes.iter().map(|&b| char::from(b)).collect()))
}

#[test]
fn modifier_utf16le_and_wide_without_base64_match_the_encoded_bytes() {
    for modifier in ["wide", "utf16le"] {
        clause(
            "utf16le: \"Transforms value to UTF16-LE encoding, e.g. `cmd` > `63 00 6d 00 64 00`\"; \"`wide`: an alias \
             for the `utf16le` modifier.\"",
            &format!("    sel:\n        F|{modifier}|contains: 'cmd'"),
            &[bytes_as_text(&[b"x\0 \0".as_slice(), &utf16le("CMD"), b"/\0".as_slice()].concat())],
            &[field("cmd"), bytes_as_text(&utf16be("cmd")), bytes_as_text(&utf16le("cmx"))],
        );
    }
    clause(
        "utf16le: \"Transforms value to UTF16-LE encoding\"; String Wildcard: \"`?` to replace a single mandatory \
         character\" (two bytes in UTF-16)",
        "    sel:\n        F|wide: 'c?d*'",
        &[bytes_as_text(&utf16le("cmd.exe")), bytes_as_text(&utf16le("c d"))],
        &[field("cmd.exe"), bytes_as_text(&utf16le("cd"))],
    );
}

#[test]
fn modifier_utf16be_without_base64_matches_the_encoded_bytes() {
    clause(
        "utf16be: \"Transforms value to UTF16-BE encoding, e.g. `cmd` > `00 63 00 6d 00 64`\"",
        "    sel:\n        F|utf16be|startswith: 'cmd'",
        &[bytes_as_text(&utf16be("cmd.exe"))],
        &[field("cmd.exe"), bytes_as_text(&utf16le("cmd.exe"))],
    );
}

/// The bytes of `utf16` (its byte order mark) and of a character beyond ASCII are not text:
/// the rule is refused at load, with its reason.
#[test]
fn utf16_without_base64_that_is_not_text_is_refused() {
    for (detection, reason) in [
        ("F|utf16: 'cmd'", "byte order mark"),
        ("F|wide|contains: 'café'", "not ASCII"),
        ("F|wide|windash: '-x'", "not supported"),
    ] {
        let yaml = format!(
            "title: Refused\nid: 00000000-0000-4000-8000-00000000c0f1\nlogsource:\n    product: test\ndetection:\n    \
             sel:\n        {detection}\n    condition: sel\n"
        );
        let (rules, report) = RuleSet::load_documents(&[("refused.yml", &yaml)]);
        assert_eq!(rules.detection_rules(), 0, "{yaml}");
        let skipped: Vec<String> = report.skipped_entries().map(|e| e.to_string()).collect();
        assert!(skipped.len() == 1 && skipped[0].contains(reason), "{detection}: {skipped:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// "Numeric Modifiers", "Time Modifiers", "IP Modifiers", "Specific Modifiers".
// ---------------------------------------------------------------------------------------------

#[test]
fn numeric_modifiers_compare_numbers() {
    let cases = [
        ("lt", "\"`lt`: Field is less than the value\"", vec![field(99), field("99")], vec![field(100), field(101)]),
        ("lte", "\"`lte`: Field is less or equal than the value\"", vec![field(100), field("99")], vec![field(101)]),
        (
            "gt",
            "\"`gt`: Field is greater than the value\"",
            vec![field(101), field("1000")],
            vec![field(100), field(99)],
        ),
        ("gte", "\"`gte`: Field is greater or equal than the value\"", vec![field(100), field(101)], vec![field(99)]),
    ];
    for (modifier, spec, hits, misses) in cases {
        clause(spec, &format!("    sel:\n        F|{modifier}: 100"), &hits, &misses);
    }
    clause(
        "Numeric Modifiers: \"`neq`: Field is not equal than the value\"",
        "    sel:\n        F|neq: 100",
        &[field(101), field("1000")],
        &[field(100), field("100")],
    );
}

#[test]
fn time_modifiers_extract_a_number_from_a_date() {
    let at = field("2024-03-15T10:20:30Z");
    let cases = [
        ("minute", 20, 21),
        ("hour", 10, 11),
        ("day", 15, 16),
        ("week", 11, 12),
        ("month", 3, 4),
        ("year", 2024, 2023),
    ];
    for (modifier, hit, miss) in cases {
        clause(
            "Time Modifiers: \"it extracts a numeric value from a date.\"",
            &format!("    sel:\n        F|{modifier}: {hit}"),
            std::slice::from_ref(&at),
            &[],
        );
        clause(
            "Time Modifiers (another value)",
            &format!("    sel:\n        F|{modifier}: {miss}"),
            &[],
            std::slice::from_ref(&at),
        );
    }
}

#[test]
fn modifier_cidr() {
    clause(
        "cidr: \"The value is handled as a CIDR network range specification by backends. Supports both IPv4 and IPv6 notations.\"",
        "    sel:\n        F|cidr:\n            - '10.0.0.0/8'\n            - 'fe80::/10'",
        &[field("10.1.2.3"), field("fe80::1")],
        &[field("11.0.0.1"), field("fec0::1"), field("10.0.0.0.1")],
    );
}

#[test]
fn modifier_fieldref() {
    clause(
        "fieldref: \"A field reference can be used to compare fields of matched events directly at query/matching time.\"",
        "    sel:\n        F|fieldref: G",
        &[json!({"F": "a", "G": "a"})],
        &[json!({"F": "a", "G": "b"}), json!({"F": "a"})],
    );
    clause(
        "fieldref: \"Can be conbine with the `neq` modifier.\"",
        "    sel:\n        F|fieldref|neq: G",
        &[json!({"F": "a", "G": "b"})],
        &[json!({"F": "a", "G": "a"})],
    );
}

#[test]
fn modifier_expand_takes_configured_values_and_refuses_undefined_placeholders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule = |name: &str, value: &str| {
        let text = format!(
            "title: {name}\nid: 00000000-0000-4000-8000-00000000c0f{}\nlogsource:\n    product: test\n\
             detection:\n    sel:\n        User|expand: '{value}'\n    condition: sel\n",
            name.len()
        );
        std::fs::write(dir.path().join(format!("{name}.yml")), text).expect("write rule");
    };
    rule("admins", "%Administrators%");
    rule("escaped", "\\%plain%Domain%");
    rule("undefined", "%JumpServers%");
    let placeholders = haidang_rules::Placeholders::from_yaml(
        "vars:\n    Administrators:\n        - 'root'\n        - 'adm_*'\n    Domain: CORP\n",
    )
    .expect("pipeline vars");
    let (rules, report) = RuleSet::load_with_placeholders(&[dir.path()], false, &placeholders);
    let skipped: Vec<String> = report.skipped_entries().map(|e| e.to_string()).collect();
    assert_eq!(
        skipped.len(),
        1,
        "Placeholders: \"If the tool isn't able to handle placeholders, it must reject the rule.\" {skipped:?}"
    );
    assert!(skipped[0].contains("undefined.yml") && skipped[0].contains("%JumpServers%"), "{skipped:?}");
    let fired = |user: &str, other: &str| {
        let event = json!({ "User": user, "Administrators": other, "JumpServers": other });
        rules.detect(&JsonEvent::borrow(&event), None).into_iter().map(|r| r.header.rule_title).collect::<Vec<_>>()
    };
    // "Replacement of placeholders with a single, multiple or-linked values or patterns."
    assert_eq!(fired("ROOT", "x"), ["admins"]);
    assert_eq!(fired("adm_backup", "x"), ["admins"]);
    // "`field|expand: \%plain%name%` handles `%plain` as plain value and `%name%` as placeholder."
    assert_eq!(fired("%plainCORP", "x"), ["escaped"]);
    // Not filled from the event (rsigma's reading): a field named like the placeholder is no value.
    assert!(fired("alice", "alice").is_empty());
    assert!(fired("%Administrators%", "x").is_empty());

    // Without a placeholder file, every rule using one is refused.
    let (_, report) = RuleSet::load(&[dir.path()]);
    assert_eq!(report.skipped(), 3, "{:?}", report.skipped_entries().map(|e| e.to_string()).collect::<Vec<_>>());
}
