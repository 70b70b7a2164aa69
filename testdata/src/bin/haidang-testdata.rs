//! `haidang-testdata [CORPUS…]`: prints the directory of each corpus named (`sigma`,
//! `evtx-attack-samples`; all when none is), finding or fetching it as the tests do, for
//! scripts and benchmarks. Exit status 1 and one line on stderr when one cannot be had.

use haidang_testdata::Corpus;
use std::process::ExitCode;

fn main() -> ExitCode {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let mut corpora = Vec::new();
    for name in &names {
        match Corpus::ALL.into_iter().find(|c| c.name() == name) {
            Some(corpus) => corpora.push(corpus),
            None => {
                let known: Vec<&str> = Corpus::ALL.iter().map(|c| c.name()).collect();
                eprintln!("haidang-testdata: unknown corpus `{name}`; known: {}", known.join(", "));
                return ExitCode::from(2);
            }
        }
    }
    if corpora.is_empty() {
        corpora.extend(Corpus::ALL);
    }
    for corpus in corpora {
        match haidang_testdata::locate(corpus) {
            Ok(dir) => println!("{}", dir.display()),
            Err(line) => {
                eprintln!("{line}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
