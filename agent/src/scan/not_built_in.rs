//! Stands in for `yara.rs` in an agent built without YARA (cargo feature `yara` off): the same
//! items, each saying that YARA is not built in where it is asked for. The types of the scan
//! engine have no values, so the code of `scan` that would use them can never run.

use crate::config::AgentConfig;
use crate::fim;
use crate::spool::Recorder;
use crate::state::State;
use anyhow::Result;
use serde_json::Value;
use std::path::Path;

/// Said wherever YARA is asked for in an agent built without it.
pub const NOT_BUILT_IN: &str = "this haidang-agent was built without YARA support (cargo feature \"yara\"); install a build with it to scan for malware";

/// This build has no YARA: says so once if the configuration asks for scanning.
pub fn start_background(
    config: &AgentConfig,
    _state: &State,
    _recorder: &Recorder,
    _tasks: &mut tokio::task::JoinSet<()>,
) -> Option<fim::EventTap> {
    if !config.scan.yara_rules.is_empty() {
        tracing::warn!("{NOT_BUILT_IN}; the [scan] section is ignored");
    }
    None
}

/// No rule can match in this build.
#[derive(Debug)]
pub enum Malware {}

/// No YARA engine can be loaded in this build.
pub(super) enum Engine {}

impl Engine {
    pub(super) fn load(_dir: &Path, _rule_cache: bool) -> Result<Engine> {
        anyhow::bail!("{NOT_BUILT_IN}")
    }

    pub(super) fn describe(&self) -> String {
        match *self {}
    }

    pub(super) fn scanner(&self, _max_file_size: u64) -> Scanner<'_> {
        match *self {}
    }
}

/// Has no values, as [`Engine`].
pub(super) struct Scanner<'r>(std::convert::Infallible, std::marker::PhantomData<&'r Engine>);

impl Scanner<'_> {
    pub(super) fn scan(&mut self, _path: &Path) -> Result<(Vec<Malware>, u64), String> {
        match self.0 {}
    }
}

pub(super) fn malware_json(m: &Malware) -> Value {
    match *m {}
}

pub(super) fn malware_text(m: &Malware) -> String {
    match *m {}
}

#[cfg(test)]
mod tests {
    use crate::dlp::Channel;
    use crate::scan::cli::{Options, run};

    #[test]
    fn says_that_yara_is_not_built_in() {
        let options = Options {
            yara: Some("rules".into()),
            rule_cache: false,
            dlp: true,
            policy: None,
            channel: Channel::AtRest,
            json: false,
            paths: vec![".".into()],
            max_file_size: 1,
            progress: false,
        };
        let e = run(&options).expect_err("refused").to_string();
        assert!(e.contains("built without YARA support"), "{e}");
    }
}
