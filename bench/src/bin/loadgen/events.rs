//! Realistic events for simulated agents: file changes and process starts and exits as the
//! sensors of an agency desktop (mostly Windows) or server (Linux) record them, with the
//! Vietnamese document names, folders and command lines such machines are full of.
//!
//! Content hashes of changed files are random (they do not compress, as on a real fleet);
//! image hashes repeat per program, pids and times advance as on a busy machine.

use haidang_proto::event::{Actor, Detection, FileAction, FileEvent, FileMeta, Health, ProcessAction, ProcessEvent};
use haidang_proto::{Event, EventBody, Hash32, Text, Timestamp};

/// A small, fast, seedable generator (splitmix64); reproducible runs need no crate.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub(crate) fn hash(&mut self) -> Hash32 {
        let mut h = [0u8; 32];
        for chunk in h.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        h
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const LINUX_USERS: &[&str] = &["nguyenvanan", "tranthibinh", "lehoangnam", "phamthimai", "voducthang", "dangvanhung"];
const WINDOWS_USERS: &[&str] =
    &["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Nam", "Phạm Thị Mai", "Võ Đức Thắng", "Hoàng Thu Hà", "Bùi Thị Lan"];
const FOLDERS: &[&str] = &[
    "Văn bản đến",
    "Văn bản đi",
    "Báo cáo",
    "Hồ sơ cán bộ",
    "Kế hoạch",
    "Tờ trình",
    "Biên bản họp",
    "Dự toán ngân sách",
];
const DOCUMENTS: &[&str] = &[
    "Báo cáo tình hình kinh tế - xã hội tháng {n}",
    "Kế hoạch công tác năm 2026",
    "Tờ trình số {n}-TTr-UBND",
    "Quyết định {n}-QĐ-UBND về việc phê duyệt dự án",
    "Biên bản họp giao ban tuần {n}",
    "Danh sách cán bộ đi công tác Nha Trang",
    "Công văn {n}-CV-STTTT gửi Sở Tài chính",
    "Dự thảo Nghị quyết HĐND tỉnh Khánh Hòa",
    "Bảng lương tháng {n}",
    "Thông báo kết luận của Chủ tịch UBND tỉnh",
];
const EXTENSIONS: &[&str] = &["docx", "xlsx", "pdf", "pptx", "odt", "pdf", "docx", "zip"];
const LINUX_SYSTEM_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/ssh/sshd_config",
    "/etc/cron.d/sao-luu-ho-so",
    "/etc/sudoers.d/quan-tri",
    "/var/lib/dpkg/status",
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/usr/bin/sudo",
];
const WINDOWS_SYSTEM_FILES: &[&str] = &[
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp\\cap-nhat.lnk",
    "C:\\Windows\\System32\\Tasks\\GoogleUpdateTaskMachineUA",
    "C:\\Windows\\Prefetch\\WINWORD.EXE-9A7B2C1D.pf",
];
const LINUX_FILE_ACTORS: &[&str] = &[
    "/usr/lib/libreoffice/program/soffice.bin",
    "/usr/bin/nautilus",
    "/usr/bin/rsync",
    "/usr/bin/vim.basic",
    "/usr/bin/dpkg",
    "/usr/bin/python3.11",
];
const WINDOWS_FILE_ACTORS: &[&str] = &[
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
    "C:\\Windows\\explorer.exe",
    "C:\\Program Files\\Zalo\\Zalo.exe",
    "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "C:\\Program Files\\Foxit Software\\Foxit PDF Reader\\FoxitPDFReader.exe",
];

