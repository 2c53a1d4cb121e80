//! Personal data: callers' phone numbers become a keyed hash, and phone, ID-card and bank-card
//! numbers and the caller's own name inside free text are masked before anything is stored.
//!
//! The masker is one pass over the text's characters, linear in its length whatever it holds:
//! digits are folded to ASCII with their compatibility decomposition (NFKC for digits:
//! full-width `１３８`, circled `⑬`), digit groups joined by up to three separators (spaces,
//! dashes, dots, brackets) form a chain, and every run of whole groups of a chain of at most
//! [`MAX_NUMBER_DIGITS`] digits is tried as a number, so each group is looked at a bounded
//! number of times.

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest accepted HMAC key, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// The most digits one personal number can have (a 19-digit bank card; `0086` + a landline is
/// at most 16): longer runs of digits are never tried as one number.
pub const MAX_NUMBER_DIGITS: usize = 19;

/// The fewest digits a personal number can have (a 7-digit local landline number).
const MIN_NUMBER_DIGITS: usize = 7;

/// Why no caller hasher could be built.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    /// No key was configured: the service refuses to start rather than store numbers.
    #[error("no caller hash key: set CIVICPULSE_HASH_KEY")]
    MissingKey,
    /// The key is too short to resist guessing over the small space of phone numbers.
    #[error("caller hash key has {0} bytes; at least {MIN_KEY_BYTES} are required")]
    WeakKey(usize),
}

/// Keyed HMAC-SHA256 of normalised caller phone numbers: equal numbers give equal hashes
/// (repeat callers can be counted) and nobody without the key can test a guess.
#[derive(Clone)]
pub struct CallerHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for CallerHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallerHasher { key: <hidden> }")
    }
}

