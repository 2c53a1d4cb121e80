//! JSON Schemas of the raw events, generated from the Rust types that decode them, so the files
//! in `schemas/` and the validator cannot disagree (a test compares them).

use schemars::generate::SchemaSettings;

use crate::event::Event;
use crate::event::facility::FacilityChange;
use crate::event::hotline::HotlineTicket;
use crate::event::renovation::RenovationProgress;

/// Major version of the event schemas this build reads and writes.
pub const SCHEMA_MAJOR: u32 = 1;

/// The JSON Schema (draft 2020-12) of event `E`.
pub fn json_schema<E: Event>() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<E>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "$id".into(),
            format!(
                "https://civicpulse.invalid/schemas/{}.v{SCHEMA_MAJOR}.json",
                E::SCHEMA
            )
            .into(),
        );
        object.insert("x-kafka-topic".into(), E::TOPIC.into());
        object.insert("x-lake-table".into(), E::TABLE.into());
    }
    value
}

/// File name of event `E`'s schema under `schemas/`.
pub fn file_name<E: Event>() -> String {
    format!("{}.v{SCHEMA_MAJOR}.json", E::SCHEMA)
}

/// Every stream's schema as `(file name, pretty JSON)`.
pub fn all() -> Vec<(String, String)> {
    fn one<E: Event>() -> (String, String) {
        let text = serde_json::to_string_pretty(&json_schema::<E>()).expect("schema serialises");
        (file_name::<E>(), text + "\n")
    }
    vec![
        one::<HotlineTicket>(),
        one::<FacilityChange>(),
        one::<RenovationProgress>(),
    ]
}
