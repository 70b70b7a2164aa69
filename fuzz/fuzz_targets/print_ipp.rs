//! cupsd's IPP answers to the print channel (Get-Jobs, Get-Job-Attributes): any bytes parse
//! or are refused with a message, never panic, and what is kept stays bounded.
#![no_main]

use haidang_agent::dlp_sensor::print::parse_jobs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_jobs(data) {
        Ok((_, jobs)) => {
            assert!(jobs.len() <= data.len());
            for job in jobs {
                assert!(job.title.len() <= 4 * 1024 && job.user.len() <= 4 * 1024 && job.printer.len() <= 4 * 1024);
                let _ = job.label();
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
