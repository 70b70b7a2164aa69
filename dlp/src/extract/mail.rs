//! E-mail (RFC 5322 / MIME, spec §3.3, §4): the subject and address headers (a `[MẬT]`
//! subject is a marking), text and HTML bodies in their charsets, attachment names, and the
//! attachments themselves — including forwarded messages — walked as documents.

use super::{Reason, Walker};
use mailparse::{DispositionType, ParsedMail};

/// Header names that start a message; a file that begins with a few of them is mail
/// whatever its name.
const HEADERS: [&[u8]; 10] = [
    b"from:",
    b"to:",
    b"subject:",
    b"date:",
    b"received:",
    b"return-path:",
    b"message-id:",
    b"mime-version:",
    b"content-type:",
    b"delivered-to:",
];

pub(super) fn looks_like_mail(name: &str, head: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".eml") || lower.ends_with(".mht") || lower.ends_with(".mhtml") {
        return true;
    }
    // Two known headers among the first lines, the first line being a header.
    let lines: Vec<&[u8]> = head.split(|&b| b == b'\n').take(16).collect();
    let known = |line: &&[u8]| HEADERS.iter().any(|h| line.len() >= h.len() && line[..h.len()].eq_ignore_ascii_case(h));
    lines.first().is_some_and(known) && lines.iter().filter(|l| known(l)).count() >= 2
}

pub(super) fn walk(w: &mut Walker, path: &str, bytes: &[u8], depth: u32) {
    let mail = match mailparse::parse_mail(bytes) {
        Ok(mail) => mail,
        Err(e) => return w.verdict(path, Reason::Corrupt(format!("mail: {e}"))),
    };
    let mut headers = String::new();
    for header in &mail.headers {
        let key = header.get_key_ref();
        if ["subject", "from", "to", "cc", "bcc", "reply-to"].iter().any(|k| key.eq_ignore_ascii_case(k)) {
            headers.push_str(&header.get_value());
            headers.push('\n');
        }
    }
    w.text(&format!("{path}/headers"), headers, None, true);
    let mut counters = Counters::default();
    part(w, path, &mail, depth, &mut counters);
}

#[derive(Default)]
struct Counters {
    bodies: usize,
    attachments: usize,
}

fn part(w: &mut Walker, path: &str, mail: &ParsedMail, depth: u32, counters: &mut Counters) {
    if w.out_of_time(path) {
        return;
    }
    if !mail.subparts.is_empty() {
        for sub in &mail.subparts {
            part(w, path, sub, depth, counters);
        }
        return;
    }
    let disposition = mail.get_content_disposition();
    let filename = disposition.params.get("filename").or_else(|| mail.ctype.params.get("name")).cloned();
    let mimetype = mail.ctype.mimetype.to_ascii_lowercase();
    let is_text = mimetype.starts_with("text/plain") || mimetype.starts_with("text/html");
    if is_text && filename.is_none() && disposition.disposition != DispositionType::Attachment {
        counters.bodies += 1;
        let child = format!("{path}/body[{}]", counters.bodies);
        if !w.count_entry(&child) {
            return;
        }
        match mail.get_body() {
            Ok(body) => {
                if w.reserve(&child, body.len() as u64) {
                    let text = if mimetype.starts_with("text/html") { html_text(&body) } else { body };
                    w.text(&child, text, None, false);
                }
            }
            Err(e) => w.verdict(&child, Reason::Corrupt(format!("mail body: {e}"))),
        }
        return;
    }
    counters.attachments += 1;
    let name =
        filename.unwrap_or_else(|| if mimetype == "message/rfc822" { "message.eml".into() } else { "unnamed".into() });
    let name: String = name.chars().map(|c| if c.is_control() || c == '/' { '_' } else { c }).collect();
    let child = format!("{path}/attachment[{}]:{name}", counters.attachments);
    if !w.count_entry(&child) {
        return;
    }
    // Attachment names carry markings too (`TM_…`, `MAT_…`, spec §3.3).
    w.text(&format!("{child}/name"), name.clone(), None, true);
    match mail.get_body_raw() {
        Ok(body) => {
            // A forwarded message (message/rfc822) is named `….eml` and walks as mail.
            if w.reserve(&child, body.len() as u64) {
                w.walk(&child, &body, depth + 1);
            }
        }
        Err(e) => w.verdict(&child, Reason::Corrupt(format!("mail attachment: {e}"))),
    }
}

/// The text of HTML: tags dropped, block ends as line breaks, character references decoded.
pub(super) fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |e| e + 1);
            let tag = rest[..end].to_ascii_lowercase();
            if ["<br", "<p", "</p", "<div", "</div", "<tr", "</tr", "<li", "<h"].iter().any(|t| tag.starts_with(t)) {
                out.push('\n');
            } else if tag.starts_with("<td") || tag.starts_with("<th") {
                out.push('\t');
            }
            // Script and style content is not text.
            for element in ["script", "style"] {
                if tag.starts_with(&format!("<{element}")) {
                    let close = format!("</{element}");
                    let skip = rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len());
                    rest = &rest[skip..];
                }
            }
            let end = rest.find('>').map_or(rest.len(), |e| e + 1);
            rest = &rest[end..];
        } else {
            let end = rest[1..].find([';', '<', '&', ' ']).map(|e| e + 1);
            let decoded =
                end.filter(|&e| rest.as_bytes()[e] == b';').and_then(|e| entity(&rest[1..e]).map(|c| (c, e + 1)));
            match decoded {
                Some((c, length)) => {
                    out.push(c);
                    rest = &rest[length..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let value = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(value)
        }
    }
}
