//! What this process may do beyond an ordinary user (Linux): root, or a capability in its
//! effective set — how a service runs that systemd starts as its own user with
//! `AmbientCapabilities=` (packaging/debian/agent/haidang-agent.service).

/// Subscribing to the kernel's process connector.
pub(crate) const CAP_NET_ADMIN: u32 = 12;
/// fanotify groups with mount and filesystem marks.
pub(crate) const CAP_SYS_ADMIN: u32 = 21;

/// Whether this process runs as root or holds `capability` (a `CAP_*` number) in its
/// effective set.
pub(crate) fn has_capability(capability: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << capability) != 0)
}
