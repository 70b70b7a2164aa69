//! NT device paths, as the kernel names images (`\Device\HarddiskVolume3\Windows\…`), turned
//! into the drive-letter paths that analysts and SigmaHQ rules write (`C:\Windows\…`).

/// `nt` with its device replaced by the drive letter mapped to that device. `drives` pairs a
/// drive (`C:`) with its device (`\Device\HarddiskVolume3`), as `QueryDosDeviceW` lists them.
/// `None` when no drive maps the device (a volume without a letter, a network redirector).
pub(super) fn to_dos_path(nt: &str, drives: &[(String, String)]) -> Option<String> {
    if let Some(rest) = nt.strip_prefix("\\??\\") {
        return Some(rest.to_string());
    }
    drives.iter().find_map(|(drive, device)| {
        let head = nt.get(..device.len())?;
        let rest = &nt[device.len()..];
        (head.eq_ignore_ascii_case(device) && rest.starts_with('\\')).then(|| format!("{drive}{rest}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drives() -> Vec<(String, String)> {
        [("C:", "\\Device\\HarddiskVolume3"), ("D:", "\\Device\\HarddiskVolume30"), ("E:", "\\Device\\CdRom0")]
            .into_iter()
            .map(|(d, v)| (d.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_volume_device_becomes_its_drive_letter() {
        let nt = "\\Device\\HarddiskVolume3\\Users\\nguyễn\\Tài liệu\\công cụ.exe";
        assert_eq!(to_dos_path(nt, &drives()).as_deref(), Some("C:\\Users\\nguyễn\\Tài liệu\\công cụ.exe"));
        assert_eq!(to_dos_path("\\device\\harddiskvolume3\\x.exe", &drives()).as_deref(), Some("C:\\x.exe"));
    }

    #[test]
    fn a_device_is_matched_whole_not_as_a_prefix_of_another() {
        assert_eq!(to_dos_path("\\Device\\HarddiskVolume30\\a.exe", &drives()).as_deref(), Some("D:\\a.exe"));
        assert_eq!(to_dos_path("\\Device\\HarddiskVolume4\\a.exe", &drives()), None);
        assert_eq!(to_dos_path("\\Device\\HarddiskVolume3", &drives()), None);
    }

    #[test]
    fn a_win32_namespace_path_loses_its_prefix() {
        assert_eq!(
            to_dos_path("\\??\\C:\\Windows\\system32\\conhost.exe", &[]).as_deref(),
            Some("C:\\Windows\\system32\\conhost.exe")
        );
    }
}
