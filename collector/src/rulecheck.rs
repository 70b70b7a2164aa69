//! `haidang-collector rules check DIR…`: load rule directories offline, as the collector
//! would, and report every rule that loads or is skipped (and why) before it is deployed.

use anyhow::Result;
use haidang_rules::{Placeholders, RuleSet};
use std::path::{Path, PathBuf};

/// Prints the load report; returns false when any document was skipped. `placeholders` is the
/// file `serve --placeholders` would be given; without it a rule that uses one is skipped.
pub fn check(
    dirs: &[PathBuf],
    with_shipped: bool,
    placeholders: Option<&Path>,
    verbose: bool,
    as_json: bool,
) -> Result<bool> {
    let placeholders = match placeholders {
        Some(file) => Placeholders::from_file(file).map_err(anyhow::Error::msg)?,
        None => Placeholders::default(),
    };
    let (rules, report) = RuleSet::load_with_placeholders(dirs, with_shipped, &placeholders);
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
    Ok(!report.has_errors())
}
