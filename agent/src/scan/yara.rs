//! What the agent asks of the YARA engine (`haidang-yara`): the background scanner that `run`
//! starts, and the YARA engine of `haidang-agent scan`. In an agent built without YARA,
//! `not_built_in.rs` stands in for this module with the same items.

mod background;

use crate::config::AgentConfig;
use crate::fim;
use crate::spool::Recorder;
use crate::state::State;
use anyhow::Result;
use haidang_proto::Text;
use haidang_yara::{Origin, RuleCache, Rules, ScanCache};
use serde_json::{Value, json};
use std::path::Path;

/// A rule matching a file, as the `scan` command reports it.
pub(super) use haidang_yara::Match as Malware;

/// Starts the YARA scanner over what FIM watches, unless `[scan]` names no rules; returns
/// the tap through which FIM hands it new and modified files.
pub fn start_background(
    config: &AgentConfig,
    state: &State,
    recorder: &Recorder,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Option<fim::EventTap> {
    if config.scan.yara_rules.is_empty() {
        return None;
    }
    if config.scan.default_rules_missing() {
        tracing::info!(
            rules = %config.scan.yara_rules[0].display(),
            "no YARA rules where the package puts them: malware scanning is off (set [scan] yara_rules)"
        );
        return None;
    }
    let (tap, queue) = background::queue();
    // The agent's own state (spool, baseline) is never scanned: it only holds what the agent
    // wrote, and scanning it would compete with the spool for the disk.
    let skip = state.baseline_path().parent().and_then(|p| std::path::absolute(p).ok());
    let (cfg, roots, rec) = (config.scan.clone(), config.fim.paths.clone(), recorder.clone());
    let rule_cache = RuleCache::new(state.yara_rules_cache());
    tasks.spawn(async move {
        if let Err(e) = background::run(cfg, rule_cache, roots, skip, queue, rec).await {
            tracing::error!(error = %format!("{e:#}"), "malware scanning stopped");
        }
    });
    Some(Box::new(move |event| tap.offer(event)))
}

/// Results kept for content seen twice in one run (copies of the same file).
const CACHE_ENTRIES: usize = 100_000;

/// The YARA engine of one `scan` run: the rules, how they were had, and the results shared
/// by its threads.
pub(super) struct Engine {
    rules: Rules,
    origin: Origin,
    cache: ScanCache,
}

impl Engine {
    /// Loads the rules under `dir`, from the user's rule cache when `rule_cache` (and keeping
    /// them there once compiled); rules left out are warned about on stderr.
    pub(super) fn load(dir: &Path, rule_cache: bool) -> Result<Engine> {
        let paths = [dir.to_path_buf()];
        let (rules, origin) = match (rule_cache, RuleCache::per_user()) {
            (true, Some(cache)) => cache.load(&paths)?,
            (true, None) => (Rules::load(&paths)?, Origin::CompiledNotStored("no per-user cache directory".into())),
            (false, _) => (Rules::load(&paths)?, Origin::CompiledNotStored("--no-rule-cache".into())),
        };
        crate::heap::give_back();
        for problem in &rules.report.problems {
            eprintln!("warning: YARA rule not loaded: {problem}");
        }
        Ok(Engine { rules, origin, cache: ScanCache::new(CACHE_ENTRIES) })
    }

    /// The rules in use, for the run's summary line.
    pub(super) fn describe(&self) -> String {
        let how = match &self.origin {
            Origin::Cached => "compiled before".to_string(),
            Origin::Compiled => "compiled and kept".to_string(),
            Origin::CompiledNotStored(why) => format!("compiled, not kept: {why}"),
        };
        format!("{} YARA rules from {} files ({how})", self.rules.report.rules, self.rules.report.files)
    }

    /// A scanner for one thread (a YARA scanner is not `Send`: each thread builds its own).
    pub(super) fn scanner(&self, max_file_size: u64) -> Scanner<'_> {
        Scanner(haidang_yara::Scanner::new(&self.rules, &self.cache, max_file_size))
    }
}

/// Scans files for one thread of a `scan` run.
pub(super) struct Scanner<'r>(haidang_yara::Scanner<'r>);

impl Scanner<'_> {
    /// The matches in the file at `path` and its size, or why it was not scanned.
    pub(super) fn scan(&mut self, path: &Path) -> Result<(Vec<Malware>, u64), String> {
        let scan = self.0.scan_file(path).map_err(|e| e.to_string())?;
        Ok((scan.matches, scan.size))
    }
}

/// A match as one JSON object of `scan --json`.
pub(super) fn malware_json(m: &Malware) -> Value {
    json!({
        "kind": "malware",
        "path": Text::from(m.path.as_path()).as_str(),
        "rule": m.rule,
        "namespace": m.namespace,
        "tags": m.tags,
        "sha256": hex::encode(m.sha256),
    })
}

/// A match as one line of `scan`'s text output.
pub(super) fn malware_text(m: &Malware) -> String {
    let tags = if m.tags.is_empty() { String::new() } else { format!(" [{}]", m.tags.join(",")) };
    format!(
        "{}: malware {}:{}{tags} sha256:{}",
        Text::from(m.path.as_path()).display_safe(),
        m.namespace,
        m.rule,
        hex::encode(m.sha256)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_print_as_documented() {
        let m = Malware {
            rule: "eicar".into(),
            namespace: "test".into(),
            tags: vec!["test".into()],
            path: "/tmp/x".into(),
            sha256: [0xab; 32],
        };
        let v = malware_json(&m);
        assert_eq!(
            (v["path"].as_str(), v["rule"].as_str(), v["namespace"].as_str()),
            (Some("/tmp/x"), Some("eicar"), Some("test"))
        );
        assert_eq!(v["tags"], json!(["test"]));
        assert_eq!(v["sha256"].as_str().map(str::len), Some(64));
        let text = malware_text(&m);
        assert!(text.starts_with("/tmp/x: malware test:eicar [test] sha256:abab"), "{text}");
    }
}