/// (image, command line, parent image, runs as the desktop user rather than a service account)
type ProcessTemplate = (&'static str, &'static str, &'static str, bool);

const LINUX_PROCESSES: &[ProcessTemplate] = &[
    ("/usr/bin/bash", "-bash", "/usr/sbin/sshd", true),
    ("/usr/bin/tar", "tar czf /srv/sao-luu/ho-so-{n}.tgz \"/srv/chia-se/Hồ sơ cán bộ\"", "/usr/sbin/cron", false),
    (
        "/usr/bin/python3.11",
        "/usr/bin/python3 /opt/ky-so/ky_van_ban.py --file \"/home/{user}/Tài liệu/Tờ trình số {n}-TTr-UBND.pdf\" --cert vnpt-ca",
        "/usr/bin/bash",
        true,
    ),
    ("/usr/bin/curl", "curl -fsS https://dichvucong.khanhhoa.gov.vn/api/v1/ho-so?trang={n}", "/usr/bin/bash", true),
    (
        "/usr/lib/firefox-esr/firefox-esr",
        "/usr/lib/firefox-esr/firefox-esr -contentproc -childID {n} -isForBrowser -prefsLen 31245 -prefMapSize 244787 -parentBuildID 20251110104452 -appDir /usr/lib/firefox-esr/browser {n} true tab",
        "/usr/lib/firefox-esr/firefox-esr",
        true,
    ),
    ("/usr/sbin/cron", "/usr/sbin/CRON -f -P", "/usr/sbin/cron", false),
    ("/usr/bin/apt-get", "apt-get -qq update", "/usr/bin/sudo", false),
    ("/usr/bin/ls", "ls -la \"/srv/chia-se/Văn bản đến/2025\"", "/usr/bin/bash", true),
    (
        "/usr/bin/rsync",
        "rsync -a --delete \"/srv/chia-se/\" backup@10.45.1.20:/sao-luu/so-tttt/",
        "/usr/sbin/cron",
        false,
    ),
];
const WINDOWS_PROCESSES: &[ProcessTemplate] = &[
    (
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File \"C:\\Users\\{user}\\Downloads\\cài đặt chữ ký số.ps1\"",
        "C:\\Windows\\explorer.exe",
        true,
    ),
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --lang=vi --renderer-client-id={n} --field-trial-handle=1916,i,{n},4957134785331337,262144 /prefetch:1",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        true,
    ),
    (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n \"C:\\Users\\{user}\\Documents\\Kế hoạch công tác tháng {n}.docx\" /o \"\"",
        "C:\\Windows\\explorer.exe",
        true,
    ),
    (
        "C:\\Windows\\System32\\cmd.exe",
        "cmd.exe /c \"net use Z: \\\\may-chu-tep\\Văn bản đến /persistent:yes\"",
        "C:\\Windows\\explorer.exe",
        true,
    ),
    (
        "C:\\Program Files\\Zalo\\Zalo.exe",
        "\"C:\\Program Files\\Zalo\\Zalo.exe\" --type=gpu-process --no-sandbox",
        "C:\\Windows\\explorer.exe",
        true,
    ),
    (
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
        "C:\\Windows\\System32\\services.exe",
        false,
    ),
    (
        "C:\\Windows\\System32\\rundll32.exe",
        "rundll32.exe printui.dll,PrintUIEntry /in /n \"\\\\may-in-tang-2\\Canon LBP2900 Phòng Tổng hợp\"",
        "C:\\Windows\\explorer.exe",
        true,
    ),
    (
        "C:\\Program Files (x86)\\UniKey\\UniKeyNT.exe",
        "\"C:\\Program Files (x86)\\UniKey\\UniKeyNT.exe\"",
        "C:\\Windows\\explorer.exe",
        true,
    ),
    (
        "C:\\Windows\\System32\\msiexec.exe",
        "C:\\Windows\\system32\\msiexec.exe /i \"C:\\Users\\{user}\\Downloads\\VNPT-CA Plugin.msi\" /qn",
        "C:\\Windows\\System32\\services.exe",
        false,
    ),
];

struct Running {
    pid: u32,
    ppid: u32,
    template: usize,
    command_line: Text,
}

/// The event stream of one simulated machine.
pub(crate) struct Generator {
    rng: Rng,
    windows: bool,
    user: &'static str,
    next_seq: u64,
    time: i64,
    next_pid: u32,
    running: Vec<Running>,
    image_hashes: Vec<Hash32>,
}

