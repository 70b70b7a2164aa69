//! The Linux process connector: the kernel multicasts a message on every fork, exec and exit
//! to netlink sockets subscribed to `CN_IDX_PROC`. Subscribing needs CAP_NET_ADMIN, and the
//! kernel only serves the initial network namespace (elsewhere it silently ignores the
//! request, which is why [`Connector::subscribe`] waits for the kernel's acknowledgement).

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;

const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;
/// `what`, `cpu` and `timestamp_ns` precede the per-event union in `struct proc_event`.
const PROC_EVENT_HEADER: usize = 16;

/// Room for a burst of exec storms while the reader is busy reading `/proc`; the default
/// (about 200 KiB, some 2,600 messages) overflows during a parallel build.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;
/// How often a blocked reader wakes up to see whether it should stop.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(1);
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// One decoded process-connector message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcEvent {
    /// A new process (not a thread: those are filtered out here).
    Fork {
        parent: u32,
        child: u32,
        timestamp_ns: u64,
    },
    Exec {
        pid: u32,
        timestamp_ns: u64,
    },
    /// A whole process ended (its thread-group leader exited).
    Exit {
        pid: u32,
        exit_code: i32,
        timestamp_ns: u64,
    },
    /// The kernel's answer to a subscription request.
    Ack {
        ack: u32,
        err: u32,
    },
}

/// What a read from the socket produced.
#[derive(Debug)]
pub(crate) enum Received {
    Events(Vec<ProcEvent>),
    /// Nothing arrived within [`READ_TIMEOUT`].
    Idle,
    /// The receive buffer overflowed and the kernel dropped messages.
    Overrun,
}

/// A subscribed process-connector socket. Dropping it unsubscribes.
pub(crate) struct Connector {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Connector {
    /// Opens, binds and subscribes, and returns only once the kernel acknowledged the
    /// subscription, so a connector that would stay silent is reported as an error.
    pub(crate) fn subscribe() -> io::Result<Connector> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw =
            unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_CONNECTOR) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields that matter are set below.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: `addr` is a valid sockaddr_nl and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SO_RCVBUFFORCE passes the rmem_max limit (needs CAP_NET_ADMIN, which we have);
        // the plain option is the fallback, and a small buffer only means more overruns.
        if set_int_option(&fd, libc::SO_RCVBUFFORCE, RECEIVE_BUFFER).is_err() {
            let _ = set_int_option(&fd, libc::SO_RCVBUF, RECEIVE_BUFFER);
        }
        let timeout = libc::timeval { tv_sec: READ_TIMEOUT.as_secs() as libc::time_t, tv_usec: 0 };
        set_option(&fd, libc::SO_RCVTIMEO, &timeout)?;

        let mut connector = Connector { fd, buf: vec![0; 64 * 1024] };
        // The kernel multicasts every acknowledgement to all listeners, and overwrites the
        // sequence number with its own counter; only the `ack` field (ours plus one) tells
        // this socket's acknowledgement apart.
        static SUBSCRIPTIONS: AtomicU32 = AtomicU32::new(0);
        let ack = std::process::id().wrapping_mul(2_654_435_761) ^ SUBSCRIPTIONS.fetch_add(1, Ordering::Relaxed);
        connector.send_control(PROC_CN_MCAST_LISTEN, ack)?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        while Instant::now() < deadline {
            if let Received::Events(events) = connector.receive()? {
                for event in events {
                    if let ProcEvent::Ack { ack: a, err } = event
                        && a == ack.wrapping_add(1)
                    {
                        return match err {
                            0 => Ok(connector),
                            err => Err(io::Error::from_raw_os_error(err as i32)),
                        };
                    }
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the kernel did not acknowledge the subscription (the process connector only \
             answers in the initial network namespace)",
        ))
    }

