//! Windows event records as the Event Log service renders them (`EvtRender` with
//! `EvtRenderEventXml`), read into the JSON shape the `evtx` crate gives records of saved EVTX
//! files. Live records from the agent and records that `hunt` reads from files then reach the
//! Sigma rules (`haidang_rules::WinEvent`) in one shape, so both paths fire the same rules.
//!
//! The shape, after `evtx`:
//! - an element with text only is its text; with attributes it is
//!   `{"#attributes": {…}, "#text": …}`; an empty one is `null` (an empty `Data` is `""`);
//! - children are keyed by name, a repeated name gets `_1`, `_2`, … as in `evtx`;
//! - in `EventData` and `UserData`, `<Data Name="N">v</Data>` is `"N": "v"`, and unnamed `Data`
//!   elements are gathered in order into `"Data": {"#text": [...]}`;
//! - the numeric `System` fields (`EventID`, `Version`, `Level`, `Task`, `Opcode`,
//!   `EventRecordID`, `Execution`'s `ProcessID` and `ThreadID`) are JSON numbers; every other
//!   value stays text, as the XML has no types (the rules compare numbers and their decimal
//!   text alike).
//!
//! Records come from the operating system of an endpoint the SOC does not control, so they are
//! bounded: [`MAX_XML_BYTES`], [`MAX_DEPTH`] and [`MAX_ELEMENTS`].

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

/// Most bytes of XML a record may have. Windows limits a record to 64 KiB in its binary form;
/// rendered as UTF-8 XML with escapes, four times that leaves room for any real one.
pub const MAX_XML_BYTES: usize = 256 << 10;
/// Deepest element nesting read (`Event/UserData/…` is rarely deeper than 6).
pub const MAX_DEPTH: usize = 32;
/// Most elements in one record.
pub const MAX_ELEMENTS: usize = 8192;

/// Why a rendered record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the record is {0} bytes of XML, more than the {MAX_XML_BYTES} a record may have")]
    TooLarge(usize),
    #[error("the record nests elements deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("the record has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("not well-formed XML near byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("the root element is <{0}>, not <Event>")]
    NotAnEvent(String),
    #[error("no root element")]
    Empty,
}

/// What a record says about itself in `System`, for indexes and people.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub channel: String,
    pub provider: String,
    pub event_id: u32,
    pub record_id: u64,
    pub computer: String,
    /// When Windows logged it (`TimeCreated/@SystemTime`, RFC 3339), as written.
    pub time: String,
}

impl Header {
    /// The header fields of a record in the shape [`record_from_xml`] gives (or `evtx` gives);
    /// a missing field is empty or 0.
    pub fn of(record: &Value) -> Header {
        let system = record.pointer("/Event/System");
        let field = |name: &str| system.and_then(|s| s.get(name)).map(unwrap_text);
        let string = |name: &str| field(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let number = |name: &str| field(name).and_then(as_u64).unwrap_or(0);
        Header {
            channel: string("Channel"),
            provider: system
                .and_then(|s| s.pointer("/Provider/#attributes/Name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            event_id: u32::try_from(number("EventID")).unwrap_or(0),
            record_id: number("EventRecordID"),
            computer: string("Computer"),
            time: system
                .and_then(|s| s.pointer("/TimeCreated/#attributes/SystemTime"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// Reads one rendered record (`<Event xmlns=…>…</Event>`) into its JSON shape.
pub fn record_from_xml(xml: &str) -> Result<Value, Error> {
    if xml.len() > MAX_XML_BYTES {
        return Err(Error::TooLarge(xml.len()));
    }
    let root = parse(xml)?;
    if root.name != "Event" {
        return Err(Error::NotAnEvent(root.name));
    }
    let mut record = Map::new();
    record.insert("Event".to_owned(), element_value(&root, Place::Other));
    Ok(Value::Object(record))
}

/// An element as read, before it takes its JSON shape.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

fn parse(xml: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(xml);
    let malformed =
        |reader: &Reader<&[u8]>, message: String| Error::Malformed { position: reader.buffer_position(), message };
    // The innermost open element is last; the root, once closed, is `done`.
    let mut open: Vec<Element> = Vec::new();
    let mut elements = 0usize;
    let mut done = None;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&reader, e.to_string()))?;
        match event {
            XmlEvent::Start(start) | XmlEvent::Empty(start) if done.is_some() => {
                return Err(malformed(&reader, format!("a second root element <{}>", name_of(&start))));
            }
            XmlEvent::Start(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(Error::TooManyElements);
                }
                if open.len() >= MAX_DEPTH {
                    return Err(Error::TooDeep);
                }
                open.push(element(&start).map_err(|m| malformed(&reader, m))?);
            }
            XmlEvent::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(Error::TooManyElements);
                }
                let empty = element(&start).map_err(|m| malformed(&reader, m))?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(empty),
                    None => done = Some(empty),
                }
            }
            XmlEvent::End(_) => {
                let closed = open.pop().ok_or_else(|| malformed(&reader, "an end tag without a start".to_owned()))?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(closed),
                    None => done = Some(closed),
                }
            }
            XmlEvent::Text(text) => {
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&text.xml10_content());
                }
            }
            XmlEvent::CData(text) => {
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&text.xml10_content());
                }
            }
            XmlEvent::GeneralRef(reference) => {
                let mut utf8 = [0; 4];
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(&*c.encode_utf8(&mut utf8)),
                    Ok(None) => resolve_predefined_entity(&reference.xml10_content()),
                    Err(e) => return Err(malformed(&reader, e.to_string())),
                };
                let text = resolved
                    .ok_or_else(|| malformed(&reader, format!("unknown entity &{};", reference.xml10_content())))?;
                if let Some(current) = open.last_mut() {
                    current.text.push_str(text);
                }
            }
            XmlEvent::Eof => break,
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) | XmlEvent::DocType(_) => {}
        }
    }
    if !open.is_empty() {
        return Err(malformed(&reader, format!("<{}> is not closed", open[open.len() - 1].name)));
    }
    done.ok_or(Error::Empty)
}

