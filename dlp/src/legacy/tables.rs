//! Byte → character tables of the legacy Vietnamese encodings (spec §3.5).
//!
//! Written from the standards: TCVN 5712:1993 (the ABC/TCVN3 repertoire at 0xA1–0xFE as listed
//! in the spec, plus the VN1 capitals and combining tone marks elsewhere in 0x80–0xFF),
//! VISCII (RFC 1456), VNI-Windows (the spec's mark-byte table) and Windows-1252 for the
//! "as seen" form in which extractors hand legacy bytes over. Every table was cross-checked
//! against GNU iconv's `TCVN5712-1` and `VISCII` converters.

/// TCVN3 bytes 0x80–0xFF. Bytes below 0x80 are ASCII: the VN1 capitals that TCVN 5712 puts at
/// 0x01–0x17 are not decoded, because those bytes are control codes in the documents that
/// carry TCVN3 text (0x13–0x15 delimit Word fields, 0x09–0x0D are white space).
pub(super) const TCVN3_HIGH: [char; 128] = [
    'À', 'Ả', 'Ã', 'Á', 'Ạ', 'Ặ', 'Ậ', 'È', 'Ẻ', 'Ẽ', 'É', 'Ẹ', 'Ệ', 'Ì', 'Ỉ', 'Ĩ', // 80
    'Í', 'Ị', 'Ò', 'Ỏ', 'Õ', 'Ó', 'Ọ', 'Ộ', 'Ờ', 'Ở', 'Ỡ', 'Ớ', 'Ợ', 'Ù', 'Ủ', 'Ũ', // 90
    '\u{00A0}', 'Ă', 'Â', 'Ê', 'Ô', 'Ơ', 'Ư', 'Đ', 'ă', 'â', 'ê', 'ô', 'ơ', 'ư', 'đ', 'Ằ', // A0
    '\u{0300}', '\u{0309}', '\u{0303}', '\u{0301}', '\u{0323}', 'à', 'ả', 'ã', 'á', 'ạ', 'Ẳ', 'ằ', 'ẳ', 'ẵ', 'ắ',
    'Ẵ', // B0
    'Ắ', 'Ầ', 'Ẩ', 'Ẫ', 'Ấ', 'Ề', 'ặ', 'ầ', 'ẩ', 'ẫ', 'ấ', 'ậ', 'è', 'Ể', 'ẻ', 'ẽ', // C0
    'é', 'ẹ', 'ề', 'ể', 'ễ', 'ế', 'ệ', 'ì', 'ỉ', 'Ễ', 'Ế', 'Ồ', 'ĩ', 'í', 'ị', 'ò', // D0
    'Ổ', 'ỏ', 'õ', 'ó', 'ọ', 'ồ', 'ổ', 'ỗ', 'ố', 'ộ', 'ờ', 'ở', 'ỡ', 'ớ', 'ợ', 'ù', // E0
    'Ỗ', 'ủ', 'ũ', 'ú', 'ụ', 'ừ', 'ử', 'ữ', 'ứ', 'ự', 'ỳ', 'ỷ', 'ỹ', 'ý', 'ỵ', 'Ố', // F0
];

/// VISCII bytes 0x80–0xFF.
pub(super) const VISCII_HIGH: [char; 128] = [
    'Ạ', 'Ắ', 'Ằ', 'Ặ', 'Ấ', 'Ầ', 'Ẩ', 'Ậ', 'Ẽ', 'Ẹ', 'Ế', 'Ề', 'Ể', 'Ễ', 'Ệ', 'Ố', // 80
    'Ồ', 'Ổ', 'Ỗ', 'Ộ', 'Ợ', 'Ớ', 'Ờ', 'Ở', 'Ị', 'Ỏ', 'Ọ', 'Ỉ', 'Ủ', 'Ũ', 'Ụ', 'Ỳ', // 90
    'Õ', 'ắ', 'ằ', 'ặ', 'ấ', 'ầ', 'ẩ', 'ậ', 'ẽ', 'ẹ', 'ế', 'ề', 'ể', 'ễ', 'ệ', 'ố', // A0
    'ồ', 'ổ', 'ỗ', 'Ỡ', 'Ơ', 'ộ', 'ờ', 'ở', 'ị', 'Ự', 'Ứ', 'Ừ', 'Ử', 'ơ', 'ớ', 'Ư', // B0
    'À', 'Á', 'Â', 'Ã', 'Ả', 'Ă', 'ẳ', 'ẵ', 'È', 'É', 'Ê', 'Ẻ', 'Ì', 'Í', 'Ĩ', 'ỳ', // C0
    'Đ', 'ứ', 'Ò', 'Ó', 'Ô', 'ạ', 'ỷ', 'ừ', 'ử', 'Ù', 'Ú', 'ỹ', 'ỵ', 'Ý', 'ỡ', 'ư', // D0
    'à', 'á', 'â', 'ã', 'ả', 'ă', 'ữ', 'ẫ', 'è', 'é', 'ê', 'ẻ', 'ì', 'í', 'ĩ', 'ỉ', // E0
    'đ', 'ự', 'ò', 'ó', 'ô', 'õ', 'ỏ', 'ọ', 'ụ', 'ù', 'ú', 'ũ', 'ủ', 'ý', 'ợ', 'Ữ', // F0
];