impl Generator {
    /// Four machines in five run Windows, like the province's fleet.
    pub(crate) fn new(seed: u64) -> Generator {
        let mut rng = Rng::new(seed);
        let windows = rng.below(5) != 0;
        let user = if windows { *rng.pick(WINDOWS_USERS) } else { *rng.pick(LINUX_USERS) };
        let templates = if windows { WINDOWS_PROCESSES.len() } else { LINUX_PROCESSES.len() };
        let image_hashes = (0..templates).map(|_| rng.hash()).collect();
        let next_pid = 1000 + rng.below(30_000) as u32;
        Generator {
            rng,
            windows,
            user,
            next_seq: 1,
            time: Timestamp::now().0 - 3_600_000_000_000,
            next_pid,
            running: Vec::new(),
            image_hashes,
        }
    }

    /// The next `n` events, with consecutive sequence numbers and increasing times.
    pub(crate) fn batch(&mut self, n: usize) -> Vec<Event> {
        (0..n).map(|_| self.next_event()).collect()
    }

    fn next_event(&mut self) -> Event {
        let body = if self.rng.chance(55) { EventBody::Process(self.process()) } else { EventBody::File(self.file()) };
        self.time += 100_000 + self.rng.below(3_000_000) as i64;
        let seq = self.next_seq;
        self.next_seq += 1;
        Event { seq, time: Timestamp(self.time), body }
    }

    fn fill(&mut self, template: &str) -> String {
        let n = 1 + self.rng.below(999);
        template.replace("{user}", self.user).replace("{n}", &n.to_string())
    }

    fn document_path(&mut self) -> String {
        let folder = *self.rng.pick(FOLDERS);
        let doc = self.rng.pick(DOCUMENTS).to_string();
        let doc = self.fill(&doc);
        let ext = *self.rng.pick(EXTENSIONS);
        if self.windows {
            match self.rng.below(4) {
                0 => format!("C:\\Users\\{}\\Downloads\\{doc}.{ext}", self.user),
                1 => format!("D:\\Lưu trữ\\{folder}\\2025\\{doc}.{ext}"),
                _ => format!("C:\\Users\\{}\\Documents\\{folder}\\{doc}.{ext}", self.user),
            }
        } else if self.rng.chance(50) {
            format!("/home/{}/Tài liệu/{folder}/{doc}.{ext}", self.user)
        } else {
            format!("/srv/chia-se/{folder}/2025/{doc}.{ext}")
        }
    }

    fn meta(&mut self, hashed: bool) -> FileMeta {
        FileMeta {
            size: 2_000 + self.rng.below(4_000_000),
            mode: if self.windows { 0o100666 } else { 0o100640 },
            uid: if self.windows { 0 } else { 1000 + self.rng.below(8) as u32 },
            gid: if self.windows { 0 } else { 1000 },
            mtime: Timestamp(self.time),
            hash: hashed.then(|| self.rng.hash()),
        }
    }

    fn file(&mut self) -> FileEvent {
        let system = self.rng.chance(8);
        let path = if system {
            let files = if self.windows { WINDOWS_SYSTEM_FILES } else { LINUX_SYSTEM_FILES };
            self.rng.pick(files).to_string()
        } else {
            self.document_path()
        };
        let action = match self.rng.below(20) {
            0..=5 => FileAction::Created,
            6..=14 => FileAction::Modified,
            15..=16 => FileAction::Deleted,
            17..=18 => FileAction::Renamed,
            _ => FileAction::Attributes,
        };
        let (old, new) = match action {
            FileAction::Created => (None, Some(self.meta(true))),
            FileAction::Deleted => (Some(self.meta(true)), None),
            FileAction::Modified => (Some(self.meta(true)), Some(self.meta(true))),
            FileAction::Renamed | FileAction::Attributes => {
                let m = self.meta(true);
                let mut n = m.clone();
                n.mode ^= 0o020;
                (Some(m), Some(n))
            }
        };
        let old_path = (action == FileAction::Renamed).then(|| Text::from(format!("{path}.~tmp")));
        let actors = if self.windows { WINDOWS_FILE_ACTORS } else { LINUX_FILE_ACTORS };
        let actor = self.rng.chance(70).then(|| Actor {
            pid: self.next_pid.saturating_sub(self.rng.below(500) as u32),
            image: Text::from(*self.rng.pick(actors)),
        });
        FileEvent {
            action,
            critical: system && self.rng.chance(2),
            path: Text::from(path),
            old_path,
            old,
            new,
            detection: if self.rng.chance(97) { Detection::Realtime } else { Detection::Rescan },
            actor,
        }
    }

