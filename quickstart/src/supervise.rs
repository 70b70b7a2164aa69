//! The child processes and how they stop. Each child runs in its own process group, so a
//! Ctrl-C at the terminal reaches only this supervisor, which passes the signal on in order:
//! the agent first (it flushes its spool to the collector), then the collector.

use anyhow::{Context, Result, bail};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// How long a child may take to stop after the signal before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The stop signal received (SIGINT or SIGTERM), 0 while none has arrived.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn record_stop_signal(signal: libc::c_int) {
    STOP_SIGNAL.store(signal, Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM are recorded for [`stop_requested`] instead of ending the
/// process at once.
pub(crate) fn catch_stop_signals() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let handler = record_stop_signal as extern "C" fn(libc::c_int);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let previous = unsafe { libc::signal(signal, handler as libc::sighandler_t) };
        if previous == libc::SIG_ERR {
            bail!("cannot catch signal {signal}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The stop signal received, if any.
pub(crate) fn stop_requested() -> Option<i32> {
    match STOP_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A running child process and the name it is called by in messages.
pub(crate) struct Supervised {
    pub name: &'static str,
    child: Child,
}

impl Supervised {
    /// Starts `command` in its own process group. On Linux the child is also sent SIGTERM if
    /// this process dies without stopping it, so nothing is left running behind a crash.
    pub(crate) fn spawn(name: &'static str, command: &mut Command) -> Result<Supervised> {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches only the new process.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| format!("cannot start the {name}"))?;
        Ok(Supervised { name, child })
    }

    pub(crate) fn stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    fn exited(&mut self) -> Result<Option<ExitStatus>> {
        self.child.try_wait().with_context(|| format!("cannot check on the {}", self.name))
    }

    /// Sends `signal` and waits for the child to exit, killing it after [`STOP_GRACE`].
    pub(crate) fn stop(&mut self, signal: i32) -> Result<ExitStatus> {
        if let Some(status) = self.exited()? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("child pid out of range")?;
        // SAFETY: kill(2) on our own child, which has not been reaped (try_wait said so).
        unsafe {
            libc::kill(pid, signal);
        }
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            if let Some(status) = self.exited()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                eprintln!("haidang: the {} did not stop within {STOP_GRACE:?}; killing it", self.name);
                let _ = self.child.kill();
                return self.child.wait().with_context(|| format!("cannot wait for the {}", self.name));
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Runs until a stop signal arrives or a child exits by itself, then stops the children in
/// order. Success only when a signal asked for the stop and every child exited cleanly.
pub(crate) fn until_stopped(mut children: Vec<Supervised>) -> Result<bool> {
    loop {
        if let Some(signal) = stop_requested() {
            println!("\nstopping the agent and the collector…");
            return stop_all(&mut children, signal);
        }
        for i in 0..children.len() {
            if let Some(status) = children[i].exited()? {
                eprintln!("haidang: the {} stopped by itself ({status}); stopping the rest", children[i].name);
                let mut rest: Vec<_> =
                    children.drain(..).enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c).collect();
                stop_all(&mut rest, libc::SIGTERM)?;
                return Ok(false);
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Stops every child, in order, with `signal`; true when all exited successfully.
pub(crate) fn stop_all(children: &mut [Supervised], signal: i32) -> Result<bool> {
    let mut clean = true;
    for child in children {
        let status = child.stop(signal)?;
        if !status.success() {
            eprintln!("haidang: the {} exited with {status}", child.name);
            clean = false;
        }
    }
    Ok(clean)
}
