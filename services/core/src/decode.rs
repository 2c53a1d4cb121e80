//! From Kafka record bytes to a landed row, or a [`Rejection`] saying why not.

use serde::Deserialize;

use crate::event::Event;
use crate::normalise::{Normaliser, SourcePosition};
use crate::reject::{RejectClass, Rejection};

/// The major `schema_version` this build reads.
pub const SUPPORTED_MAJOR: &str = "1";

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
    let event: E = match serde_json::from_str(text) {
        Ok(event) => event,
        Err(e) => return Err(explain::<E>(text, e)),
    };
    check_version(event.schema_version())?;
    event.normalise(ctx, source)
}

fn check_version(version: &str) -> Result<(), Rejection> {
    let major = version.split('.').next().unwrap_or_default();
    if major == SUPPORTED_MAJOR {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectClass::UnsupportedSchemaVersion,
            format!(
                "schema_version \"{version}\" is not supported (this service reads {SUPPORTED_MAJOR}.x)"
            ),
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
    } else if message.starts_with("invalid value") {
        RejectClass::InvalidValue
    } else {
        RejectClass::WrongType
    };
    let message = match path.as_str() {
        "" | "." => message,
        path => format!("{path}: {message}"),
    };
    Rejection::new(class, message)
}
