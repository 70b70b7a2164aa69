//! What a scan reports: [`Finding`]s, one per detector and object, which carry counts,
//! confidence, a location and at most a masked sample — never matched content (spec §1, §9.4).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use super::legacy::Encoding;

/// Which detector a finding comes from. Identifiers of spec §2 and markings of §3.2; the
/// names are stable (rule metadata carries the legal citation, spec §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DetectorId {
    /// Personal identification number / CCCD (12 digits), §2.1.
    Cccd,
    /// Old identity card number, 9 digits (or 12 with CMND context), §2.2.
    Cmnd,
    /// Driver's licence number: 12 digits named as such, §2.1 traps.
    Gplx,
    /// Tax code (10 digits, or 13 with the branch suffix), §2.3.
    Mst,
    /// Mobile or landline telephone number, §2.4.
    Phone,
    /// Social insurance number (10 digits with context), §2.5.
    Bhxh,
    /// Health insurance card code (15 characters), §2.5.
    Bhyt,
    /// Passport number (with context), §2.6.
    Passport,
    /// Passport machine-readable zone (ICAO 9303 TD3), §2.6.
    MrzTd3,
    /// Identity-card machine-readable zone (ICAO 9303 TD1, `IDVNM…`), §2.1.
    MrzTd1,
    /// Payment card number, §2.7.
    Card,
    /// VietQR (EMVCo) payment payload with a valid CRC, §2.7.
    VietQr,
    /// Vehicle licence plate, §2.8.
    Plate,
    /// E-mail address, §2.9.
    Email,
    /// TUYỆT MẬT.
    M1,
    /// TỐI MẬT.
    M2,
    /// MẬT standing alone.
    M3,
    /// The "Độ mật:" field with its level.
    M4,
    /// TÀI LIỆU THU HỒI.
    M5,
    /// "Chỉ người có tên mới được bóc bì".
    M6,
    /// GIẢI MẬT (declassified).
    M7,
    /// Copy stamps: BẢN SAO SỐ, BẢN SAO BÍ MẬT NHÀ NƯỚC, SAO, CHỤP BÍ MẬT NHÀ NƯỚC.
    M8,
    /// BÍ MẬT NHÀ NƯỚC as a heading or label.
    M9,
    /// Protection period: "Thời hạn bảo vệ bí mật nhà nước", its extension.
    M10,
    /// Internal circulation: LƯU HÀNH NỘI BỘ, XEM XONG TRẢ LẠI, KHÔNG PHỔ BIẾN.
    C1,
}

impl DetectorId {
    /// Every detector, in detector order (policy files name them).
    pub const ALL: [DetectorId; 25] = [
        DetectorId::Cccd,
        DetectorId::Cmnd,
        DetectorId::Gplx,
        DetectorId::Mst,
        DetectorId::Phone,
        DetectorId::Bhxh,
        DetectorId::Bhyt,
        DetectorId::Passport,
        DetectorId::MrzTd3,
        DetectorId::MrzTd1,
        DetectorId::Card,
        DetectorId::VietQr,
        DetectorId::Plate,
        DetectorId::Email,
        DetectorId::M1,
        DetectorId::M2,
        DetectorId::M3,
        DetectorId::M4,
        DetectorId::M5,
        DetectorId::M6,
        DetectorId::M7,
        DetectorId::M8,
        DetectorId::M9,
        DetectorId::M10,
        DetectorId::C1,
    ];

    /// The identifier used in rules, events and the spec's test vectors.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorId::Cccd => "cccd",
            DetectorId::Cmnd => "cmnd",
            DetectorId::Gplx => "gplx",
            DetectorId::Mst => "mst",
            DetectorId::Phone => "phone",
            DetectorId::Bhxh => "bhxh",
            DetectorId::Bhyt => "bhyt",
            DetectorId::Passport => "passport",
            DetectorId::MrzTd3 => "mrz_td3",
            DetectorId::MrzTd1 => "mrz_td1",
            DetectorId::Card => "card",
            DetectorId::VietQr => "vietqr",
            DetectorId::Plate => "plate",
            DetectorId::Email => "email",
            DetectorId::M1 => "M1",
            DetectorId::M2 => "M2",
            DetectorId::M3 => "M3",
            DetectorId::M4 => "M4",
            DetectorId::M5 => "M5",
            DetectorId::M6 => "M6",
            DetectorId::M7 => "M7",
            DetectorId::M8 => "M8",
            DetectorId::M9 => "M9",
            DetectorId::M10 => "M10",
            DetectorId::C1 => "C1",
        }
    }

    /// A state-secret or circulation marking rather than an identifier.
    pub fn is_marking(self) -> bool {
        self >= DetectorId::M1
    }
}

