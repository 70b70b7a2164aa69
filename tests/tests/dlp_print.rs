//! The DLP printing channel of a running agent, with Debian's CUPS and a real collector: a
//! file-backed raw queue (`file:///dev/null`) in hold mode (`job-hold-until-default=indefinite`,
//! as the README asks of printers under DLP); a TỐI MẬT document sent with `lp` is cancelled before it prints,
//! its `dlp` event (channel print, detector M2) names the printer, the user and the document,
//! and its verdict says `cancelled`; a decoy is released, completes, and is not reported.
//!
//! Needs root and cups, cups-client, cups-bsd (scripts/test.sh installs them); starts cupsd
//! when it is not running. Without them it FAILS saying what is missing. CI runs as root.

use haidang_agent::channels::print::{CANCELED, COMPLETED, Cups};
use haidang_tests::system::{require_program, require_root, run_checked};
use haidang_tests::{Agent, Collector, docx, wait_until};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn cupsd_answers() -> bool {
    ["/run/cups/cups.sock", "/var/run/cups/cups.sock"]
        .iter()
        .any(|s| std::os::unix::net::UnixStream::connect(s).is_ok())
}

/// cupsd running: started here when it does not answer on its socket.
fn cupsd_running() {
    if !cupsd_answers() {
        run_checked("/usr/sbin/cupsd", &[]);
        wait_until(WAIT, "cupsd listening on its socket", || cupsd_answers().then_some(()));
    }
}

/// A test queue, deleted on drop.
struct Printer {
    name: String,
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = Command::new("cancel").args(["-a", &self.name]).status();
        let _ = Command::new("lpadmin").args(["-x", &self.name]).status();
    }
}

/// `lp -d PRINTER -t TITLE FILE`; the job id.
fn print(printer: &str, title: &str, file: &Path) -> u32 {
    let said = run_checked("lp", &["-d", printer, "-t", title, file.to_str().expect("utf-8")]);
    // "request id is PRINTER-7 (1 file(s))"
    let request = said.split_whitespace().nth(3).unwrap_or_else(|| panic!("lp said {said:?}"));
    let id = request.strip_prefix(&format!("{printer}-")).unwrap_or_else(|| panic!("lp said {said:?}"));
    id.parse().unwrap_or_else(|_| panic!("lp said {said:?}"))
}

fn job_state(id: u32) -> Option<i32> {
    Cups::locate().job(id).expect("ask cupsd").map(|j| j.state)
}

#[test]
fn a_marked_document_sent_to_a_printer_is_cancelled_and_a_decoy_prints() {
    require_root("run cupsd and add a printer");
    for program in ["cupsd", "lpadmin", "lp", "cancel"] {
        require_program(program);
    }
    cupsd_running();

    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("haidang-test-{}", std::process::id());
    let printer = Printer { name: name.clone() };
    // A raw queue on the file device /dev/null (allowed without `FileDevice Yes`): a job
    // the agent releases completes in milliseconds, so a job that waits for the agent is
    // waiting because of hold mode alone.
    let uri = "file:///dev/null";
    run_checked("lpadmin", &["-p", &name, "-E", "-v", uri, "-m", "raw", "-o", "job-hold-until-default=indefinite"]);

    let collector = Collector::start(&dir.path().join("collector"));
    let mut agent =
        Agent::enroll(&collector, &dir.path().join("agent"), "[process]\nenabled = false\n[dlp]\nenabled = true\n");
    agent.start();
    wait_until(WAIT, "agent connected with DLP channels running", || {
        let s = agent.status();
        let sensor = s["dlp_sensor"].as_str().unwrap_or("-");
        (s["connection"] == "connected" && !["-", "off", "starting"].contains(&sensor)).then_some(())
    });
    wait_until(WAIT, "status naming what the print channel does", || {
        (agent.status()["dlp_print"] == "holding and inspecting jobs in /var/spool/cups").then_some(())
    });

    let decoy_bytes = "MẶT TRẬN TỔ QUỐC VIỆT NAM\nVui lòng nhập mật khẩu\nThông báo lịch họp.\n".as_bytes();
    let decoy = dir.path().join("thongbao.txt");
    std::fs::write(&decoy, decoy_bytes).expect("decoy");
    let report = dir.path().join("baocao.docx");
    std::fs::write(&report, docx(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."])).expect("report");

    let decoy_job = print(&name, "thongbao.txt", &decoy);
    let report_job = print(&name, "Báo cáo quý III.docx", &report);

    let label = format!("cups:{name}/{report_job} (root) Báo cáo quý III.docx");
    let verdict = wait_until(WAIT, "DLP verdict for the print job", || {
        collector.events(&agent.id, Some("dlp_verdict")).into_iter().find(|e| e["path"] == label.as_str())
    });
    assert_eq!(
        (&verdict["channel"], &verdict["action"], &verdict["outcome"]),
        (&Value::from("print"), &Value::from("block"), &Value::from("cancelled")),
        "{verdict}"
    );
    let detail = verdict["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(&format!("printer {name}, job {report_job}, user root, document \"Báo cáo quý III.docx\"")),
        "{verdict}"
    );
    let matches = collector.events(&agent.id, Some("dlp"));
    let m2 = matches.iter().find(|e| e["path"] == label.as_str() && e["detector"] == "M2").expect("M2 match");
    assert_eq!(
        (&m2["channel"], &m2["level"], &m2["action"]),
        (&Value::from("print"), &Value::from("toi_mat"), &Value::from("block")),
        "{m2}"
    );
    assert_eq!(job_state(report_job), Some(CANCELED), "the marked job is not cancelled");

    // The decoy was released and printed, and nothing was said of it.
    wait_until(WAIT, "the decoy printed", || (job_state(decoy_job) == Some(COMPLETED)).then_some(()));
    let decoy_prefix = format!("cups:{name}/{decoy_job} ");
    let said: Vec<Value> = collector
        .events(&agent.id, None)
        .into_iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.starts_with(&decoy_prefix)))
        .collect();
    assert!(said.is_empty(), "the decoy was reported: {said:?}");
    drop(printer);
}