fn name_of(start: &BytesStart) -> String {
    start.local_name().as_ref().to_owned()
}

fn element(start: &BytesStart) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.local_name().as_ref().to_owned();
        let value = attribute.normalized_value(XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
        attributes.push((key, value.into_owned()));
    }
    Ok(Element { name: name_of(start), attributes, children: Vec::new(), text: String::new() })
}

/// Where an element sits, which decides how its values are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// A child of `System`.
    System,
    /// A `Data` child of `EventData` or `UserData`.
    Data,
    Other,
}

/// `System` fields whose text `evtx` gives as a number.
const NUMERIC_SYSTEM_FIELDS: &[&str] = &["EventID", "Version", "Level", "Task", "Opcode", "EventRecordID"];
/// `System` attributes `evtx` gives as numbers.
const NUMERIC_SYSTEM_ATTRIBUTES: &[&str] = &["ProcessID", "ThreadID"];

fn element_value(element: &Element, place: Place) -> Value {
    let attributes = attributes(element, place);
    if element.children.is_empty() {
        let text = (!element.text.is_empty()).then(|| {
            let numeric = place == Place::System && NUMERIC_SYSTEM_FIELDS.contains(&element.name.as_str());
            scalar(&element.text, numeric)
        });
        return match (attributes, text) {
            (None, None) if place == Place::Data => Value::String(String::new()),
            (None, None) => Value::Null,
            (None, Some(text)) => text,
            (Some(attributes), text) => {
                let mut map = Map::new();
                map.insert("#attributes".to_owned(), attributes);
                if let Some(text) = text {
                    map.insert("#text".to_owned(), text);
                }
                Value::Object(map)
            }
        };
    }
    let mut map = Map::new();
    if let Some(attributes) = attributes {
        map.insert("#attributes".to_owned(), attributes);
    }
    let holds_data = matches!(element.name.as_str(), "EventData" | "UserData");
    let child_place = if element.name == "System" { Place::System } else { Place::Other };
    let mut positional = Vec::new();
    for child in &element.children {
        if holds_data && child.name == "Data" {
            match child.attributes.iter().find(|(k, _)| k == "Name").filter(|(_, v)| !v.is_empty()) {
                Some((_, name)) => insert_numbered(&mut map, name, data_text(child)),
                None => positional.push(data_text(child)),
            }
        } else {
            insert_numbered(&mut map, &child.name, element_value(child, child_place));
        }
    }
    if !positional.is_empty() {
        let mut data = Map::new();
        data.insert("#text".to_owned(), Value::Array(positional));
        insert_numbered(&mut map, "Data", Value::Object(data));
    }
    Value::Object(map)
}

/// A `Data` element's value: its text (`""` when empty), or its shape if it has children.
fn data_text(data: &Element) -> Value {
    if data.children.is_empty() { Value::String(data.text.clone()) } else { element_value(data, Place::Data) }
}

fn attributes(element: &Element, place: Place) -> Option<Value> {
    if element.attributes.is_empty() {
        return None;
    }
    let map = element
        .attributes
        .iter()
        .map(|(k, v)| {
            let numeric = place == Place::System && NUMERIC_SYSTEM_ATTRIBUTES.contains(&k.as_str());
            (k.clone(), scalar(v, numeric))
        })
        .collect();
    Some(Value::Object(map))
}

/// Inserts `value` under `name`, or `name_1`, `name_2`, … when taken, as `evtx` numbers repeats.
fn insert_numbered(map: &mut Map<String, Value>, name: &str, value: Value) {
    if !map.contains_key(name) {
        map.insert(name.to_owned(), value);
        return;
    }
    let key = (1..).map(|n| format!("{name}_{n}")).find(|k| !map.contains_key(k)).unwrap_or_default();
    map.insert(key, value);
}

fn scalar(text: &str, numeric: bool) -> Value {
    match numeric.then(|| text.parse::<u64>().ok()).flatten() {
        Some(n) => Value::from(n),
        None => Value::String(text.to_owned()),
    }
}