    /// Blocks for up to [`READ_TIMEOUT`] for the next datagram.
    pub(crate) fn receive(&mut self) -> io::Result<Received> {
        loop {
            // SAFETY: an all-zero sockaddr_nl is valid; recvfrom fills it in.
            let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            let mut from_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: the buffer and address pointers are valid for the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => Ok(Received::Idle),
                    Some(libc::ENOBUFS) => Ok(Received::Overrun),
                    _ => Err(err),
                };
            }
            // Any local process may unicast to our port id; only the kernel (port 0) may
            // tell us about processes, or an unprivileged user could forge events.
            if from.nl_pid != 0 {
                continue;
            }
            return Ok(Received::Events(parse(&self.buf[..n as usize])));
        }
    }

    fn send_control(&self, op: u32, ack: u32) -> io::Result<()> {
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + CN_MSG_LEN + 4);
        msg.extend_from_slice(&((NLMSG_HDRLEN + CN_MSG_LEN + 4) as u32).to_ne_bytes());
        msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // sequence number
        msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // sequence number
        msg.extend_from_slice(&ack.to_ne_bytes());
        msg.extend_from_slice(&4u16.to_ne_bytes()); // payload length
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&op.to_ne_bytes());
        // SAFETY: `msg` is valid for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // The kernel counts listeners and stops producing messages when none is left.
        let _ = self.send_control(PROC_CN_MCAST_IGNORE, 0);
    }
}

fn set_int_option(fd: &OwnedFd, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    set_option(fd, option, &value)
}

fn set_option<T>(fd: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Decodes every process-connector message in one datagram; anything truncated, foreign or
/// of no interest (thread forks and exits, uid changes, …) is skipped.
pub(crate) fn parse(datagram: &[u8]) -> Vec<ProcEvent> {
    let mut events = Vec::new();
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDRLEN {
        let Some(len) = u32_at(rest, 0).map(|l| l as usize) else {
            break;
        };
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        if let Some(event) = parse_cn_msg(&rest[NLMSG_HDRLEN..len]) {
            events.push(event);
        }
        // Netlink messages are padded to four bytes.
        let advance = (len + 3) & !3;
        rest = rest.get(advance..).unwrap_or(&[]);
    }
    events
}

fn parse_cn_msg(msg: &[u8]) -> Option<ProcEvent> {
    if u32_at(msg, 0)? != CN_IDX_PROC || u32_at(msg, 4)? != CN_VAL_PROC {
        return None;
    }
    let ack = u32_at(msg, 12)?;
    let payload_len = usize::from(u16::from_ne_bytes(msg.get(16..18)?.try_into().ok()?));
    let event = msg.get(CN_MSG_LEN..CN_MSG_LEN + payload_len)?;
    let what = u32_at(event, 0)?;
    let timestamp_ns = u64::from_ne_bytes(event.get(8..16)?.try_into().ok()?);
    let data = |i: usize| u32_at(event, PROC_EVENT_HEADER + 4 * i);
    match what {
        PROC_EVENT_NONE => Some(ProcEvent::Ack { ack, err: data(0)? }),
        PROC_EVENT_FORK => {
            let (parent_tgid, child_pid, child_tgid) = (data(1)?, data(2)?, data(3)?);
            (child_pid == child_tgid).then_some(ProcEvent::Fork {
                parent: parent_tgid,
                child: child_tgid,
                timestamp_ns,
            })
        }
        PROC_EVENT_EXEC => Some(ProcEvent::Exec { pid: data(1)?, timestamp_ns }),
        PROC_EVENT_EXIT => {
            let (pid, tgid, status) = (data(0)?, data(1)?, data(2)?);
            (pid == tgid).then_some(ProcEvent::Exit { pid: tgid, exit_code: exit_code(status), timestamp_ns })
        }
        _ => None,
    }
}

/// The kernel reports the wait(2) status: an exit status in bits 8–15, or the number of the
/// signal that killed the process in bits 0–6. A signal is reported as its negated number
/// (as Python's `returncode` does), so it cannot be confused with an exit status.
fn exit_code(status: u32) -> i32 {
    let signal = (status & 0x7f) as i32;
    if signal == 0 { ((status >> 8) & 0xff) as i32 } else { -signal }
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(offset..offset + 4)?.try_into().ok()?))
}