/// VISCII puts six capitals on C0 control positions (RFC 1456); every other byte below 0x80
/// is ASCII.
pub(super) fn viscii_low(b: u8) -> char {
    match b {
        0x02 => 'Ẳ',
        0x05 => 'Ẵ',
        0x06 => 'Ẫ',
        0x14 => 'Ỷ',
        0x19 => 'Ỹ',
        0x1E => 'Ỵ',
        _ => char::from(b),
    }
}

/// What one VNI-Windows byte stands for: a letter of its own, or combining marks for the
/// letter before it. Mark bytes come in an upper-case (0xC0–0xDC) and a lower-case form
/// (0x20 higher); both add the same marks.
pub(super) enum Vni {
    Letter(char),
    Marks(&'static str),
}

pub(super) fn vni(b: u8) -> Vni {
    match b {
        0xC6 => Vni::Letter('Ỉ'),
        0xE6 => Vni::Letter('ỉ'),
        0xCC => Vni::Letter('Ì'),
        0xEC => Vni::Letter('ì'),
        0xCD => Vni::Letter('Í'),
        0xED => Vni::Letter('í'),
        0xCE => Vni::Letter('Ỵ'),
        0xEE => Vni::Letter('ỵ'),
        0xD1 => Vni::Letter('Đ'),
        0xF1 => Vni::Letter('đ'),
        0xD2 => Vni::Letter('Ị'),
        0xF2 => Vni::Letter('ị'),
        0xD3 => Vni::Letter('Ĩ'),
        0xF3 => Vni::Letter('ĩ'),
        0xD4 => Vni::Letter('Ơ'),
        0xF4 => Vni::Letter('ơ'),
        0xD6 => Vni::Letter('Ư'),
        0xF6 => Vni::Letter('ư'),
        0xC0 | 0xE0 => Vni::Marks("\u{0302}\u{0300}"),
        0xC1 | 0xE1 => Vni::Marks("\u{0302}\u{0301}"),
        0xC2 | 0xE2 => Vni::Marks("\u{0302}"),
        0xC3 | 0xE3 => Vni::Marks("\u{0302}\u{0303}"),
        0xC4 | 0xE4 => Vni::Marks("\u{0302}\u{0323}"),
        0xC5 | 0xE5 => Vni::Marks("\u{0302}\u{0309}"),
        0xC8 | 0xE8 => Vni::Marks("\u{0306}\u{0300}"),
        0xC9 | 0xE9 => Vni::Marks("\u{0306}\u{0301}"),
        0xCA | 0xEA => Vni::Marks("\u{0306}"),
        0xCB | 0xEB => Vni::Marks("\u{0306}\u{0323}"),
        0xDA | 0xFA => Vni::Marks("\u{0306}\u{0309}"),
        0xDC | 0xFC => Vni::Marks("\u{0306}\u{0303}"),
        0xCF | 0xEF => Vni::Marks("\u{0323}"),
        0xD5 | 0xF5 => Vni::Marks("\u{0303}"),
        0xD8 | 0xF8 => Vni::Marks("\u{0300}"),
        0xD9 | 0xF9 => Vni::Marks("\u{0301}"),
        0xDB | 0xFB => Vni::Marks("\u{0309}"),
        _ => Vni::Letter(cp1252(b)),
    }
}

/// Windows-1252 characters of bytes 0x80–0x9F; the five bytes it leaves undefined read as the
/// C1 control of the same number, as extractors that fall back to Latin-1 return them.
const CP1252_C1: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}', // 80
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ', // 90
];

pub(super) fn cp1252(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_C1[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The byte an extractor's character stood for, read as Windows-1252 (or Latin-1) — the
/// inverse of [`cp1252`]. Symbol-charset fonts surface their bytes as U+F020–U+F0FF.
pub(super) fn cp1252_byte(c: char) -> Option<u8> {
    match u32::from(c) {
        v @ (0..=0x7F | 0xA0..=0xFF) => u8::try_from(v).ok(),
        v @ 0xF000..=0xF0FF => u8::try_from(v - 0xF000).ok(),
        _ => CP1252_C1.iter().position(|&x| x == c).and_then(|p| u8::try_from(p + 0x80).ok()),
    }
}
