//! Rule files come from outside the process (community packs, analysts' own rules): loading
//! any bytes as a rule document must end in a report, never a crash or a hang; whatever
//! loads must evaluate an event without panicking.
#![no_main]

use haidang_proto::event::{AgentId, Event, EventBody, Gap, Timestamp};
use haidang_rules::{NativeEvent, RuleSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (mut rules, report) = RuleSet::load_documents(&[("fuzz.yml", text)]);
    assert_eq!(report.files, 1);
    let event = Event {
        seq: 1,
        time: Timestamp(0),
        body: EventBody::Gap(Gap { lost: 1, first_seq: 1, last_seq: 1, reason: "fuzz".into() }),
    };
    let native = NativeEvent::new(&AgentId([0; 16]), &event, Some("fuzz"));
    let found = rules.detect(&native, None);
    rules.correlate(&native, found, 0);
});