/// Converts a kernel event time (CLOCK_MONOTONIC) to wall-clock time, so events keep the
/// moment they happened even when they waited in a queue.
pub(crate) fn wall_time(timestamp_ns: u64) -> haidang_proto::Timestamp {
    let now = haidang_proto::Timestamp::now();
    let mut mono = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `mono` is a valid timespec for clock_gettime to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut mono) } != 0 {
        return now;
    }
    let mono_ns = i128::from(mono.tv_sec) * 1_000_000_000 + i128::from(mono.tv_nsec);
    let age = (mono_ns - i128::from(timestamp_ns)).clamp(0, i128::from(i64::MAX));
    haidang_proto::Timestamp(now.0.saturating_sub(age as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, data: &[u32], seq: u32, ack: u32) -> Vec<u8> {
        let mut event = Vec::new();
        event.extend_from_slice(&what.to_ne_bytes());
        event.extend_from_slice(&0u32.to_ne_bytes());
        event.extend_from_slice(&123_456u64.to_ne_bytes());
        for d in data {
            event.extend_from_slice(&d.to_ne_bytes());
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&((NLMSG_HDRLEN + CN_MSG_LEN + event.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [CN_IDX_PROC, CN_VAL_PROC, seq, ack] {
            msg.extend_from_slice(&v.to_ne_bytes());
        }
        msg.extend_from_slice(&(event.len() as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&event);
        msg
    }

    #[test]
    fn decodes_process_events_and_drops_threads() {
        let mut datagram = message(PROC_EVENT_FORK, &[1, 1, 50, 50], 0, 0);
        datagram.extend(message(PROC_EVENT_FORK, &[50, 50, 51, 50], 0, 0)); // a thread
        datagram.extend(message(PROC_EVENT_EXEC, &[50, 50], 0, 0));
        datagram.extend(message(PROC_EVENT_EXIT, &[51, 50, 0, 17, 1, 1], 0, 0)); // a thread
        datagram.extend(message(PROC_EVENT_EXIT, &[50, 50, 3 << 8, 17, 1, 1], 0, 0));
        datagram.extend(message(PROC_EVENT_EXIT, &[60, 60, 9, 17, 1, 1], 0, 0));
        datagram.extend(message(PROC_EVENT_NONE, &[0], 7, 8));
        datagram.extend(message(0x40, &[1, 1, 1, 1], 0, 0)); // a uid change
        let ts = 123_456;
        assert_eq!(
            parse(&datagram),
            [
                ProcEvent::Fork { parent: 1, child: 50, timestamp_ns: ts },
                ProcEvent::Exec { pid: 50, timestamp_ns: ts },
                ProcEvent::Exit { pid: 50, exit_code: 3, timestamp_ns: ts },
                ProcEvent::Exit { pid: 60, exit_code: -9, timestamp_ns: ts },
                ProcEvent::Ack { ack: 8, err: 0 },
            ]
        );
    }

    #[test]
    fn truncated_and_foreign_messages_are_ignored() {
        let full = message(PROC_EVENT_EXEC, &[5, 5], 0, 0);
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_empty(), "cut at {cut}");
        }
        let mut foreign = full.clone();
        foreign[NLMSG_HDRLEN] = 9; // another connector index
        assert!(parse(&foreign).is_empty());
        let mut lying = full;
        lying[0] = 0xff; // longer than the datagram
        assert!(parse(&lying).is_empty());
    }

    #[test]
    fn kernel_times_become_wall_clock_times() {
        let mut mono = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `mono` is a valid timespec.
        assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut mono) }, 0);
        let a_second_ago = (mono.tv_sec as u64 - 1) * 1_000_000_000 + mono.tv_nsec as u64;
        let age = haidang_proto::Timestamp::now().0 - wall_time(a_second_ago).0;
        assert!((900_000_000..1_500_000_000).contains(&age), "age {age} ns");
    }
}
