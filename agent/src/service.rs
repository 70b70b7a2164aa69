//! The agent as a Windows service: `service install` registers it (started automatically at
//! boot, as LocalSystem, restarted by the service control manager when it fails), `service
//! uninstall` stops and removes it, and `service run` is what the service control manager
//! starts: the agent of `run`, stopped by the manager instead of a signal.

use crate::config::AgentConfig;
use crate::lifecycle::StopCause;
use crate::state::State;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept, ServiceErrorControl,
    ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

/// The service's name in the service control manager (`sc query HaiDangAgent`).
pub const SERVICE_NAME: &str = "HaiDangAgent";
const DISPLAY_NAME: &str = "Hải Đăng agent";
const DESCRIPTION: &str = "Hải Đăng endpoint agent: file integrity, processes, DLP and YARA, streamed signed to the \
                           provincial collector";
/// How long the manager waits before each restart after a failure.
const RESTART_DELAY: Duration = Duration::from_secs(10);
/// After a day without failure the manager's failure count starts over.
const FAILURE_RESET: Duration = Duration::from_secs(24 * 60 * 60);

/// Registers the service to run `service run --state STATE [--config CONFIG]` from this
/// executable.
pub fn install(state: &Path, config: Option<&Path>) -> Result<()> {
    let state = std::path::absolute(state).context("--state")?;
    let mut arguments: Vec<OsString> = vec!["service".into(), "run".into(), "--state".into(), state.into()];
    if let Some(config) = config {
        arguments.extend(["--config".into(), std::path::absolute(config).context("--config")?.into()]);
    }
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("cannot open the service control manager (run as an administrator)")?;
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: std::env::current_exe().context("cannot find this executable")?,
        launch_arguments: arguments,
        dependencies: Vec::new(),
        // LocalSystem: the agent reads every file and the event logs.
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_STATUS | ServiceAccess::DELETE)
        .with_context(|| format!("cannot create the service {SERVICE_NAME}"))?;
    let configured = (|| {
        service.set_description(DESCRIPTION).context("cannot describe the service")?;
        let restart = ServiceAction { action_type: ServiceActionType::Restart, delay: RESTART_DELAY };
        service
            .update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(FAILURE_RESET),
                reboot_msg: None,
                command: None,
                actions: Some(vec![restart.clone(), restart.clone(), restart]),
            })
            .context("cannot set the service's restart on failure")?;
        // An exit with an error status counts as a failure too, not only a crash.
        service.set_failure_actions_on_non_crash_failures(true).context("cannot set the service's restart on failure")
    })();
    // A service that would not be restarted after a failure is not left behind half made.
    if configured.is_err() {
        let _ = service.delete();
    }
    configured
}

/// Stops the service if it runs, then removes it.
pub fn uninstall() -> Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("cannot open the service control manager (run as an administrator)")?;
    let service = manager
        .open_service(SERVICE_NAME, ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)
        .with_context(|| format!("the service {SERVICE_NAME} is not installed"))?;
    if service.query_status().is_ok_and(|s| s.current_state != ServiceState::Stopped) {
        service.stop().context("cannot stop the service")?;
    }
    service.delete().with_context(|| format!("cannot remove the service {SERVICE_NAME}"))
}

/// What `service run` was started with, for the service's main function.
static START: OnceLock<(PathBuf, Option<PathBuf>)> = OnceLock::new();

windows_service::define_windows_service!(ffi_service_main, service_main);

/// Hands this process to the service control manager; returns when the service has stopped.
pub fn run(state: PathBuf, config: Option<PathBuf>) -> Result<()> {
    let _ = START.set((state, config));
    service_dispatcher::start(SERVICE_NAME, ffi_service_main)
        .context("cannot reach the service control manager: `service run` is started by it, use `run` by hand")
}

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = serve() {
        tracing::error!(error = %format!("{e:#}"), "the agent service stopped");
    }
}

fn serve() -> Result<()> {
    let (state, config) = START.get().cloned().context("service started without its arguments")?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let stop = Mutex::new(Some(stop));
    let status = service_control_handler::register(SERVICE_NAME, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(stop) = stop.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = stop.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })
    .context("cannot register the service's control handler")?;
    let report = |state: ServiceState, exit: u32| {
        status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: match state {
                ServiceState::Running => ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
                _ => ServiceControlAccept::empty(),
            },
            exit_code: ServiceExitCode::Win32(exit),
            checkpoint: 0,
            wait_hint: Duration::ZERO,
            process_id: None,
        })
    };
    report(ServiceState::Running, 0).context("cannot report the service running")?;
    let result = (|| {
        let config = match &config {
            Some(path) => AgentConfig::load(path)?,
            None => AgentConfig::default(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(crate::run::run_until(State::new(&state), config, async {
            let _ = stopped.await;
            StopCause::ServiceControlManager
        }))
    })();
    // A non-zero exit code makes the manager apply the failure actions (restart).
    let _ = report(ServiceState::Stopped, if result.is_ok() { 0 } else { 1 });
    result
}
