//! `wine-prefix DIR`: makes the Wine prefix DIR in which the Windows agent's own unit tests
//! run (`scripts/test.sh`), as the Wine end-to-end tests make theirs: booted, no debugger to
//! hang on a crash, and the shim DLL that Rust programs need under Wine 8.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: wine-prefix DIR");
        return ExitCode::from(2);
    };
    haidang_tests::wine::make_prefix(&dir);
    ExitCode::SUCCESS
}
