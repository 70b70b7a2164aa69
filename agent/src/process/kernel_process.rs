//! The user data of the Microsoft-Windows-Kernel-Process ETW provider's events `ProcessStart`
//! (id 1) and `ProcessStop` (id 2), decoded by the layout of each event version in the
//! provider's manifest. The bytes come from the kernel, but are read as untrusted: any input
//! gives an event or an error, never a panic.
//!
//! `ProcessStart`:
//!
//! | version | fields before `ImageName`                                                        |
//! |---------|----------------------------------------------------------------------------------|
//! | 0       | ProcessID u32, CreateTime FILETIME, ParentProcessID u32, SessionID u32            |
//! | 1, 2    | the same, then Flags u32 (2 appends fields after `ImageName`)                    |
//! | 3, 4    | ProcessID, ProcessSequenceNumber u64, CreateTime, ParentProcessID,                |
//! |         | ParentProcessSequenceNumber u64, SessionID, Flags, ProcessTokenElevationType u32, |
//! |         | ProcessTokenIsElevated u32, MandatoryLabel SID (4 appends a field at the end)     |
//!
//! `ImageName` is a NUL-terminated UTF-16 NT path (`\Device\HarddiskVolume3\…`).
//!
//! `ProcessStop` starts with ProcessID u32 (version 2: then ProcessSequenceNumber u64),
//! CreateTime FILETIME, ExitTime FILETIME, ExitCode u32; what follows is not needed.

/// The provider: Microsoft-Windows-Kernel-Process.
pub const PROVIDER: u128 = 0x22fb2cd6_0e7b_422b_a0c7_2fad1fd0e716;
/// Its keyword for process starts and stops (`WINEVENT_KEYWORD_PROCESS`).
pub const KEYWORD_PROCESS: u64 = 0x10;
/// Event id of `ProcessStart`.
pub const PROCESS_START: u16 = 1;
/// Event id of `ProcessStop`.
pub const PROCESS_STOP: u16 = 2;