    fn process(&mut self) -> ProcessEvent {
        let templates = if self.windows { WINDOWS_PROCESSES } else { LINUX_PROCESSES };
        let exit = !self.running.is_empty() && (self.running.len() > 64 || self.rng.chance(45));
        if exit {
            let i = self.rng.below(self.running.len() as u64) as usize;
            let r = self.running.swap_remove(i);
            let (image, _, parent, as_user) = templates[r.template];
            return ProcessEvent {
                action: ProcessAction::Exit,
                pid: r.pid,
                ppid: r.ppid,
                image: Text::from(image),
                command_line: r.command_line,
                user: self.account(as_user),
                parent_image: Some(Text::from(parent)),
                image_hash: Some(self.image_hashes[r.template]),
                exit_code: Some(if self.rng.chance(90) { 0 } else { 1 }),
            };
        }
        let template = self.rng.below(templates.len() as u64) as usize;
        let (image, command, parent, as_user) = templates[template];
        self.next_pid += 1 + self.rng.below(40) as u32;
        let pid = self.next_pid;
        let ppid = pid.saturating_sub(1 + self.rng.below(2_000) as u32);
        let command_line = Text::from(self.fill(command));
        self.running.push(Running { pid, ppid, template, command_line: command_line.clone() });
        ProcessEvent {
            action: ProcessAction::Start,
            pid,
            ppid,
            image: Text::from(image),
            command_line,
            user: self.account(as_user),
            parent_image: Some(Text::from(parent)),
            image_hash: Some(self.image_hashes[template]),
            exit_code: None,
        }
    }

    fn account(&self, desktop_user: bool) -> Text {
        match (desktop_user, self.windows) {
            (true, true) => Text::from(format!("UBND-KHANHHOA\\{}", self.user)),
            (true, false) => Text::from(self.user),
            (false, true) => Text::from("NT AUTHORITY\\SYSTEM"),
            (false, false) => Text::from("root"),
        }
    }
}

/// Bytes of events before compression (postcard, as in a batch payload).
pub(crate) fn raw_len(events: &[Event]) -> usize {
    postcard::to_stdvec(events).map_or(0, |v| v.len())
}

/// The heartbeat an idle agent sends, fixed for a given agent so that sending it again
/// (another run against the same collector) is a byte-identical replay, acknowledged as
/// a duplicate rather than refused as a fork.
pub(crate) fn heartbeat(time: Timestamp) -> Event {
    Event {
        seq: 1,
        time,
        body: EventBody::Health(Health {
            spool_events: 0,
            spool_bytes: 0,
            rss_bytes: 14 * 1024 * 1024,
            cpu_percent: 0.05,
            uptime_secs: 30,
            fim_sensor: "fanotify".into(),
            process_sensor: "netlink".into(),
            agent_version: "0.1.0".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_ordered_and_varied() {
        let mut g = Generator::new(7);
        let events = g.batch(2000);
        assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq && w[0].time < w[1].time));
        let files = events.iter().filter(|e| matches!(e.body, EventBody::File(_))).count();
        assert!(files > 500 && files < 1500, "{files} file events of 2000");
        let more = g.batch(10);
        assert_eq!(more[0].seq, 2001);
    }

    #[test]
    fn payloads_compress_like_real_batches() {
        let events = Generator::new(1).batch(1000);
        let raw = raw_len(&events);
        let compressed = haidang_proto::batch::encode_events(&events).len();
        let ratio = raw as f64 / compressed as f64;
        assert!(ratio > 2.0 && ratio < 12.0, "compression ratio {ratio:.1}");
    }
}
