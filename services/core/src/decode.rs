//! From Kafka record bytes to a landed row, or a [`Rejection`] saying why not.

use serde::Deserialize;

use crate::event::Event;
use crate::normalise::{Normaliser, SourcePosition};
use crate::reject::{RejectClass, Rejection};

/// The major `schema_version` this build reads.
pub const SUPPORTED_MAJOR: &str = "1";

/// Deepest JSON nesting accepted anywhere in a record, unknown fields included (events nest two
/// levels; serde_json skips unknown values of any depth without a limit of its own).
pub const MAX_NESTING: usize = 64;

/// Decodes, validates and normalises one record payload.
///
/// The fast path is one `serde_json` pass into the typed event; only a failing record is parsed
/// again to name the offending field and tell schema violations from version mismatches.
pub fn decode<E: Event>(
    payload: &[u8],
    max_bytes: usize,
    ctx: &Normaliser,
    source: SourcePosition,
) -> Result<E::Row, Rejection> {
    if payload.len() > max_bytes {
        return Err(Rejection::new(
            RejectClass::Oversized,
            format!(
                "record is {} bytes; the limit is {max_bytes}",
                payload.len()
            ),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| Rejection::new(RejectClass::NotUtf8, format!("payload is not UTF-8: {e}")))?;
    if nests_deeper_than(payload, MAX_NESTING) {
        return Err(Rejection::new(
            RejectClass::NotJson,
            format!("payload nests arrays or objects deeper than {MAX_NESTING} levels"),
        ));
    }
    let event: E = match serde_json::from_str(text) {
        Ok(event) => event,
        Err(e) => return Err(explain::<E>(text, e)),
    };
    check_version(event.schema_version())?;
    let row = event.normalise(ctx, source)?;
    ctx.check_row(&row)?;
    Ok(row)
}

/// Whether JSON `text` opens more than `max` arrays or objects inside each other (brackets in
/// strings do not count). One pass over the bytes, before any parsing.
fn nests_deeper_than(text: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn check_version(version: &str) -> Result<(), Rejection> {
    let major = version.split('.').next().unwrap_or_default();
    if major == SUPPORTED_MAJOR {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectClass::UnsupportedSchemaVersion,
            format!("schema_version is not supported (this service reads {SUPPORTED_MAJOR}.x)"),
        ))
    }
}

/// Classifies a decoding failure, naming the field where serde can.
fn explain<E: Event>(text: &str, error: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    if matches!(
        error.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return Rejection::new(
            RejectClass::NotJson,
            format!("payload is not JSON: {error}"),
        );
    }
    #[derive(Deserialize)]
    struct VersionProbe {
        schema_version: Option<serde_json::Value>,
    }
    match serde_json::from_str::<VersionProbe>(text) {
        Ok(VersionProbe {
            schema_version: Some(serde_json::Value::String(v)),
        }) => {
            if let Err(unsupported) = check_version(&v) {
                return unsupported;
            }
        }
        Err(_) => {
            return Rejection::new(RejectClass::WrongType, "payload is not a JSON object");
        }
        _ => {}
    }
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let (path, message) = match serde_path_to_error::deserialize::<_, E>(deserializer) {
        Err(e) => (e.path().to_string(), e.into_inner().to_string()),
        Ok(_) => (String::new(), error.to_string()),
    };
    let class = if message.starts_with("missing field") {
        RejectClass::MissingField
    } else if message.starts_with("unknown variant") {
        RejectClass::UnknownEnumValue
    } else if message.starts_with("invalid value") || message.starts_with("duplicate field") {
        // A repeated key is read differently by different parsers: refuse to pick one.
        RejectClass::InvalidValue
    } else {
        RejectClass::WrongType
    };
    let message = without_value(&message);
    let message = match path.as_str() {
        "" | "." => message,
        path => format!("{path}: {message}"),
    };
    Rejection::new(class, message)
}

/// serde's message without the value it quotes (`invalid type: string "13800138000", expected
/// i32` becomes `invalid type, expected i32`): dead-letter headers and logs never carry a
/// field's value, which may be personal data.
fn without_value(message: &str) -> String {
    const QUOTING: [&str; 3] = ["invalid type", "invalid value", "unknown variant"];
    match QUOTING.iter().find(|p| message.starts_with(*p)) {
        Some(prefix) => match message.find(", expected") {
            Some(at) => format!("{prefix}{}", &message[at..]),
            None => (*prefix).to_owned(),
        },
        // serde's own messages name fields and types only (`missing field `x``, `duplicate
        // field `x``, `invalid length 3, expected …`); anything else is cut to its kind.
        None if message.starts_with("missing field")
            || message.starts_with("duplicate field")
            || message.starts_with("invalid length") =>
        {
            message.to_owned()
        }
        // chrono's date errors ("input contains invalid characters") quote nothing.
        None if !message.contains(['"', '`', '\'']) => message.to_owned(),
        None => "does not match the schema".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::division::DivisionTable;
    use crate::event::facility::FacilityChange;

    fn facility(edit: impl FnOnce(String) -> String) -> Result<(), Rejection> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../schemas/examples/valid/facility_change--created.json");
        let text = edit(std::fs::read_to_string(path).unwrap());
        let ctx = Normaliser::new(DivisionTable::builtin(), None);
        decode::<FacilityChange>(text.as_bytes(), 1 << 20, &ctx, SourcePosition::default())
            .map(drop)
    }

    fn class_of(edit: impl FnOnce(String) -> String) -> (RejectClass, String) {
        let r = facility(edit).expect_err("rejected");
        (r.class, r.message)
    }

    #[test]
    fn the_template_lands() {
        facility(|t| t).unwrap();
    }

    #[test]
    fn hostile_json_is_rejected_without_repeating_values() {
        // Replaces `field` (or adds it) with the JSON text `value`.
        let set = |field: &str, value: &str| {
            let (field, value) = (field.to_owned(), value.to_owned());
            move |t: String| {
                let mut v: serde_json::Value = serde_json::from_str(&t).unwrap();
                v.as_object_mut().unwrap().remove(&field);
                let rest = serde_json::to_string(&v).unwrap();
                rest.replacen('{', &format!("{{\"{field}\":{value},"), 1)
            }
        };
        let cases = [
            (
                set("event_time", "\"9999-12-31T23:00:00Z\""),
                RejectClass::InvalidValue,
            ),
            (
                set("event_time", "\"0000-01-01T00:00:00+09:00\""),
                RejectClass::InvalidValue,
            ),
            (
                set(
                    "extra",
                    &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
                ),
                RejectClass::NotJson,
            ),
            (set("facility_name", "\"\\ud800\""), RejectClass::NotJson),
            (
                set("facility_name", "\"a\\u0000b\""),
                RejectClass::InvalidValue,
            ),
            (
                set("facility_version", "13800138000"),
                RejectClass::InvalidValue,
            ),
            (set("facility_name", "13800138000"), RejectClass::WrongType),
            (set("op", "\"13800138000\""), RejectClass::UnknownEnumValue),
            (
                set("schema_version", "\"13800138000\""),
                RejectClass::UnsupportedSchemaVersion,
            ),
            (
                set("district_code", "\"13800138000\""),
                RejectClass::InvalidDistrictCode,
            ),
            (set("lat", "13800138000"), RejectClass::InvalidValue),
            (
                set("floor_area_m2", "\"13800138000e300\""),
                RejectClass::InvalidValue,
            ),
            (set("opened_date", "\"1380-01-38\""), RejectClass::WrongType),
        ];
        for (i, (edit, class)) in cases.into_iter().enumerate() {
            let (got, message) = facility(edit)
                .map(|()| panic!("case {i} landed"))
                .map_err(|r| (r.class, r.message))
                .unwrap_err();
            assert_eq!(got, class, "case {i}: {message}");
            assert!(
                !message.contains("1380"),
                "case {i} repeats the value: {message}"
            );
        }
    }

    #[test]
    fn a_repeated_key_is_invalid() {
        // serde_json's struct visitor sees the field twice.
        let (class, message) = class_of(|t| t.replacen('{', "{\"op\":\"create\",", 1));
        assert_eq!(class, RejectClass::InvalidValue, "{message}");
        assert!(message.contains("duplicate field"), "{message}");
    }

    #[test]
    fn decimals_at_the_precision_boundary() {
        use crate::row::Yuan;
        assert!(
            Yuan::from_f64(9_999_999_999_999_999.0).is_none(),
            "19 digits of hundredths"
        );
        assert!(Yuan::from_f64(1e16).is_none());
        assert!(Yuan::from_f64(99_999_999_999.99).is_some());
    }
}
