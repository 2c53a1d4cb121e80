//! Valid events for load tests, made from the committed examples in `schemas/examples/valid/`
//! with identity, place and time varied per sequence number, and the invalid examples as bad
//! input.

use serde_json::Value;

use crate::kafka::Record;

/// A stream under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `hotline.tickets` → `hotline_tickets`.
    Hotline,
    /// `facility.changes` → `facility_changes`.
    Facility,
    /// `renovation.progress` → `renovation_progress`.
    Renovation,
}

impl Stream {
    /// All three.
    pub const ALL: [Stream; 3] = [Stream::Hotline, Stream::Facility, Stream::Renovation];

    /// Kafka topic.
    pub fn topic(self) -> &'static str {
        match self {
            Self::Hotline => "hotline.tickets",
            Self::Facility => "facility.changes",
            Self::Renovation => "renovation.progress",
        }
    }

    /// Lake table directory.
    pub fn table(self) -> &'static str {
        match self {
            Self::Hotline => "hotline_tickets",
            Self::Facility => "facility_changes",
            Self::Renovation => "renovation_progress",
        }
    }

    /// Service binary.
    pub fn service(self) -> &'static str {
        match self {
            Self::Hotline => "hotline-ingest",
            Self::Facility => "facility-ingest",
            Self::Renovation => "renovation-ingest",
        }
    }

    /// Schema name, the prefix of example files.
    pub fn schema(self) -> &'static str {
        match self {
            Self::Hotline => "hotline_ticket",
            Self::Facility => "facility_change",
            Self::Renovation => "renovation_progress",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Self::Hotline => "hotline_ticket--surveyed.json",
            Self::Facility => "facility_change--created.json",
            Self::Renovation => "renovation_progress--completed-wanyuan.json",
        }
    }
}

/// Beijing districts events are spread over.
pub const DISTRICTS: [(&str, &str); 6] = [
    ("110101", "东城区"),
    ("110102", "西城区"),
    ("110105", "朝阳区"),
    ("110106", "丰台区"),
    ("110108", "海淀区"),
    ("110114", "昌平区"),
];

/// Makes valid events of one stream.
#[derive(Debug, Clone)]
pub struct EventFactory {
    stream: Stream,
    template: Value,
}

impl EventFactory {
    /// A factory for `stream` from its committed example.
    pub fn new(stream: Stream) -> Self {
        Self::from_example(stream, stream.template())
    }

    /// A factory of small hotline events (the minimal example), for runs of millions.
    pub fn minimal_hotline() -> Self {
        Self::from_example(
            Stream::Hotline,
            "hotline_ticket--created-minimal-local-time.json",
        )
    }

    fn from_example(stream: Stream, example: &str) -> Self {
        let path = crate::workspace_root()
            .join("schemas/examples/valid")
            .join(example);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self {
            stream,
            template: serde_json::from_str(&text).expect("example is JSON"),
        }
    }

    /// Event number `seq`: a unique `event_id`, its district, and the record to produce.
    pub fn event(&self, seq: u64) -> (String, &'static str, Record) {
        let mut v = self.template.clone();
        let (district, name) = DISTRICTS[(seq % DISTRICTS.len() as u64) as usize];
        let street = format!("{district}{:03}", 1 + seq % 7);
        let community = format!("{street}{:03}", 1 + seq % 11);
        let event_id = format!("0190f5c2-0000-7000-8000-{seq:012x}");
        let day = 1 + seq % 28;
        let month = 1 + (seq / 28) % 12;
        let o = v.as_object_mut().expect("object");
        o.insert("event_id".into(), event_id.clone().into());
        o.insert("city_code".into(), "110000".into());
        o.insert("district_code".into(), district.into());
        o.insert("district_name".into(), name.into());
        o.insert("street_code".into(), street.into());
        o.insert("community_code".into(), community.into());
        o.insert(
            "event_time".into(),
            format!("2024-{month:02}-{day:02}T0{}:15:00+08:00", seq % 10).into(),
        );
        o.remove("event_date");
        let key = match self.stream {
            Stream::Hotline => {
                let id = format!("GD2024{seq:010}");
                o.insert("ticket_id".into(), id.clone().into());
                id
            }
            Stream::Facility => {
                let id = format!("BJ-FAC-{seq:08}");
                o.insert("facility_id".into(), id.clone().into());
                id
            }
            Stream::Renovation => {
                let id = format!("BJ-REN-{seq:08}");
                o.insert("project_id".into(), id.clone().into());
                id
            }
        };
        let record = Record {
            key: Some(key.into_bytes()),
            payload: serde_json::to_vec(&v).expect("serialises"),
        };
        (event_id, district, record)
    }
}

/// One committed invalid example: its file name and the class it must be dead-lettered under.
#[derive(Debug, Clone)]
pub struct BadExample {
    /// File name.
    pub name: String,
    /// Expected `civicpulse.error.class`.
    pub class: String,
    /// Raw bytes.
    pub payload: Vec<u8>,
}

/// The invalid examples of `stream` (`<schema>--<class>--<what>.json`).
pub fn bad_examples(stream: Stream) -> Vec<BadExample> {
    let dir = crate::workspace_root().join("schemas/examples/invalid");
    let mut out: Vec<BadExample> = std::fs::read_dir(&dir)
        .expect("invalid examples")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut parts = name.split("--");
            (parts.next()? == stream.schema()).then_some(())?;
            let class = parts.next()?.to_owned();
            let payload = std::fs::read(entry.path()).ok()?;
            Some(BadExample {
                name,
                class,
                payload,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
