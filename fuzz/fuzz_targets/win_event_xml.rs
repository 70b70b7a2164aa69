//! Windows event records as the Windows agent gets them from `EvtRender` (XML): any text must
//! read into the record shape or be refused with a reason, never panic; a record that reads
//! is JSON that the rule engine's Windows view reads back.
#![no_main]

use haidang_rules::{Event, WinEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    match haidang_winlog::record_from_xml(xml) {
        Ok(record) => {
            let text = record.to_string();
            let back: serde_json::Value = serde_json::from_str(&text).expect("the record is JSON");
            assert_eq!(back, record);
            let header = haidang_winlog::Header::of(&record);
            let event = WinEvent::new(&record);
            assert_eq!(event.channel().unwrap_or_default(), header.channel);
            let _ = (event.logsources(), event.get_field("EventID"), event.all_string_values());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
