//! The Windows event log sensor: records of the configured channels (Security, System, Sysmon,
//! PowerShell, Defender, …) become `win_event` events, which the collector evaluates with
//! SigmaHQ's Windows rules exactly as `hunt` does over saved EVTX files.
//!
//! Each channel keeps a bookmark (where it has read up to) in the spool, stored in the
//! transaction that stores the records it covers ([`crate::spool::Cursor`]), so neither a
//! restart nor a reboot loses or repeats a record. The operating system calls are in
//! `windows.rs`, the sensor runs only there; what the calls produce (rendered XML) is read
//! here, on every platform, so it is tested everywhere.

mod config;
#[cfg(windows)]
mod windows;

pub use config::{ChannelConfig, Start, WinlogConfig};

use crate::spool::Observation;
use haidang_proto::event::WinEventRecord;
use haidang_proto::{EventBody, Timestamp};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[cfg(windows)]
pub use windows::run;

/// A record as `EvtRender` gives it, as the event the agent records: stamped with the time
/// Windows logged it, so correlation windows run on the endpoint's clock as for saved logs.
pub fn observation(xml: &str) -> Result<Observation, haidang_winlog::Error> {
    let record = haidang_winlog::record_from_xml(xml)?;
    let header = haidang_winlog::Header::of(&record);
    let time = Timestamp::parse_rfc3339(&header.time).unwrap_or_else(|_| Timestamp::now());
    Ok(Observation {
        time,
        body: EventBody::WinEvent(WinEventRecord {
            channel: header.channel,
            provider: header.provider,
            event_id: header.event_id,
            record_id: header.record_id,
            computer: header.computer,
            record: record.to_string(),
        }),
    })
}

/// What each channel's subscription is doing, for `haidang-agent status`.
#[derive(Default)]
pub struct WinlogStatus {
    channels: Mutex<BTreeMap<String, String>>,
}

impl WinlogStatus {
    #[cfg(windows)]
    fn set(&self, channel: &str, state: impl Into<String>) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(channel.to_owned(), state.into());
        }
    }

    /// One line per channel: `Security: subscribed, after the stored bookmark`.
    pub fn snapshot(&self) -> Vec<String> {
        self.channels.lock().map(|c| c.iter().map(|(k, v)| format!("{k}: {v}")).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_record_becomes_a_win_event_at_the_time_windows_logged_it() {
        let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
            <Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
            <TimeCreated SystemTime='2026-12-08T01:02:03.5Z'/><EventRecordID>77</EventRecordID>\
            <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>pc-01</Computer></System>\
            <EventData><Data Name='Image'>C:\\Users\\nguyễn\\a.exe</Data></EventData></Event>";
        let o = observation(xml).expect("a record");
        assert_eq!(o.time, Timestamp::parse_rfc3339("2026-12-08T01:02:03.5Z").expect("time"));
        let EventBody::WinEvent(w) = o.body else { panic!("not a win_event: {:?}", o.body) };
        assert_eq!(
            (w.channel.as_str(), w.provider.as_str(), w.event_id, w.record_id, w.computer.as_str()),
            ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 1, 77, "pc-01")
        );
        let record: serde_json::Value = serde_json::from_str(&w.record).expect("JSON");
        assert_eq!(record["Event"]["EventData"]["Image"], "C:\\Users\\nguyễn\\a.exe");
        assert!(observation("<Event><System>").is_err());
    }
}
