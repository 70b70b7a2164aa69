//! User data of Microsoft-Windows-Kernel-Process events, which the Windows agent's ETW
//! consumer decodes: any bytes, event id and version give an event, nothing, or an error,
//! never a panic; a start's image never holds the NUL that ended it.
#![no_main]

use haidang_agent::process::kernel_process::{self, KernelProcessEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(([id, version], user_data)) = data.split_first_chunk::<2>() else {
        return;
    };
    // Mostly the two events the agent asks for, in every version and a few beyond.
    let id = u16::from(id % 3);
    if let Ok(Some(KernelProcessEvent::Start(start))) = kernel_process::decode(id, version % 8, user_data) {
        assert!(!start.image.contains('\0'), "{start:?}");
    }
});