impl std::fmt::Display for DetectorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DetectorId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DetectorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        DetectorId::ALL.into_iter().find(|id| id.as_str() == name).ok_or_else(|| {
            let known: Vec<&str> = DetectorId::ALL.iter().map(|id| id.as_str()).collect();
            serde::de::Error::custom(format!("unknown detector `{name}`, expected one of {}", known.join(", ")))
        })
    }
}

/// How sure a detector is; for markings, the weight of spec §3.2. Ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// The weakest evidence: for most identifiers, a valid value with no context keyword.
    Low,
    /// Some evidence beyond the value's form (spec §2 states it per detector).
    Medium,
    /// Strong evidence: for most identifiers, a context keyword beside a valid value.
    High,
    /// Markings only: a state-secret level stamp in stamp position.
    Critical,
}

/// The secrecy level a marking states (Law 117/2025: three levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecrecyLevel {
    /// Tuyệt mật.
    TopSecret,
    /// Tối mật.
    Secret,
    /// Mật.
    Confidential,
}

impl SecrecyLevel {
    /// The name events carry (`DlpMatch::level`).
    pub fn as_str(self) -> &'static str {
        match self {
            SecrecyLevel::TopSecret => "tuyet_mat",
            SecrecyLevel::Secret => "toi_mat",
            SecrecyLevel::Confidential => "mat",
        }
    }
}

/// The text view a finding was made in (spec §8.4 `encoding_view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// Unicode text as extracted (canonicalised).
    Unicode,
    /// Legacy bytes, or legacy text seen through Windows-1252, decoded.
    Legacy(Encoding),
}

impl ViewKind {
    /// The name reports and JSON output carry.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::Unicode => "unicode",
            ViewKind::Legacy(Encoding::Tcvn3) => "tcvn3",
            ViewKind::Legacy(Encoding::Vni) => "vni",
            ViewKind::Legacy(Encoding::Windows1258) => "cp1258",
            ViewKind::Legacy(Encoding::Viscii) => "viscii",
            ViewKind::Legacy(Encoding::Viqr) => "viqr",
        }
    }
}

impl Serialize for ViewKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where the reported instance is: the part the caller named (a container path such as
/// `report.docx!word/header1.xml`), the 1-based line, and the byte offset in the scanned
/// input (exact for NFC UTF-8 input, within a few dozen bytes otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The part's name, a container path.
    pub part: String,
    /// 1-based line in the part.
    pub line: u32,
    /// Byte offset in the part's input.
    pub offset: u64,
}

/// Distinct instances by the highest confidence each was seen with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConfidenceCounts {
    /// Seen at most with low confidence.
    pub low: usize,
    /// Seen at most with medium confidence.
    pub medium: usize,
    /// Seen at most with high confidence.
    pub high: usize,
    /// Seen with critical confidence.
    pub critical: usize,
}

impl ConfidenceCounts {
    /// Distinct instances seen with at least `confidence` — what bulk thresholds compare
    /// against (spec §6: "≥ 10 distinct CCCD numbers in one object").
    pub fn at_least(&self, confidence: Confidence) -> usize {
        match confidence {
            Confidence::Low => self.low + self.medium + self.high + self.critical,
            Confidence::Medium => self.medium + self.high + self.critical,
            Confidence::High => self.high + self.critical,
            Confidence::Critical => self.critical,
        }
    }

    fn add(&mut self, confidence: Confidence) {
        match confidence {
            Confidence::Low => self.low += 1,
            Confidence::Medium => self.medium += 1,
            Confidence::High => self.high += 1,
            Confidence::Critical => self.critical += 1,
        }
    }
}

/// One detector's result for one object (a file, a print job, an upload — all its parts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The detector that made it.
    pub detector: DetectorId,
    /// Distinct instances (identifiers: distinct normalised values; markings: distinct lines).
    pub count: usize,
    /// The distinct instances by confidence, which policy thresholds count.
    pub counts: ConfidenceCounts,
    /// The highest confidence of any instance.
    pub confidence: Confidence,
    /// The level a marking states, where it states one.
    pub level: Option<SecrecyLevel>,
    /// View of the reported instance (the first one seen with the highest confidence).
    pub view: ViewKind,
    /// Where the reported instance is.
    pub location: Location,
    /// The reported identifier, masked (`056******123`); markings have none.
    pub masked_sample: Option<String>,
}