impl CallerHasher {
    /// A hasher with `key` (at least [`MIN_KEY_BYTES`] bytes).
    pub fn new(key: &[u8]) -> Result<Self, PiiError> {
        if key.is_empty() {
            return Err(PiiError::MissingKey);
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(PiiError::WeakKey(key.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        Ok(Self { mac })
    }

    /// The lowercase hex hash of [`canonical_phone`]`(raw, None)`; `None` when `raw` holds no
    /// digits.
    pub fn hash_phone(&self, raw: &str) -> Option<String> {
        let canonical = canonical_phone(raw, None);
        if canonical.is_empty() {
            return None;
        }
        let mut mac = self.mac.clone();
        mac.update(canonical.as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

/// Long-distance area codes (trunk `0` left off) of the cities in the division table: a local
/// number written without one is the caller's city's.
const AREA_CODES: [(&str, &str); 3] = [("110000", "10"), ("330100", "571"), ("500000", "23")];

/// The one written form of a phone number that the caller hash is taken of: digits only (full
/// width folded), the first number of `raw` without its extension, no `+86`/`0086`/`86`
/// country code, a mobile without a trunk `0`, a landline as `0` + area code + number, and a
/// local number without an area code given the area code of `city_code` when it is known.
/// `canonical_phone(&canonical_phone(raw, city), None)` is `canonical_phone(raw, city)`, so the
/// output can be handed to [`CallerHasher::hash_phone`].
pub fn canonical_phone(raw: &str, city_code: Option<&str>) -> String {
    let digits = first_number_digits(raw);
    let text = |d: &[u8]| String::from_utf8_lossy(d).into_owned();
    if let Some(phone) = parse_phone(&digits) {
        let national = &digits[phone.prefix..];
        return match phone.kind {
            PhoneKind::Mobile => text(national),
            PhoneKind::Landline { .. } if phone.trunk_zero_missing => {
                format!("0{}", text(national))
            }
            PhoneKind::Landline { .. } => text(national),
        };
    }
    let area = city_code.and_then(|c| AREA_CODES.iter().find(|(city, _)| *city == c));
    match area {
        Some((_, area)) if is_subscriber(&digits) && is_subscriber_of(area, &digits) => {
            format!("0{area}{}", text(&digits))
        }
        _ => text(&digits),
    }
}

/// The digits of the first number in `raw`: everything before its first digit is skipped and it
/// ends at the first character that is neither a digit nor a separator (an extension's `转`).
fn first_number_digits(raw: &str) -> Vec<u8> {
    let mut digits = Vec::new();
    let mut ended = false;
    for c in raw.chars() {
        fold_char(c, |c, kind| match kind {
            _ if ended => {}
            Kind::Digit => digits.push(c as u8),
            Kind::Join if !digits.is_empty() || c == '+' => {}
            _ if digits.is_empty() => {}
            _ => ended = true,
        });
    }
    digits
}

/// What one character (after folding) is to the number scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An ASCII digit.
    Digit,
    /// A separator inside a written number: white space, dashes, dots, brackets, `+`.
    Join,
    /// The check character `X` of an ID-card number.
    CheckX,
    /// Anything else.
    Other,
}

fn ascii_kind(c: char) -> Kind {
    match c {
        '0'..='9' => Kind::Digit,
        'X' | 'x' => Kind::CheckX,
        '-' | '.' | '(' | ')' | '[' | ']' | '+' => Kind::Join,
        c if c.is_whitespace() => Kind::Join,
        _ => Kind::Other,
    }
}

fn is_join_char(c: char) -> bool {
    c.is_whitespace() || matches!(c, '·' | '•' | '・' | '‐'..='―' | '−' | '【' | '】')
}

/// Calls `emit` with `c`, or with its compatibility decomposition when that holds a digit
/// (`１` → `1`, `⒒` → `11.`), and each emitted character's kind. Other characters are kept as
/// written but classified by their decomposition (a full-width `－` is a separator).
fn fold_char(c: char, mut emit: impl FnMut(char, Kind)) {
    if c.is_ascii() {
        return emit(c, ascii_kind(c));
    }
    if ('\u{4e00}'..='\u{9fff}').contains(&c) {
        // CJK unified ideographs have no decomposition.
        return emit(c, Kind::Other);
    }
    let mut parts = [' '; 18]; // the longest compatibility decomposition has 18 characters
    let mut n = 0;
    unicode_normalization::char::decompose_compatible(c, |d| {
        if n < parts.len() {
            parts[n] = d;
            n += 1;
        }
    });
    let parts = &parts[..n];
    if parts.iter().any(char::is_ascii_digit) {
        for &p in parts {
            emit(
                p,
                if p.is_ascii() {
                    ascii_kind(p)
                } else {
                    Kind::Other
                },
            );
        }
        return;
    }
    let kind = match parts {
        ['X' | 'x'] => Kind::CheckX,
        _ if parts
            .iter()
            .all(|&p| is_join_char(p) || (p.is_ascii() && ascii_kind(p) == Kind::Join)) =>
        {
            Kind::Join
        }
        _ => Kind::Other,
    };
    emit(c, kind);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhoneKind {
    Mobile,
    /// A landline; `area` digits of the national part are the area code (with its `0`, when
    /// written).
    Landline {
        area: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Phone {
    /// Digits before the national number: a country code or a trunk `0` before a mobile.
    prefix: usize,
    kind: PhoneKind,
    /// An international landline (`+86 10 …`) written without the trunk `0`.
    trunk_zero_missing: bool,
}

fn is_mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

/// A subscriber number without area code: 7 or 8 digits, not starting with 0 or 1.
fn is_subscriber(d: &[u8]) -> bool {
    matches!(d.len(), 7 | 8) && (b'2'..=b'9').contains(&d[0])
}

/// Whether `d` has the length of a subscriber number in `area` (written without its `0`): the
/// cities of two-digit area codes have 8-digit numbers only.
fn is_subscriber_of(area: &str, d: &[u8]) -> bool {
    area.len() == 3 || d.len() == 8
}

/// Length of the area code (with its `0`) that starts `d`: `010`, `02x`, `0xxx`.
fn area_len(d: &[u8]) -> Option<usize> {
    match d {
        [b'0', b'1', b'0', ..] | [b'0', b'2', ..] => Some(3),
        [b'0', b'3'..=b'9', ..] => Some(4),
        _ => None,
    }
}

/// A landline in national form (`0` + area code + subscriber): the area code's length.
fn national_landline(d: &[u8]) -> Option<usize> {
    let area = area_len(d)?;
    let sub = d.get(area..)?;
    (is_subscriber(sub) && (area == 4 || sub.len() == 8)).then_some(area)
}

/// `d` as a mobile or landline number with an optional country code.
fn parse_phone(d: &[u8]) -> Option<Phone> {
    let national = |prefix: usize| {
        let rest = &d[prefix..];
        if is_mobile(rest) {
            return Some(Phone {
                prefix,
                kind: PhoneKind::Mobile,
                trunk_zero_missing: false,
            });
        }
        if let Some(area) = national_landline(rest) {
            return Some(Phone {
                prefix,
                kind: PhoneKind::Landline { area },
                trunk_zero_missing: false,
            });
        }
        if prefix > 0 && rest.first().is_some_and(|&c| c != b'0') {
            let mut with_zero = Vec::with_capacity(rest.len() + 1);
            with_zero.push(b'0');
            with_zero.extend_from_slice(rest);
            if let Some(area) = national_landline(&with_zero) {
                return Some(Phone {
                    prefix,
                    kind: PhoneKind::Landline { area: area - 1 },
                    trunk_zero_missing: true,
                });
            }
        }
        None
    };
    if let Some(phone) = national(0) {
        return Some(phone);
    }
    if d.first() == Some(&b'0') && is_mobile(&d[1..]) {
        return Some(Phone {
            prefix: 1,
            kind: PhoneKind::Mobile,
            trunk_zero_missing: false,
        });
    }
    for code in [&b"0086"[..], b"86"] {
        if d.starts_with(code)
            && let Some(phone) = national(code.len())
        {
            return Some(phone);
        }
    }
    None
}

/// A valid date `YYYYMMDD` (year 1800–2099) or, with `short`, `YYMMDD`.
fn is_date(d: &[u8], short: bool) -> bool {
    let num = |s: &[u8]| s.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
    let (year_ok, md) = if short {
        (d.len() == 6, d.get(2..6))
    } else {
        let y = d.get(..4).map(num).unwrap_or(0);
        (d.len() == 8 && (1800..=2099).contains(&y), d.get(4..8))
    };
    let Some(md) = md else { return false };
    let (month, day) = (num(&md[..2]), num(&md[2..]));
    year_ok && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Characters that make the number before them a quantity (`12345678元`), not a phone number.
const UNITS: &str = "元万亿千百十米平亩个人户次年月日号天岁斤吨度件份台辆间套栋层条名%‰";

/// Words between a landline and its extension (`转123`, `ext. 12`), lowercase.
const EXTENSION_MARKERS: [&str; 8] = ["转", "轉", "ext", "extn", "x", "分机", "分机号", "#"];

/// How a digit group is joined to the group before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// Up to three separators: the groups may be one written number.
    Join,
    /// An extension marker: the group may be the previous number's extension.
    Extension,
    /// Anything else: a new chain starts.
    Break,
}

/// A run of digits in the folded text.
#[derive(Debug, Clone)]
struct Group {
    /// Units of the folded text it covers.
    units: std::ops::Range<usize>,
    /// Its digits in the chain's digit buffer.
    digits: std::ops::Range<usize>,
    /// How it is joined to the group before it.
    gap: Gap,
}

/// What a run of whole groups was recognised as.
#[derive(Debug, Clone, Copy)]
enum Found {
    Phone(Phone),
    /// An 8-digit local landline number, or the caller's own subscriber number.
    Local,
    /// An ID-card number; `x` when its check character `X` follows the digits.
    IdCard {
        x: bool,
    },
    BankCard,
}

impl Found {
    /// Digits kept at the start and at the end when the number stands alone.
    fn kept(self) -> (usize, usize) {
        match self {
            Found::Phone(Phone {
                prefix,
                kind: PhoneKind::Mobile,
                ..
            }) => (prefix + 3, 4),
            Found::Phone(Phone {
                prefix,
                kind: PhoneKind::Landline { area },
                ..
            }) => (prefix + area, 2),
            Found::Local => (0, 2),
            Found::IdCard { x } => (3, if x { 1 } else { 2 }),
            Found::BankCard => (0, 4),
        }
    }
}

/// The caller's name as it is looked for in text.
#[derive(Debug, Clone)]
struct Name {
    /// Its characters, case-folded, without separators.
    key: Vec<char>,
    /// What replaces it: the surname and `某` for a Chinese name, `某某` otherwise.
    replacement: String,
    /// A Latin name, matched only as a whole word.
    latin: bool,
}

/// Chinese compound surnames (复姓), kept whole when a name is replaced.
const COMPOUND_SURNAMES: [&str; 16] = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒", "夏侯",
    "长孙", "宇文", "澹台", "端木",
];

fn name_key(c: char) -> char {
    let c = match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        c => c,
    };
    c.to_ascii_lowercase()
}

fn is_name_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '·' | '•' | '・' | '.')
}

impl Name {
    fn new(raw: &str) -> Option<Self> {
        let key: Vec<char> = raw
            .chars()
            .filter(|&c| !is_name_separator(c))
            .map(name_key)
            .collect();
        // One character (a bare surname) would erase unrelated words; 64 bounds the matching.
        if !(2..=64).contains(&key.len()) {
            return None;
        }
        let latin = key.iter().all(char::is_ascii);
        let replacement = if key.iter().all(|&c| !c.is_ascii() && c.is_alphabetic()) {
            let name: String = key.iter().collect();
            let surname = COMPOUND_SURNAMES
                .iter()
                .find(|s| name.starts_with(*s) && key.len() > 2)
                .map_or_else(|| key[0].to_string(), |s| (*s).to_owned());
            format!("{surname}某")
        } else {
            "某某".to_owned()
        };
        Some(Self {
            key,
            replacement,
            latin,
        })
    }

    /// The end of the name when it is written at `at` (one separator between its characters
    /// allowed: `张 三`).
    fn match_at(&self, units: &[char], at: usize) -> Option<usize> {
        if self.latin && at > 0 && units[at - 1].is_alphanumeric() {
            return None;
        }
        let mut q = at;
        for (k, &want) in self.key.iter().enumerate() {
            if k > 0 && units.get(q).is_some_and(|&c| is_name_separator(c)) {
                q += 1;
            }
            if units.get(q).map(|&c| name_key(c)) != Some(want) {
                return None;
            }
            q += 1;
        }
        if self.latin && units.get(q).is_some_and(|c| c.is_alphanumeric()) {
            return None;
        }
        Some(q)
    }
}

/// Masks personal data in the free text of one record: every phone, ID-card and bank-card
/// number, and the caller's own name and number when they are known.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    name: Option<Name>,
    /// The caller's own subscriber number (7 or 8 digits): masked even where it stands
    /// without an area code and would not pass for a phone number.
    own_number: Option<Vec<u8>>,
}

impl Scrubber {
    /// A scrubber for a record whose caller is `name` with phone `phone`, in the city
    /// `city_code` (whose area code completes a local number).
    pub fn for_caller(name: Option<&str>, phone: Option<&str>, city_code: Option<&str>) -> Self {
        let own_number = phone.and_then(|p| {
            let canonical = canonical_phone(p, city_code).into_bytes();
            match national_landline(&canonical) {
                Some(area) => Some(canonical[area..].to_vec()),
                None if is_subscriber(&canonical) => Some(canonical),
                None => None,
            }
        });
        Self {
            name: name.and_then(Name::new),
            own_number,
        }
    }

    /// `text` with its personal data masked; borrowed when nothing changed.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut units = Vec::with_capacity(text.len());
        let mut kinds = Vec::with_capacity(text.len());
        let mut changed = false;
        for c in text.chars() {
            let mut first = true;
            fold_char(c, |u, kind| {
                changed |= !first || u != c;
                first = false;
                units.push(u);
                kinds.push(kind);
            });
        }
        changed |= self.mask_numbers(&mut units, &kinds);
        let out = match &self.name {
            Some(name) => replace_name(name, &units),
            None => None,
        };
        match out {
            Some(out) => Cow::Owned(out),
            None if changed => Cow::Owned(units.into_iter().collect()),
            None => Cow::Borrowed(text),
        }
    }

    /// Masks the numbers of the folded text in place; whether any was masked.
    fn mask_numbers(&self, units: &mut [char], kinds: &[Kind]) -> bool {
        let mut masked = false;
        let mut chain: Vec<Group> = Vec::new();
        let mut digits: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < units.len() {
            if kinds[i] != Kind::Digit {
                i += 1;
                continue;
            }
            let start = i;
            while i < units.len() && kinds[i] == Kind::Digit {
                i += 1;
            }
            let gap = match chain.last() {
                Some(last) => {
                    gap_between(&units[last.units.end..start], &kinds[last.units.end..start])
                }
                None => Gap::Break,
            };
            if gap == Gap::Break && !chain.is_empty() {
                masked |= self.mask_chain(&chain, &digits, units, kinds);
                chain.clear();
                digits.clear();
            }
            let d0 = digits.len();
            digits.extend(units[start..i].iter().map(|&c| c as u8));
            chain.push(Group {
                units: start..i,
                digits: d0..digits.len(),
                gap,
            });
        }
        if !chain.is_empty() {
            masked |= self.mask_chain(&chain, &digits, units, kinds);
        }
        masked
    }

    /// Masks the numbers of one chain of joined digit groups: from each group not yet masked,
    /// the longest run of whole groups that is a number.
    fn mask_chain(
        &self,
        chain: &[Group],
        digits: &[u8],
        units: &mut [char],
        kinds: &[Kind],
    ) -> bool {
        let mut masked = false;
        let mut i = 0;
        while i < chain.len() {
            // Short groups (`1 3 8 …`) can only start a phone number (or the caller's own):
            // skip the others at once so `"1 " × n` costs one look per group.
            let start = chain[i].digits.start;
            let head = &digits[start..digits.len().min(start + 4)];
            if chain[i].digits.len() < 3 && !self.may_start_spelled_number(head) {
                i += 1;
                continue;
            }
            let mut best = None;
            let mut j = i;
            loop {
                let d = &digits[chain[i].digits.start..chain[j].digits.end];
                if d.len() > MAX_NUMBER_DIGITS {
                    break;
                }
                if d.len() >= MIN_NUMBER_DIGITS
                    && let Some(found) = self.recognise(d, &chain[i..=j], units, kinds)
                {
                    best = Some((j, found));
                }
                if j + 1 == chain.len() || chain[j + 1].gap == Gap::Extension {
                    break;
                }
                j += 1;
            }
            let Some((j, found)) = best else {
                i += 1;
                continue;
            };
            let mut next = j + 1;
            let extension = matches!(
                found,
                Found::Phone(Phone {
                    kind: PhoneKind::Landline { .. },
                    ..
                }) | Found::Local
            ) && chain
                .get(next)
                .is_some_and(|g| g.gap == Gap::Extension && g.digits.len() <= 6);
            if extension {
                units[chain[next].units.clone()].fill('*');
                next += 1;
            }
            // A number standing alone keeps a few digits to stay readable; one inside a longer
            // chain is masked whole, so its kept digits cannot join its neighbours into another.
            let alone = i == 0 && next == chain.len();
            let total = chain[i].digits.start..chain[j].digits.end;
            let (head, tail) = if alone { found.kept() } else { (0, 0) };
            let mut k = 0;
            for g in &chain[i..=j] {
                for u in g.units.clone() {
                    if k >= head && k + tail < total.len() {
                        units[u] = '*';
                    }
                    k += 1;
                }
            }
            if let Found::IdCard { x: true } = found
                && !alone
            {
                units[chain[j].units.end] = '*';
            }
            masked = true;
            i = next;
        }
        masked
    }

    /// Whether a number written in short groups (`1 3 8 …`, `0 1 0 …`) may start with the
    /// digits `head`: a phone number's start, or the caller's own number's.
    fn may_start_spelled_number(&self, head: &[u8]) -> bool {
        const STARTS: [&[&[u8]]; 6] = [
            &[b"1", b"3456789"],
            &[b"0", b"1", b"3456789"],
            &[b"0", b"1", b"0"],
            &[b"0", b"23456789"],
            &[b"8", b"6"],
            &[b"0", b"0", b"8", b"6"],
        ];
        let fits = |start: &[&[u8]]| head.iter().zip(start).all(|(c, set)| set.contains(c));
        STARTS.iter().any(|start| fits(start))
            || self
                .own_number
                .as_ref()
                .is_some_and(|own| own.starts_with(head))
    }

    /// What the digits `d` of the groups `groups` are, if they are a personal number.
    fn recognise(
        &self,
        d: &[u8],
        groups: &[Group],
        units: &[char],
        kinds: &[Kind],
    ) -> Option<Found> {
        // A national phone number has 10 to 12 digits, 16 with `0086`.
        if (10..=16).contains(&d.len())
            && let Some(phone) = parse_phone(d)
        {
            return Some(Found::Phone(phone));
        }
        if self.own_number.as_deref() == Some(d) {
            return Some(Found::Local);
        }
        // ID and bank cards and local numbers are never written in groups of one or two.
        if groups[0].digits.len() < 3 {
            return None;
        }
        let end = groups.last().map_or(0, |g| g.units.end);
        let wide = || {
            groups[..groups.len() - 1]
                .iter()
                .all(|g| g.digits.len() >= 3)
        };
        let x = kinds.get(end) == Some(&Kind::CheckX);
        let id = match d.len() {
            18 => d[0] != b'0' && is_date(&d[6..14], false),
            17 => x && d[0] != b'0' && is_date(&d[6..14], false),
            15 => d[0] != b'0' && is_date(&d[6..12], true),
            _ => false,
        };
        if id && wide() {
            return Some(Found::IdCard { x: d.len() == 17 });
        }
        let in_fours = || {
            groups[..groups.len() - 1]
                .iter()
                .all(|g| g.digits.len() == 4)
        };
        if (16..=19).contains(&d.len()) && (groups.len() == 1 || in_fours()) {
            return Some(Found::BankCard);
        }
        let start = groups[0].units.start;
        let quantity = || is_quantity(units, kinds, start, end);
        if d.len() == 8
            && is_subscriber(d)
            && (groups.len() == 1 || in_fours())
            && !is_date(d, false)
            && !quantity()
        {
            return Some(Found::Local);
        }
        None
    }
}

/// Whether the digits at `start..end` are an amount or a measure: a currency sign before, a
/// decimal part or a unit after.
fn is_quantity(units: &[char], kinds: &[Kind], start: usize, end: usize) -> bool {
    let before = units[..start]
        .iter()
        .rev()
        .take(4)
        .find(|c| !c.is_whitespace());
    if before.is_some_and(|c| matches!(c, '¥' | '￥' | '$' | '＄' | '€')) {
        return true;
    }
    if matches!(units.get(end), Some('.' | '．')) && kinds.get(end + 1) == Some(&Kind::Digit) {
        return true;
    }
    // A bounded look: a unit is written next to its number.
    units[end..]
        .iter()
        .take(4)
        .find(|c| !c.is_whitespace())
        .is_some_and(|&c| UNITS.contains(c))
}

fn gap_between(units: &[char], kinds: &[Kind]) -> Gap {
    if units.len() <= 3 && kinds.iter().all(|&k| k == Kind::Join) {
        return Gap::Join;
    }
    if units.len() > 12 {
        return Gap::Break;
    }
    let word: String = units
        .iter()
        .zip(kinds)
        .filter(|&(_, &k)| k != Kind::Join)
        .map(|(&c, _)| c.to_ascii_lowercase())
        .collect();
    if EXTENSION_MARKERS.contains(&word.as_str()) {
        Gap::Extension
    } else {
        Gap::Break
    }
}

/// The text of `units` with every occurrence of `name` replaced, or `None` if there is none.
fn replace_name(name: &Name, units: &[char]) -> Option<String> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut p = 0;
    while p < units.len() {
        match name.match_at(units, p) {
            Some(end) => {
                let buf = out.get_or_insert_with(|| String::with_capacity(units.len() * 3));
                buf.extend(&units[copied..p]);
                buf.push_str(&name.replacement);
                copied = end;
                p = end;
            }
            None => p += 1,
        }
    }
    let mut out = out?;
    out.extend(&units[copied..]);
    Some(out)
}

/// `text` with every phone, ID-card and bank-card number masked (no caller known).
pub fn mask_text(text: &str) -> Cow<'_, str> {
    Scrubber::default().scrub(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_keyed_and_normalised() {
        let a = CallerHasher::new(b"0123456789abcdef").unwrap();
        let b = CallerHasher::new(b"fedcba9876543210").unwrap();
        let h = a.hash_phone("13800138000").unwrap();
        assert_eq!(h.len(), 64);
        assert_ne!(b.hash_phone("13800138000").unwrap(), h);
        assert!(a.hash_phone("none").is_none());
        assert!(!format!("{a:?}").contains("0123"));
        assert!(matches!(CallerHasher::new(b""), Err(PiiError::MissingKey)));
        assert!(matches!(
            CallerHasher::new(b"short"),
            Err(PiiError::WeakKey(5))
        ));
    }

    #[test]
    fn one_caller_has_one_canonical_number_however_written() {
        let beijing = Some("110000");
        let cases: &[(&str, &[&str])] = &[
            (
                "13800138000",
                &[
                    "13800138000",
                    "+86 138-0013-8000",
                    "0086 13800138000",
                    "8613800138000",
                    "013800138000",
                    "(+86)138 0013 8000",
                    "１３８００１３８０００",
                    "138.0013.8000",
                    "tel: 138 0013 8000",
                ],
            ),
            (
                "01062345678",
                &[
                    "62345678",
                    "010-62345678",
                    "(010)6234 5678",
                    "010 6234 5678",
                    "+86 10 6234 5678",
                    "0086-10-62345678",
                    "+86 (0)10 62345678",
                    "010-62345678转123",
                    "6234-5678 ext. 12",
                    "０１０－６２３４５６７８",
                ],
            ),
            ("05718765432", &["0571-8765432", "+86 571 8765432"]),
        ];
        for (want, forms) in cases {
            for form in *forms {
                let canonical = canonical_phone(form, beijing);
                assert_eq!(canonical, *want, "{form}");
                assert_eq!(canonical_phone(&canonical, None), canonical, "fixed point");
            }
        }
        assert_eq!(canonical_phone("62345678", None), "62345678");
        assert_eq!(canonical_phone("87654321", Some("330100")), "057187654321");
    }

    /// Every written form of a number: the masked text, with the rule that applies.
    const MASKED: &[(&str, &str)] = &[
        // Mobiles: any separators, country codes, full width, glued to letters or CJK.
        ("电话13800138000反映", "电话138****8000反映"),
        ("call 138 0013 8000 now", "call 138 **** 8000 now"),
        ("tel 138-0013-8000.", "tel 138-****-8000."),
        ("138.0013.8000", "138.****.8000"),
        ("+86 13800138000", "+86 138****8000"),
        ("+86-138-0013-8000", "+86-138-****-8000"),
        ("0086 138 0013 8000", "0086 138 **** 8000"),
        ("(+86)13800138000", "(+86)138****8000"),
        ("013800138000", "0138****8000"),
        ("TEL13800138000", "TEL138****8000"),
        ("VX13800138000", "VX138****8000"),
        ("微信号13800138000谢谢", "微信号138****8000谢谢"),
        ("手机１３８００１３８０００", "手机138****8000"),
        ("手机１３８ ００１３ ８０００", "手机138 **** 8000"),
        ("1 3 8 0 0 1 3 8 0 0 0", "1 3 8 * * * * 8 0 0 0"),
        ("3号楼 13800138000", "3号楼 138****8000"),
        // Landlines: area code or not, brackets, extensions, 7-digit numbers with area code.
        ("座机010-62345678", "座机010-******78"),
        ("座机(010)62345678", "座机(010)******78"),
        ("座机（010）6234 5678", "座机（010）**** **78"),
        ("座机0571 87654321", "座机0571 ******21"),
        ("座机0913-7654321", "座机0913-*****21"),
        ("+86 10 6234 5678", "+86 10 **** **78"),
        ("电话62345678", "电话******78"),
        ("电话6234-5678", "电话****-**78"),
        ("010-62345678转123", "010-******78转***"),
        ("010-62345678 ext. 12", "010-******78 ext. **"),
        // ID cards, 18 with X and 15 digits, grouped or not.
        ("身份证110108199001011234", "身份证110*************34"),
        ("身份证11010819900101123X。", "身份证110*************3X。"),
        (
            "身份证１１０１０８１９９００１０１１２３Ｘ",
            "身份证110*************3Ｘ",
        ),
        ("ID 110108 19900101 1234", "ID 110*** ******** **34"),
        ("老身份证110108900101123", "老身份证110**********23"),
        // Bank cards, 16 and 19 digits, grouped by four.
        ("卡号6222021234567890", "卡号************7890"),
        ("卡号6222 0212 3456 7890", "卡号**** **** **** 7890"),
        ("卡号6222021234567890123", "卡号***************0123"),
        (
            "卡号 6222 0212 3456 7890 123",
            "卡号 **** **** **** ***0 123",
        ),
        // Two numbers in one chain are masked whole.
        ("62345678 13800138000", "******** ***********"),
    ];

    #[test]
    fn numbers_in_text_are_masked() {
        for (text, want) in MASKED {
            assert_eq!(mask_text(text), *want, "{text}");
        }
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for text in [
            "3号楼2单元501室",
            "投资85万元，面积1200平方米",
            "社区110108001001",
            "2024-06-10 14:30 反映",
            "2024.06.10",
            "20240610",
            "合同额32345678元",
            "¥ 62345678",
            "62345678.50",
            "街道110108001",
            "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
        ] {
            assert!(matches!(mask_text(text), Cow::Borrowed(_)), "{text}");
        }
        // Full-width digits are folded even where nothing is masked.
        assert_eq!(mask_text("２０２４年"), "2024年");
    }

    #[test]
    fn the_callers_name_and_own_number_are_scrubbed() {
        let s = Scrubber::for_caller(Some("张三"), Some("0913-7654321"), Some("110000"));
        assert_eq!(s.scrub("市民张三反映，张 三称"), "市民张某反映，张某称");
        assert_eq!(s.scrub("张先生来电"), "张先生来电");
        assert_eq!(s.scrub("回电7654321"), "回电*****21");
        let s = Scrubber::for_caller(Some("欧阳娜娜"), None, None);
        assert_eq!(s.scrub("欧阳娜娜来电"), "欧阳某来电");
        let s = Scrubber::for_caller(Some("John Smith"), None, None);
        assert_eq!(
            s.scrub("JOHN SMITH called; ＪＯＨＮ ＳＭＩＴＨ again; Johnsmithy stays"),
            "某某 called; 某某 again; Johnsmithy stays"
        );
        let s = Scrubber::for_caller(Some("张"), None, None);
        assert_eq!(s.scrub("张贴"), "张贴");
    }

    /// Issue 14: `"1 "` × 300,000 kept the regex masker busy for minutes. Every adversarial
    /// shape of 600 KB must be masked in well under a second (a generous bound in debug).
    #[test]
    fn masking_is_linear_on_adversarial_text() {
        let inputs = [
            ("\"1 \" × 300,000", "1 ".repeat(300_000)),
            ("\"1-\" × 300,000", "1-".repeat(300_000)),
            ("10^6 digits", "1".repeat(1_000_000)),
            ("\"13800138000 \" × 50,000", "13800138000 ".repeat(50_000)),
            ("\"１1\" alternating × 100,000", "１1".repeat(100_000)),
            ("\"１ \" × 150,000", "１ ".repeat(150_000)),
            ("\"0\" × 600,000", "0".repeat(600_000)),
            ("\"0 \" × 300,000", "0 ".repeat(300_000)),
            ("\"0 3 \" × 150,000", "0 3 ".repeat(150_000)),
            ("\"1 3 \" × 150,000", "1 3 ".repeat(150_000)),
            ("\"8.6.\" × 150,000", "8.6.".repeat(150_000)),
            ("\"张三\" × 100,000", "张三".repeat(100_000)),
        ];
        let s = Scrubber::for_caller(Some("张三"), Some("62345678"), Some("110000"));
        for (what, text) in inputs {
            let started = std::time::Instant::now();
            let out = s.scrub(&text);
            let took = started.elapsed();
            println!("{what}: {} bytes masked in {took:?}", text.len());
            assert!(took < std::time::Duration::from_secs(2), "{what}: {took:?}");
            assert!(!out.contains("13800138000"), "{what}");
        }
    }
}
