//! Personal data: callers' phone numbers become a keyed hash, and phone and ID-card numbers
//! inside free text are masked before anything is stored.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use regex::Regex;
use sha2::Sha256;

/// Shortest accepted HMAC key, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

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

    /// The lowercase hex hash of `raw` after normalisation (digits only, `+86`/`0086` country
    /// prefix dropped); `None` when `raw` holds no digits.
    pub fn hash_phone(&self, raw: &str) -> Option<String> {
        let digits = normalise_phone(raw);
        if digits.is_empty() {
            return None;
        }
        let mut mac = self.mac.clone();
        mac.update(digits.as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

fn normalise_phone(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix)
            && rest.len() == 11
            && rest.starts_with('1')
        {
            return rest.to_owned();
        }
    }
    digits
}

/// Runs of digits, possibly split by single spaces or dashes, possibly ending in an ID card's
/// check character `X`.
static NUMBER_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?[0-9](?:[ \-]?[0-9])*[Xx]?").expect("valid regex"));

/// `text` with mobile numbers (`138****8000`), ID-card numbers (first 3 and last 2 kept) and
/// landline numbers (area code and last 2 kept) masked. Digits that are part of a longer
/// identifier (letters or digits on either side) are left alone.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for m in NUMBER_RUN.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if before.is_some_and(|c| c.is_ascii_alphanumeric())
            || after.is_some_and(|c| c.is_ascii_alphanumeric())
        {
            continue;
        }
        let Some(masked) = mask_number(m.as_str()) else {
            continue;
        };
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..m.start()]);
        buf.push_str(&masked);
        copied = m.end();
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// The masked form of one number run, or `None` if it is not a phone or ID number. When the
/// whole run is not one, a tail of it starting at a separator is tried (`第3栋 138 …`).
fn mask_number(run: &str) -> Option<String> {
    if let Some(masked) = mask_whole(run) {
        return Some(masked);
    }
    run.char_indices()
        .filter(|&(_, c)| c == ' ' || c == '-')
        .find_map(|(i, _)| mask_whole(&run[i + 1..]).map(|m| format!("{}{m}", &run[..=i])))
}

fn mask_whole(run: &str) -> Option<String> {
    let chars: Vec<char> = run.chars().collect();
    let positions: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_ascii_digit() || **c == 'X' || **c == 'x')
        .map(|(i, _)| i)
        .collect();
    let digits: String = positions.iter().map(|&i| chars[i]).collect();
    let n = digits.len();
    let has_x = digits.ends_with(['X', 'x']);
    // (digits kept at the start, digits kept at the end)
    let (head, tail) = if !has_x && n == 11 && is_mobile(&digits) {
        (3, 4)
    } else if !has_x && n == 13 && digits.starts_with("86") && is_mobile(&digits[2..]) {
        (5, 4)
    } else if !has_x && n == 15 && digits.starts_with("0086") && is_mobile(&digits[4..]) {
        (7, 4)
    } else if n == 18 || (!has_x && n == 15 && !digits.starts_with('0')) {
        (3, 2)
    } else if !has_x && (10..=12).contains(&n) && digits.starts_with('0') {
        let area = if digits.starts_with("01") || digits.starts_with("02") {
            3
        } else {
            4
        };
        (area, 2)
    } else {
        return None;
    };
    let mut out = chars.clone();
    for &i in &positions[head..n - tail] {
        out[i] = '*';
    }
    Some(out.into_iter().collect())
}

fn is_mobile(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
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
        assert_eq!(a.hash_phone("+86 138-0013-8000").unwrap(), h);
        assert_eq!(a.hash_phone("0086 13800138000").unwrap(), h);
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
    fn numbers_in_text_are_masked() {
        let cases = [
            ("电话13800138000反映", "电话138****8000反映"),
            ("call 138 0013 8000 now", "call 138 **** 8000 now"),
            ("tel 138-0013-8000.", "tel 138-****-8000."),
            ("+86 13800138000", "+86 138****8000"),
            ("身份证110108199001011234", "身份证110*************34"),
            ("身份证11010819900101123X。", "身份证110*************3X。"),
            ("座机010-62345678", "座机010-******78"),
            ("座机0571 87654321", "座机0571 ******21"),
            ("3号楼 13800138000", "3号楼 138****8000"),
        ];
        for (text, want) in cases {
            assert_eq!(mask_text(text), want, "{text}");
        }
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for text in [
            "3号楼2单元501室",
            "工单ZX13800138000A",
            "编号2024061000123456789",
            "投资85万元，面积1200平方米",
            "社区110108001001",
        ] {
            assert!(matches!(mask_text(text), Cow::Borrowed(_)), "{text}");
        }
    }
}
