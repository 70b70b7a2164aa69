//! The YARA engine of Hải Đăng (on yara-x): loading rule files with a report of everything
//! that could not be used, keeping compiled rules on disk, and scanning files or buffers with
//! a size cap, a timeout and a cache of results by content.
//!
//! - [`Rules::load`] compiles every `*.yar` / `*.yara` file under some paths, each file on its
//!   own and in its own namespace, so one broken file is a [`RuleProblem`] in the
//!   [`LoadReport`] while the others load.
//! - [`RuleCache`] keeps compiled rules in a private directory, named by a digest of the rule
//!   files and of the host executable, and can compile them in a short-lived child process
//!   ([`RuleCache::load_compiling_apart`]) so a long-running host never holds the compiler's
//!   memory. A host that uses it runs [`compile_child_main`] for the hidden subcommand
//!   [`COMPILE_COMMAND`], with [`CompileArgs`] as its arguments.
//! - [`Scanner`] scans with compiled rules into a [`Scan`] of [`Match`]es, or a [`ScanError`]
//!   saying why a file was not scanned; a [`ScanCache`] shared by scanners answers unchanged
//!   content without running the rules again.
//!
//! Every rule set is compiled with the external variables public rule sets (written for
//! LOKI/THOR-style scanners) test: `filename`, `filepath`, `extension`, `filetype` and
//! `owner`, set for each scanned file.
//!
//! The crate sets up no logging and starts no runtime; it reports through [`tracing`] only
//! what its compiled-rule cache could not do (a cache file it would not trust, a child that
//! failed to compile), since the caller still gets rules.

#![warn(missing_docs)]

mod cache;
mod cache_file;
mod externals;
mod rule_cache;
mod rules;
mod scanner;

pub use cache::ScanCache;
pub use rule_cache::{COMPILE_COMMAND, CompileArgs, Origin, RuleCache, compile_child_main};
pub use rules::{LoadReport, RuleProblem, Rules};
pub use scanner::{Match, Scan, ScanError, Scanner};

/// Access for the fuzz targets to the decoder of untrusted bytes inside the engine; not an
/// API for hosts.
#[doc(hidden)]
pub mod testing {
    pub use crate::cache_file::{PREFIX_LEN, decode};
}

#[cfg(test)]
mod tests;
