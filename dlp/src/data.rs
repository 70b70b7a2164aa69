//! Reference data of the Vietnamese detectors (spec §2): province and locality codes, the
//! libphonenumber numbering patterns, BHYT beneficiary groups and context keywords.

/// CCCD province codes of the 63 pre-2025 provinces (spec §2.1). Identifiers keep their codes
/// after the 2025 merger: Khánh Hòa 056 and former Ninh Thuận 058 both stand.
pub(crate) const CCCD_PROVINCES: [u16; 63] = [
    1,  // Hà Nội
    2,  // Hà Giang
    4,  // Cao Bằng
    6,  // Bắc Kạn
    8,  // Tuyên Quang
    10, // Lào Cai
    11, // Điện Biên
    12, // Lai Châu
    14, // Sơn La
    15, // Yên Bái
    17, // Hòa Bình
    19, // Thái Nguyên
    20, // Lạng Sơn
    22, // Quảng Ninh
    24, // Bắc Giang
    25, // Phú Thọ
    26, // Vĩnh Phúc
    27, // Bắc Ninh
    30, // Hải Dương
    31, // Hải Phòng
    33, // Hưng Yên
    34, // Thái Bình
    35, // Hà Nam
    36, // Nam Định
    37, // Ninh Bình
    38, // Thanh Hóa
    40, // Nghệ An
    42, // Hà Tĩnh
    44, // Quảng Bình
    45, // Quảng Trị
    46, // Thừa Thiên Huế
    48, // Đà Nẵng
    49, // Quảng Nam
    51, // Quảng Ngãi
    52, // Bình Định
    54, // Phú Yên
    56, // Khánh Hòa
    58, // Ninh Thuận
    60, // Bình Thuận
    62, // Kon Tum
    64, // Gia Lai
    66, // Đắk Lắk
    67, // Đắk Nông
    68, // Lâm Đồng
    70, // Bình Phước
    72, // Tây Ninh
    74, // Bình Dương
    75, // Đồng Nai
    77, // Bà Rịa – Vũng Tàu
    79, // TP. Hồ Chí Minh
    80, // Long An
    82, // Tiền Giang
    83, // Bến Tre
    84, // Trà Vinh
    86, // Vĩnh Long
    87, // Đồng Tháp
    89, // An Giang
    91, // Kiên Giang
    92, // Cần Thơ
    93, // Hậu Giang
    94, // Sóc Trăng
    95, // Bạc Liêu
    96, // Cà Mau
];

/// Vehicle plate locality codes 11–99 that are not issued (spec §2.8 "with gaps"; Khánh Hòa 79
/// and Ninh Thuận 85 are issued).
pub(crate) const PLATE_GAPS: [u8; 8] = [13, 42, 44, 45, 46, 87, 91, 96];

/// libphonenumber VN mobile pattern for the 9-digit national significant number (spec §2.4).
pub(crate) const MOBILE: &str =
    r"(?:5(?:2[238]|59)|89[6-9]|99[013-9])[0-9]{6}|(?:3[0-9]|5[1689]|7[06-9]|8[1-8]|9[0-8])[0-9]{7}";

/// libphonenumber VN fixed-line pattern for the 10-digit national significant number.
pub(crate) const FIXED: &str =
    r"2(?:0[3-9]|1[0-689]|2[0-25-9]|[38][2-9]|4[2-8]|5[124-9]|6[0-39]|7[0-7]|9[0-4679])[0-9]{7}";

/// Pre-2018 11-digit mobile prefixes and the 3-digit prefixes they became (spec §2.4).
pub(crate) const LEGACY_MOBILE: [(&str, &str); 21] = [
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0126", "076"),
    ("0127", "081"),
    ("0128", "078"),
    ("0129", "082"),
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

/// BHYT beneficiary groups named in spec §2.5 (the list there is open-ended: other groups
/// score lower, not zero).
pub(crate) const BHYT_GROUPS: [&str; 13] =
    ["DN", "HC", "HT", "TE", "HS", "SV", "GD", "HN", "CN", "TN", "CC", "QN", "CA"];

/// Context keyword classes, a bit each.
pub(crate) mod class {
    pub(crate) const CCCD: u16 = 1;
    pub(crate) const CMND: u16 = 1 << 1;
    pub(crate) const MST: u16 = 1 << 2;
    pub(crate) const PHONE: u16 = 1 << 3;
    pub(crate) const BHXH: u16 = 1 << 4;
    pub(crate) const BHYT: u16 = 1 << 5;
    pub(crate) const PASSPORT: u16 = 1 << 6;
    pub(crate) const CARD: u16 = 1 << 7;
    pub(crate) const PLATE: u16 = 1 << 8;
    pub(crate) const GPLX: u16 = 1 << 9;
}

/// Context keywords in diacritic-folded form (spec §2.x "Context"), matched as whole words.
/// `tin` (tax identification number) is left out: folded, it is every "thông tin".
pub(crate) const KEYWORDS: [(&str, u16); 62] = [
    ("cccd", class::CCCD),
    ("can cuoc", class::CCCD),
    ("so dinh danh", class::CCCD),
    ("dinh danh ca nhan", class::CCCD),
    ("ddcn", class::CCCD),
    ("citizen id", class::CCCD),
    ("id no", class::CCCD),
    ("personal id", class::CCCD),
    ("cmnd", class::CMND),
    ("cmtnd", class::CMND),
    ("chung minh nhan dan", class::CMND),
    ("chung minh thu", class::CMND),
    ("so cm", class::CMND),
    ("mst", class::MST),
    ("ma so thue", class::MST),
    ("tax code", class::MST),
    ("tax id", class::MST),
    ("ma so doanh nghiep", class::MST),
    ("msdn", class::MST),
    ("dt", class::PHONE),
    ("dien thoai", class::PHONE),
    ("sdt", class::PHONE),
    ("dd", class::PHONE),
    ("di dong", class::PHONE),
    ("tel", class::PHONE),
    ("phone", class::PHONE),
    ("mobile", class::PHONE),
    ("hotline", class::PHONE),
    ("fax", class::PHONE),
    ("zalo", class::PHONE),
    ("lien he", class::PHONE),
    ("bhxh", class::BHXH),
    ("bao hiem xa hoi", class::BHXH),
    ("so bao hiem", class::BHXH),
    ("bhyt", class::BHYT),
    ("bao hiem y te", class::BHYT),
    ("the bao hiem", class::BHYT),
    ("ho chieu", class::PASSPORT),
    ("passport", class::PASSPORT),
    ("so hc", class::PASSPORT),
    ("so the", class::CARD),
    ("the atm", class::CARD),
    ("the tin dung", class::CARD),
    ("the ghi no", class::CARD),
    ("napas", class::CARD),
    ("card no", class::CARD),
    ("card number", class::CARD),
    ("visa", class::CARD),
    ("mastercard", class::CARD),
    ("bien so", class::PLATE),
    ("bks", class::PLATE),
    ("bsx", class::PLATE),
    ("bien kiem soat", class::PLATE),
    ("so xe", class::PLATE),
    ("gplx", class::GPLX),
    ("giay phep lai xe", class::GPLX),
    ("bang lai", class::GPLX),
    ("driver licence", class::GPLX),
    ("driver license", class::GPLX),
    ("driving licence", class::GPLX),
    ("driving license", class::GPLX),
    ("so gplx", class::GPLX),
];