/// A process start or stop as the kernel logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelProcessEvent {
    Start(ProcessStart),
    Stop(ProcessStop),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessStart {
    pub pid: u32,
    pub ppid: u32,
    /// FILETIME: 100 ns since 1601.
    pub create_time: u64,
    pub session_id: u32,
    /// The last sub-authority of the token's mandatory label (`S-1-16-<rid>`), from version 3.
    pub integrity_rid: Option<u32>,
    /// The image as an NT path.
    pub image: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessStop {
    pub pid: u32,
    /// FILETIME, which tells this process from an earlier one with the same pid.
    pub create_time: u64,
    /// The exit status, an NTSTATUS or the value given to ExitProcess.
    pub exit_code: u32,
}

/// Why user data did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event {id} version {version} has no known layout")]
    UnknownVersion { id: u16, version: u8 },
    #[error("the user data ends inside {field}")]
    Truncated { field: &'static str },
    #[error("the mandatory label is not a SID")]
    BadSid,
}

/// Decodes the user data of event `id` of the given `version`; `Ok(None)` for events of the
/// provider other than start and stop.
pub fn decode(id: u16, version: u8, data: &[u8]) -> Result<Option<KernelProcessEvent>, DecodeError> {
    let mut r = Reader(data);
    let event = match (id, version) {
        (PROCESS_START, 0..=2) => {
            let pid = r.u32("ProcessID")?;
            let create_time = r.u64("CreateTime")?;
            let ppid = r.u32("ParentProcessID")?;
            let session_id = r.u32("SessionID")?;
            if version >= 1 {
                r.u32("Flags")?;
            }
            let image = r.utf16z("ImageName")?;
            KernelProcessEvent::Start(ProcessStart { pid, ppid, create_time, session_id, integrity_rid: None, image })
        }
        (PROCESS_START, 3 | 4) => {
            let pid = r.u32("ProcessID")?;
            r.u64("ProcessSequenceNumber")?;
            let create_time = r.u64("CreateTime")?;
            let ppid = r.u32("ParentProcessID")?;
            r.u64("ParentProcessSequenceNumber")?;
            let session_id = r.u32("SessionID")?;
            r.u32("Flags")?;
            r.u32("ProcessTokenElevationType")?;
            r.u32("ProcessTokenIsElevated")?;
            let integrity_rid = Some(r.sid_last_rid()?);
            let image = r.utf16z("ImageName")?;
            KernelProcessEvent::Start(ProcessStart { pid, ppid, create_time, session_id, integrity_rid, image })
        }
        (PROCESS_STOP, 0..=2) => {
            let pid = r.u32("ProcessID")?;
            if version >= 2 {
                r.u64("ProcessSequenceNumber")?;
            }
            let create_time = r.u64("CreateTime")?;
            r.u64("ExitTime")?;
            let exit_code = r.u32("ExitCode")?;
            KernelProcessEvent::Stop(ProcessStop { pid, create_time, exit_code })
        }
        (PROCESS_START | PROCESS_STOP, _) => return Err(DecodeError::UnknownVersion { id, version }),
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// The name Sysmon gives an integrity level in its `IntegrityLevel` field, which SigmaHQ's
/// rules match; a level without a name is written as its label's SID.
pub fn integrity_level(rid: u32) -> String {
    match rid {
        0x0000 => "Untrusted".into(),
        0x1000 => "Low".into(),
        0x2000 => "Medium".into(),
        0x3000 => "High".into(),
        0x4000 => "System".into(),
        0x5000 => "Protected".into(),
        other => format!("S-1-16-{other}"),
    }
}

/// Little-endian fields read from the front of the user data.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(DecodeError::Truncated { field })?;
        self.0 = rest;
        Ok(*head)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.take::<4>(field).map(u32::from_le_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.take::<8>(field).map(u64::from_le_bytes)
    }

    /// A binary SID (revision 1, up to 15 sub-authorities); returns its last sub-authority.
    fn sid_last_rid(&mut self) -> Result<u32, DecodeError> {
        let [revision, count] = self.take::<2>("MandatoryLabel")?;
        if revision != 1 || count == 0 || count > 15 {
            return Err(DecodeError::BadSid);
        }
        self.take::<6>("MandatoryLabel")?;
        let mut last = 0;
        for _ in 0..count {
            last = self.u32("MandatoryLabel")?;
        }
        Ok(last)
    }

    /// A NUL-terminated UTF-16LE string; unpaired surrogates become U+FFFD.
    fn utf16z(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let mut units = Vec::new();
        loop {
            match u16::from_le_bytes(self.take::<2>(field)?) {
                0 => return Ok(String::from_utf16_lossy(&units)),
                unit => units.push(unit),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "\\Device\\HarddiskVolume3\\Users\\nguyễn\\Tải về\\cài đặt.exe";

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }

    /// Built field by field from the manifest's layout, independently of the decoder.
    fn start_v3(label: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(4242u32.to_le_bytes()); // ProcessID
        d.extend(77u64.to_le_bytes()); // ProcessSequenceNumber
        d.extend(133_500_000_000_000_000u64.to_le_bytes()); // CreateTime
        d.extend(600u32.to_le_bytes()); // ParentProcessID
        d.extend(12u64.to_le_bytes()); // ParentProcessSequenceNumber
        d.extend(1u32.to_le_bytes()); // SessionID
        d.extend(0u32.to_le_bytes()); // Flags
        d.extend(3u32.to_le_bytes()); // ProcessTokenElevationType (limited)
        d.extend(0u32.to_le_bytes()); // ProcessTokenIsElevated
        d.extend(label);
        d.extend(utf16z(IMAGE));
        d.extend(0x1234u32.to_le_bytes()); // ImageChecksum
        d.extend(0x5678u32.to_le_bytes()); // TimeDateStamp
        d.extend(utf16z("")); // PackageFullName
        d.extend(utf16z("")); // PackageRelativeAppId
        d
    }

    /// S-1-16-8192, the medium mandatory label: revision 1, one sub-authority, authority 16.
    const MEDIUM_LABEL: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 16, 0x00, 0x20, 0, 0];

    #[test]
    fn start_version_3_and_4_carry_the_mandatory_label() {
        let expected = KernelProcessEvent::Start(ProcessStart {
            pid: 4242,
            ppid: 600,
            create_time: 133_500_000_000_000_000,
            session_id: 1,
            integrity_rid: Some(0x2000),
            image: IMAGE.into(),
        });
        let v3 = start_v3(&MEDIUM_LABEL);
        assert_eq!(decode(PROCESS_START, 3, &v3), Ok(Some(expected.clone())));
        let mut v4 = v3;
        v4.extend(0u32.to_le_bytes()); // SecurityMitigations
        assert_eq!(decode(PROCESS_START, 4, &v4), Ok(Some(expected)));
    }

    #[test]
    fn start_versions_0_to_2_have_no_label() {
        let mut v0 = Vec::new();
        v0.extend(8u32.to_le_bytes());
        v0.extend(5u64.to_le_bytes());
        v0.extend(4u32.to_le_bytes());
        v0.extend(0u32.to_le_bytes());
        let mut v1 = v0.clone();
        v0.extend(utf16z("\\SystemRoot\\System32\\smss.exe"));
        v1.extend(0u32.to_le_bytes()); // Flags
        v1.extend(utf16z("\\SystemRoot\\System32\\smss.exe"));
        let expected = KernelProcessEvent::Start(ProcessStart {
            pid: 8,
            ppid: 4,
            create_time: 5,
            session_id: 0,
            integrity_rid: None,
            image: "\\SystemRoot\\System32\\smss.exe".into(),
        });
        assert_eq!(decode(PROCESS_START, 0, &v0), Ok(Some(expected.clone())));
        assert_eq!(decode(PROCESS_START, 1, &v1), Ok(Some(expected.clone())));
        let mut v2 = v1;
        v2.extend([0; 8]); // ImageChecksum, TimeDateStamp
        v2.extend(utf16z("Microsoft.WindowsCalculator_8wekyb3d8bbwe"));
        v2.extend(utf16z("App"));
        assert_eq!(decode(PROCESS_START, 2, &v2), Ok(Some(expected)));
    }

    #[test]
    fn stop_has_the_exit_code_in_every_version() {
        let mut v0 = Vec::new();
        v0.extend(4242u32.to_le_bytes());
        let mut v2 = v0.clone();
        v2.extend(77u64.to_le_bytes()); // ProcessSequenceNumber
        for d in [&mut v0, &mut v2] {
            d.extend(10u64.to_le_bytes()); // CreateTime
            d.extend(20u64.to_le_bytes()); // ExitTime
            d.extend(0xC000_013Au32.to_le_bytes()); // ExitCode: STATUS_CONTROL_C_EXIT
            d.extend(2u32.to_le_bytes()); // TokenElevationType
            d.extend(b"cmd.exe\0");
        }
        let expected = KernelProcessEvent::Stop(ProcessStop { pid: 4242, create_time: 10, exit_code: 0xC000_013A });
        assert_eq!(decode(PROCESS_STOP, 0, &v0), Ok(Some(expected.clone())));
        assert_eq!(decode(PROCESS_STOP, 1, &v0), Ok(Some(expected.clone())));
        assert_eq!(decode(PROCESS_STOP, 2, &v2), Ok(Some(expected)));
    }

    #[test]
    fn truncated_or_malformed_data_is_an_error_not_a_panic() {
        let v3 = start_v3(&MEDIUM_LABEL);
        // Cut before the image's terminating NUL (the fields after it are 12 bytes and two
        // empty strings).
        let image_end = v3.len() - 8 - 4;
        for cut in 0..image_end - 1 {
            assert!(decode(PROCESS_START, 3, &v3[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = MEDIUM_LABEL;
        bad[1] = 16;
        assert_eq!(decode(PROCESS_START, 3, &start_v3(&bad)), Err(DecodeError::BadSid));
        assert_eq!(decode(PROCESS_START, 9, &v3), Err(DecodeError::UnknownVersion { id: 1, version: 9 }));
        assert_eq!(decode(5, 0, &v3), Ok(None), "image loads are not ours");
    }

    #[test]
    fn integrity_levels_are_named_as_sysmon_names_them() {
        let names: Vec<String> = [0, 0x1000, 0x2000, 0x3000, 0x4000, 0x2100].into_iter().map(integrity_level).collect();
        assert_eq!(names, ["Untrusted", "Low", "Medium", "High", "System", "S-1-16-8448"]);
    }
}
