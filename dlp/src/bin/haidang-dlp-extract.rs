//! The DLP extraction child as a program of its own (see `haidang_dlp::extract`).

use std::process::ExitCode;

fn main() -> ExitCode {
    haidang_dlp::extract::run_child_if_requested().unwrap_or_else(|| {
        eprintln!("haidang-dlp-extract: started by the DLP engine as its extraction child, not by hand");
        ExitCode::from(2)
    })
}