fn unwrap_text(value: &Value) -> &Value {
    value.get("#text").unwrap_or(value)
}

fn as_u64(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Security 4688 record as `EvtRender` writes it (single quotes, no whitespace).
    const PROCESS_CREATION: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
        <Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>\
        <EventID>4688</EventID><Version>2</Version><Level>0</Level><Task>13312</Task><Opcode>0</Opcode>\
        <Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-12-08T01:02:03.4567890Z'/>\
        <EventRecordID>1234</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='32'/>\
        <Channel>Security</Channel><Computer>UBND-KH-01.khanhhoa.gov.vn</Computer><Security/></System>\
        <EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='NewProcessName'>C:\\Users\\nguyễn\\Tài liệu\\a.exe</Data>\
        <Data Name='CommandLine'>a.exe &quot;x &amp; y&quot; &#x1EC7;</Data><Data Name='ParentProcessName'></Data></EventData></Event>";

    #[test]
    fn a_rendered_record_takes_the_evtx_shape() {
        let record = record_from_xml(PROCESS_CREATION).expect("a record");
        let expected = json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                    "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}"}},
                "EventID": 4688, "Version": 2, "Level": 0, "Task": 13312, "Opcode": 0,
                "Keywords": "0x8020000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-12-08T01:02:03.4567890Z"}},
                "EventRecordID": 1234, "Correlation": null,
                "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 32}},
                "Channel": "Security", "Computer": "UBND-KH-01.khanhhoa.gov.vn", "Security": null
            },
            "EventData": {
                "SubjectUserSid": "S-1-5-18",
                "NewProcessName": "C:\\Users\\nguyễn\\Tài liệu\\a.exe",
                "CommandLine": "a.exe \"x & y\" ệ",
                "ParentProcessName": ""
            }
        }});
        assert_eq!(record, expected);
        let header = Header::of(&record);
        assert_eq!(
            header,
            Header {
                channel: "Security".into(),
                provider: "Microsoft-Windows-Security-Auditing".into(),
                event_id: 4688,
                record_id: 1234,
                computer: "UBND-KH-01.khanhhoa.gov.vn".into(),
                time: "2026-12-08T01:02:03.4567890Z".into(),
            }
        );
    }

    #[test]
    fn unnamed_data_is_gathered_and_repeated_names_are_numbered() {
        let xml = "<Event><System><EventID Qualifiers='16384'>1</EventID></System><EventData>\
            <Data>Set-Mailbox</Data><Data></Data><Data>fr-FR</Data><Binary>00FF</Binary></EventData>\
            <UserData><Log><Header>a</Header><Header>b</Header><Header>c</Header></Log></UserData></Event>";
        let record = record_from_xml(xml).expect("a record");
        assert_eq!(
            record,
            json!({"Event": {
                "System": {"EventID": {"#attributes": {"Qualifiers": "16384"}, "#text": 1}},
                "EventData": {"Data": {"#text": ["Set-Mailbox", "", "fr-FR"]}, "Binary": "00FF"},
                "UserData": {"Log": {"Header": "a", "Header_1": "b", "Header_2": "c"}}
            }})
        );
    }

    #[test]
    fn whitespace_between_elements_is_layout_but_inside_a_value_it_is_kept() {
        let xml = "<Event>\n  <System>\n    <Channel>System</Channel>\n  </System>\n  <EventData>\n    \
            <Data Name='ImagePath'>  C:\\a b.exe </Data>\n  </EventData>\n</Event>";
        let record = record_from_xml(xml).expect("a record");
        assert_eq!(record.pointer("/Event/System/Channel"), Some(&json!("System")));
        assert_eq!(record.pointer("/Event/EventData/ImagePath"), Some(&json!("  C:\\a b.exe ")));
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        assert_eq!(record_from_xml(""), Err(Error::Empty));
        assert_eq!(record_from_xml("<Other/>"), Err(Error::NotAnEvent("Other".into())));
        assert!(matches!(record_from_xml("<Event><System></Event>"), Err(Error::Malformed { .. })));
        assert!(matches!(record_from_xml("<Event>&bogus;</Event>"), Err(Error::Malformed { .. })));
        assert!(matches!(record_from_xml("<Event/><Event/>"), Err(Error::Malformed { .. })));
        assert!(matches!(record_from_xml("<Event><a>"), Err(Error::Malformed { .. })));
        let deep = format!("<Event>{}{}</Event>", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(record_from_xml(&deep), Err(Error::TooDeep));
        let many = format!("<Event>{}</Event>", "<a/>".repeat(MAX_ELEMENTS));
        assert_eq!(record_from_xml(&many), Err(Error::TooManyElements));
        let big = format!("<Event>{}</Event>", "x".repeat(MAX_XML_BYTES));
        assert_eq!(record_from_xml(&big), Err(Error::TooLarge(MAX_XML_BYTES + 15)));
    }
}
