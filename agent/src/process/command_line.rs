//! How a command line is written in process events, the same on every platform.

/// Joins NUL-separated arguments (as in `/proc/PID/cmdline`) with spaces, in double quotes
/// when an argument is empty or holds whitespace or a quote, so the arguments stay tellable
/// apart. A process that rewrote its title without NULs is passed through.
pub(crate) fn format(raw: &[u8]) -> Vec<u8> {
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len() + 8);
    for (i, arg) in raw.split(|&b| b == 0).enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let needs_quotes = arg.is_empty() || arg.iter().any(|b| b.is_ascii_whitespace() || *b == b'"');
        if needs_quotes {
            out.push(b'"');
            for &b in arg {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_only_arguments_that_need_it() {
        assert_eq!(format(b"/bin/sleep\x005\x00"), b"/bin/sleep 5");
        assert_eq!(format(b"sh\0-c\0echo \"hi\" there\0\0x\0"), br#"sh -c "echo \"hi\" there" "" x"#);
        assert_eq!(format(b"nginx: worker process"), b"\"nginx: worker process\"");
        assert_eq!(format(b""), b"");
        assert_eq!(format(b"\xffbad\0ok\0"), b"\xffbad ok");
    }
}
