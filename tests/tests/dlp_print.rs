//! The DLP printing channel of a running agent, with Debian's CUPS and a real collector: a
//! file-backed raw queue (`file:///dev/null`) in hold mode (`job-hold-until-default=indefinite`,
//! as the README asks of printers under DLP); a TỐI MẬT document sent with `lp` is cancelled before it prints,
//! its `dlp` event (channel print, detector M2) names the printer, the user and the document,
//! and its verdict says `cancelled`; a decoy is released, completes, and is not reported.
//!
//! A job whose documents come one after another, as IPP clients send them (Create-Job, then
//! Send-Document for each, sent here over cupsd's socket), is judged on all of them; a
//! document that comes after the job was judged and had ended is judged and reported on its
//! own.
//!
//! Needs root and cups, cups-client, cups-bsd (scripts/test.sh installs them); starts cupsd
//! when it is not running. Without them it FAILS saying what is missing. CI runs as root.

use haidang_agent::dlp_sensor::print::{CANCELED, COMPLETED, Cups, HELD, SETTLE, TICK, parse_jobs};
use haidang_tests::system::{require_program, require_root, run_checked};
use haidang_tests::{Agent, Collector, docx, wait_until};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
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
    let _one_at_a_time = one_at_a_time();
    let Setup { dir, printer, collector, agent } = setup("a");
    let name = printer.name.clone();

    let decoy = dir.path().join("thongbao.txt");
    std::fs::write(&decoy, decoy_text()).expect("decoy");
    let report = dir.path().join("baocao.docx");
    std::fs::write(&report, docx(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."])).expect("report");

    let decoy_job = print(&name, "thongbao.txt", &decoy);
    let report_job = print(&name, "Báo cáo quý III.docx", &report);

    let label = format!("cups:{name}/{report_job} (root) Báo cáo quý III.docx");
    let verdict = verdict_for(&collector, &agent, &label);
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

/// A queue in hold mode, a collector and an enrolled agent inspecting print jobs.
struct Setup {
    dir: tempfile::TempDir,
    printer: Printer,
    collector: Collector,
    agent: Agent,
}

/// Every agent judges every job of the machine's spool, so the tests run one after another:
/// each takes this first, and holds it until its agent is gone.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static CUPS: Mutex<()> = Mutex::new(());
    // A test that failed while holding it leaves nothing the next one needs.
    CUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`Setup`], with a queue named after the process and `which`.
fn setup(which: &str) -> Setup {
    require_root("run cupsd and add a printer");
    for program in ["cupsd", "lpadmin", "lp", "cancel"] {
        require_program(program);
    }
    cupsd_running();

    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("haidang-test-{}-{which}", std::process::id());
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
    Setup { dir, printer, collector, agent }
}

/// The `dlp_verdict` event of the job `label` names, once the collector has it.
fn verdict_for(collector: &Collector, agent: &Agent, label: &str) -> Value {
    wait_until(WAIT, &format!("DLP verdict for {label}"), || {
        collector.events(&agent.id, Some("dlp_verdict")).into_iter().find(|e| e["path"] == label)
    })
}

/// One IPP request to cupsd over its socket, as root; the answer's body, which must say
/// successful-ok.
fn ipp(operation: u16, attributes: &[(u8, &str, &[u8])], document: &[u8]) -> Vec<u8> {
    let mut body = vec![2, 0];
    body.extend(operation.to_be_bytes());
    body.extend(1_u32.to_be_bytes());
    body.push(0x01);
    let charset: [(u8, &str, &[u8]); 2] =
        [(0x47, "attributes-charset", b"utf-8"), (0x48, "attributes-natural-language", b"en")];
    for (tag, name, value) in charset.iter().chain(attributes) {
        body.push(*tag);
        body.extend(u16::try_from(name.len()).expect("short name").to_be_bytes());
        body.extend(name.as_bytes());
        body.extend(u16::try_from(value.len()).expect("short value").to_be_bytes());
        body.extend(*value);
    }
    body.push(0x03);
    body.extend(document);
    let socket = ["/run/cups/cups.sock", "/var/run/cups/cups.sock"]
        .into_iter()
        .find(|s| Path::new(s).exists())
        .expect("cupsd's socket");
    let mut stream = UnixStream::connect(socket).expect("connect to cupsd");
    let head = format!(
        "POST / HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\
         Authorization: PeerCred root\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send to cupsd");
    stream.write_all(&body).expect("send to cupsd");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("cupsd's answer");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP headers") + 4;
    assert!(answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200"), "{:?}", &answer[..split]);
    let body = answer.split_off(split);
    assert_eq!(body.get(2..4), Some(&[0, 0][..]), "IPP status of operation {operation:#06x}");
    body
}

/// Create-Job on `printer`; the job's id.
fn create_job(printer: &str, title: &str) -> u32 {
    let uri = format!("ipp://localhost/printers/{printer}");
    let answer = ipp(
        0x0005,
        &[
            (0x45, "printer-uri", uri.as_bytes()),
            (0x42, "requesting-user-name", b"root"),
            (0x42, "job-name", title.as_bytes()),
        ],
        &[],
    );
    let (_, jobs) = parse_jobs(&answer).expect("Create-Job answer");
    jobs.first().expect("the created job").id
}

/// Send-Document of `document` to job `id` on `printer`, the last of the job or not.
fn send_document(printer: &str, id: u32, document: &[u8], last: bool) {
    let uri = format!("ipp://localhost/printers/{printer}");
    let id = id.to_be_bytes();
    let last = [u8::from(last)];
    ipp(
        0x0006,
        &[
            (0x45, "printer-uri", uri.as_bytes()),
            (0x21, "job-id", &id),
            (0x42, "requesting-user-name", b"root"),
            (0x49, "document-format", b"application/octet-stream"),
            (0x22, "last-document", &last),
        ],
        document,
    );
}

fn decoy_text() -> &'static [u8] {
    "MẶT TRẬN TỔ QUỐC VIỆT NAM\nVui lòng nhập mật khẩu\nThông báo lịch họp.\n".as_bytes()
}

#[test]
fn a_job_whose_marked_document_comes_second_is_judged_on_both_and_cancelled() {
    let _one_at_a_time = one_at_a_time();
    let Setup { dir: _dir, printer, collector, agent } = setup("b");
    let report = docx(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."]);
    let job = create_job(&printer.name, "Hai tài liệu");
    send_document(&printer.name, job, decoy_text(), false);
    // Longer than the agent takes to look at the spool again, shorter than a job's documents
    // take to settle.
    std::thread::sleep((TICK + SETTLE) / 2);
    send_document(&printer.name, job, &report, true);

    let label = format!("cups:{}/{job} (root) Hai tài liệu", printer.name);
    let verdict = verdict_for(&collector, &agent, &label);
    assert_eq!(
        (&verdict["action"], &verdict["outcome"]),
        (&Value::from("block"), &Value::from("cancelled")),
        "{verdict}"
    );
    assert_eq!(job_state(job), Some(CANCELED), "the job is not cancelled");
    let verdicts = collector.events(&agent.id, Some("dlp_verdict"));
    assert_eq!(verdicts.iter().filter(|e| e["path"] == label.as_str()).count(), 1, "{verdicts:?}");
}

#[test]
fn a_document_added_after_the_job_was_judged_is_judged_and_reported() {
    let _one_at_a_time = one_at_a_time();
    let Setup { dir: _dir, printer, collector, agent } = setup("c");
    let report = docx(&["TỐI MẬT", "Phụ lục gửi sau."]);
    let job = create_job(&printer.name, "Gửi sau");
    send_document(&printer.name, job, decoy_text(), false);
    // The agent judges the decoy once it has settled and releases the job.
    wait_until(WAIT, "the job released after its first document", || {
        job_state(job).is_some_and(|state| state != HELD).then_some(())
    });
    send_document(&printer.name, job, &report, true);

    let label = format!("cups:{}/{job} (root) Gửi sau", printer.name);
    let verdict = verdict_for(&collector, &agent, &label);
    assert_eq!(verdict["action"], "block", "{verdict}");
    let detail = verdict["detail"].as_str().unwrap_or_default();
    let outcome = verdict["outcome"].as_str().unwrap_or_default();
    // Cancelled if the job was still going, recorded with the reason if it had ended.
    assert!(
        outcome == "cancelled" || (outcome == "recorded" && detail.contains("arrived after the job was judged")),
        "{verdict}"
    );
    let matches = collector.events(&agent.id, Some("dlp"));
    assert!(matches.iter().any(|e| e["path"] == label.as_str() && e["detector"] == "M2"), "{matches:?}");
}
