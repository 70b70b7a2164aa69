//! `haidang-collector rules check DIR…`: load rule directories offline, as the collector
//! would, and report every rule that loads or is skipped (and why) before it is deployed.

use haidang_rules::RuleSet;
use std::path::PathBuf;

/// Prints the load report; returns false when any document was skipped.
pub fn check(dirs: &[PathBuf], with_shipped: bool, verbose: bool, as_json: bool) -> bool {
    let (rules, report) = if with_shipped { RuleSet::load_with_shipped(dirs) } else { RuleSet::load(dirs) };
    for entry in &report.entries {
        if !(verbose || as_json || entry.skipped.is_some()) {
            continue;
        }
        if as_json {
            match serde_json::to_string(entry) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: cannot render a report entry: {e}"),
            }
        } else {
            println!("{entry}");
        }
    }
    eprintln!(
        "{} ({} detection, {} correlation rules in the engine)",
        report.summary(),
        rules.detection_rules(),
        rules.correlation_rules()
    );
    !report.has_errors()
}