/// One match, before aggregation. `value` is the normalised matched value, kept only until
/// the aggregator hashes it: mostly a piece of the view's text, borrowed.
#[derive(Debug)]
pub(crate) struct Instance<'v> {
    pub(crate) detector: DetectorId,
    pub(crate) value: Cow<'v, str>,
    pub(crate) confidence: Confidence,
    pub(crate) level: Option<SecrecyLevel>,
    pub(crate) sample: Sample,
    /// Byte offset in the view's canonical text.
    pub(crate) offset: usize,
    pub(crate) view: ViewKind,
}

/// The sample an instance is reported with, made only for the instance that is reported.
#[derive(Debug)]
pub(crate) enum Sample {
    /// None: markings carry their level and line alone.
    None,
    /// The value, [`mask`]ed.
    Masked,
    /// The value is an e-mail address: its first letter, then `***@` and its domain.
    Address,
}

/// `value` with its middle hidden: a quarter of the characters kept at each end, the rest
/// starred (`056090000123` → `056******123`).
pub(crate) fn mask(value: &str) -> String {
    let len = value.chars().count();
    let keep = len / 4;
    value.chars().enumerate().map(|(i, c)| if i < keep || i + keep >= len { c } else { '*' }).collect()
}

/// An e-mail address with its local part hidden but for its first letter (`t***@example.vn`).
fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => mask(address),
    }
}

struct Entry {
    /// Hashes of distinct values and the highest confidence each was seen with.
    values: HashMap<u64, Confidence, BuildHasherDefault<Prehashed>>,
    best: Finding,
}

/// Hashes a key that is itself a keyed hash (the aggregator's SipHash of a value) as itself,
/// rather than hashing it again.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Where the detectors scanning one view put what they find: straight into the object's
/// [`Aggregator`], so a list with hundreds of thousands of identifiers is never held as that
/// many instances at once.
pub(crate) struct Instances<'a> {
    aggregator: &'a mut Aggregator,
    view: &'a super::view::View<'a>,
}

impl<'a> Instances<'a> {
    pub(crate) fn new(aggregator: &'a mut Aggregator, view: &'a super::view::View<'_>) -> Instances<'a> {
        Instances { aggregator, view }
    }

    pub(crate) fn push(&mut self, instance: Instance<'_>) {
        let view = self.view;
        self.aggregator.add(instance, |offset| view.locate(offset));
    }
}

/// Aggregates instances of one object into findings.
#[derive(Default)]
pub(crate) struct Aggregator {
    hasher: RandomState,
    /// A few detectors find something in an object: looked through rather than hashed.
    entries: Vec<Entry>,
}

impl Aggregator {
    /// Adds an instance; `locate` gives its location and is called only when the instance
    /// becomes the one reported.
    pub(crate) fn add(&mut self, instance: Instance<'_>, locate: impl FnOnce(usize) -> Location) {
        let key = self.hasher.hash_one(&instance.value);
        let Instance { detector, value, confidence, level, sample, offset, view } = instance;
        let sample = move || match sample {
            Sample::None => None,
            Sample::Masked => Some(mask(&value)),
            Sample::Address => Some(mask_address(&value)),
        };
        match self.entries.iter_mut().find(|entry| entry.best.detector == detector) {
            Some(entry) => {
                let seen = entry.values.entry(key).or_insert(confidence);
                *seen = (*seen).max(confidence);
                if confidence > entry.best.confidence {
                    entry.best = Finding {
                        confidence,
                        level,
                        view,
                        location: locate(offset),
                        masked_sample: sample(),
                        ..entry.best.clone()
                    };
                }
            }
            None => {
                let best = Finding {
                    detector,
                    count: 0,
                    counts: ConfidenceCounts::default(),
                    confidence,
                    level,
                    view,
                    location: locate(offset),
                    masked_sample: sample(),
                };
                let mut values = HashMap::default();
                values.insert(key, confidence);
                self.entries.push(Entry { values, best });
            }
        }
    }

    pub(crate) fn finish(self) -> Vec<Finding> {
        let mut findings: Vec<Finding> = self
            .entries
            .into_iter()
            .map(|entry| {
                let mut counts = ConfidenceCounts::default();
                entry.values.values().for_each(|&c| counts.add(c));
                Finding { count: entry.values.len(), counts, ..entry.best }
            })
            .collect();
        findings.sort_by_key(|f| f.detector);
        findings
    }
}
