//! The agent's configuration file: any UTF-8 text must parse or be refused with a
//! message, never panic (the error path slices the text at the reported span).
#![no_main]

use haidang_agent::config::AgentConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(message) = AgentConfig::parse(text) {
        assert!(!message.is_empty(), "empty error for {text:?}");
    }
});
