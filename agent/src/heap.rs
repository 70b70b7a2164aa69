//! The C allocator's settings for the long-running agent, which must stay small on a desktop,
//! and for the commands that scan a batch of files and exit, which must be quick.
//!
//! glibc's malloc keeps freed memory for reuse instead of giving it back. Two of its habits
//! grow a service's resident memory for good: each thread that allocates may get an arena of
//! its own (up to 8 per core), and after a large buffer is freed it raises the size above
//! which buffers get their own mapping, so the next large buffers (a file read whole to be
//! scanned) come from an arena and stay resident after they are freed. Fixing the threshold
//! and capping the arenas keeps large buffers in mappings that are returned when freed.

/// Buffers this large or larger get a mapping of their own, returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const OWN_MAPPING_FROM: libc::c_int = 1 << 20;

/// Arenas for all threads together: the agent's threads mostly wait.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Call first thing in `main`, before any thread starts.
pub fn keep_small() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Buffers up to this size come from the arenas for a batch scan, which reuses them. Larger
/// ones (the views of large files, which the scan keeps itself) still get mappings: with 32
/// MiB, the free memory kept in each scanning thread's arena took the peak of a two-thread
/// scan of the text corpus from 80 to 110 MiB, where with 4 MiB it stays at 81–84.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const BATCH_OWN_MAPPING_FROM: libc::c_int = 4 << 20;

/// For a command that scans a batch of files and exits (`scan`, `discover`): the buffers
/// freed after one file are reused for the next, rather than each mapped afresh, which costs a
/// page fault and the zeroing of a page for every 4 KiB it fills. Call first thing, before
/// any thread starts.
pub fn reuse_for_batch() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, BATCH_OWN_MAPPING_FROM);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * BATCH_OWN_MAPPING_FROM);
    }
}

/// Gives memory freed after a burst of work (loading rules) back to the system.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
