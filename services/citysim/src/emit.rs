//! What generators hand to the driver: serialised events with their merge keys, Kafka keys and
//! ground-truth tallies, one [`Chunk`] per generator and window.

use std::ops::Range;

use civicpulse_core::event::facility::FacilityType;
use civicpulse_core::event::renovation::{ProjectStatus, QuantityUnit};
use serde::Serialize;

use crate::SimError;
use crate::clock::TimeMap;

/// One of the three event streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// 12345 hotline tickets.
    Hotline,
    /// Facility registry changes.
    Facility,
    /// Renovation project progress.
    Renovation,
}

impl Topic {
    /// Every stream, in output order.
    pub const ALL: [Topic; 3] = [Topic::Hotline, Topic::Facility, Topic::Renovation];

    /// Kafka topic (without prefix), also the JSONL file stem.
    pub fn topic(self) -> &'static str {
        match self {
            Topic::Hotline => "hotline.tickets",
            Topic::Facility => "facility.changes",
            Topic::Renovation => "renovation.progress",
        }
    }

    /// Name accepted by `--streams`.
    pub fn stream(self) -> &'static str {
        match self {
            Topic::Hotline => "hotline",
            Topic::Facility => "facility",
            Topic::Renovation => "renovation",
        }
    }

    /// The stream named `s`.
    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|t| t.stream() == s || t.topic() == s)
    }
}

/// A ground-truth quantity, tallied per district and local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// K23: tickets received (counted on `hotline.ticket_created`, by `received_time`).
    TicketsReceived,
    /// K24 numerator: received tickets with a `wc_category`.
    TicketsReceivedWc,
    /// K25–K27 denominator: tickets whose latest event is surveyed/archived with a valid visit.
    ValidVisits,
    /// K25 numerator.
    Contacted,
    /// K26 numerator.
    Resolved,
    /// K27: `satisfaction = satisfied`.
    Satisfied,
    /// K27: `satisfaction = basic`.
    BasicSatisfied,
    /// K01.
    ServiceCentresOpened,
    /// K02.
    CareStationsOpened,
    /// K03.
    MealPointsOpened,
    /// K03 part: community canteens opened.
    CanteensOpened,
    /// K05 numerator: childcare places of operating childcare centres (stock).
    ChildcarePlacesStock,
    /// K06: charging points of operating EV chargers (stock).
    ChargingPointsStock,
    /// K04.
    InclusiveChildcarePlaces,
    /// K07 (facility part).
    ParkingSpaces,
    /// K06 flow: charging points added (high-water mark, any facility type).
    ChargingPoints,
    /// `facility.created` events.
    FacilitiesCreated,
    /// `facility.closed` events.
    FacilitiesClosed,
    /// K13.
    ElevatorsCompleted,
    /// K14 (transitions approved → started only).
    ElevatorsStarted,
    /// K15.
    AgeFriendlyHouseholds,
    /// `renovation.declared` events.
    ProjectsDeclared,
    /// `to_status = completed` events.
    ProjectsCompleted,
    /// `renovation.cancelled` events.
    ProjectsCancelled,
    /// Infill projects declared (for the figures of Chongqing and Hangzhou).
    InfillDeclared,
    /// Change of completed investment (fen) of infill projects declared in the period.
    InfillInvestmentFen,
    /// An infill project's first investment in a community: `value` is the community index.
    InfillCommunity,
    /// K07 (renovation part): change of `quantity_completed_cum` (hundredths) of parking
    /// projects counted in 个.
    ParkingSpacesRenovation,
    /// K16: households of old-compound renovations reaching `completed`.
    OldCompoundHouseholds,
    /// K16: an old-compound renovation reaching `completed`: `value` is its compound key
    /// ([`compound_key`]).
    CompoundCompleted,
    /// K21: days from the start (approved → started) to completion, on the completion day.
    BuildDays,
    /// K21: projects completed that had such a start.
    BuildProjects,
    /// K19: change of a project's landed `investment_completed_cum_yuan` (fen).
    InvestmentFen,
    /// K20: a project's first positive completed investment: `value` is the community index.
    InvestedCommunity,
    /// K30: tickets whose latest event has a `closed_time`, by its local date.
    Closed,
    /// K30: those closed by their `due_time`.
    ClosedOnTime,
    /// K30 `reopen_rate` numerator: `hotline.ticket_reopened` events, by their local date.
    Reopened,
    /// K30 `no_due_time`: tickets whose first closure carries no `due_time`, by its date.
    ClosedNoDue,
    /// K35 numerator: received tickets with `is_proactive` (on `hotline.ticket_created`).
    ProactiveReceived,
    /// K29: a community with an in-scope request (complaint, help, report) received in a
    /// month: `value` is the community index, `day` the first day of that month.
    RequestCommunity,
    /// Change of the stock of facilities of type `FacilityType::ALL[i]`.
    Stock(u8),
    /// K17: change of the number of projects whose latest status is `ProjectStatus::ALL[i]`.
    Status(u8),
    /// K22: change of `quantity_completed_cum` (hundredths) in unit `QuantityUnit::ALL[i]`.
    Quantity(u8),
    /// A per-key amount, kept apart from the daily sums: kind ([`keyed`]) and key (a
    /// community, circle or compound); `value` is the change of the amount.
    Keyed(u8, u32),
}

/// Kinds of [`Metric::Keyed`] amounts.
pub mod keyed {
    /// Operating facilities of basic group `g` (0–4, K09) in community `key`: kind `BASIC + g`.
    pub const BASIC: u8 = 0;
    /// Floor area (hundredths of m²) of operating community service stations in community
    /// `key` (K10).
    pub const STATION_FLOOR: u8 = 5;
    /// Operating facilities of type `key & 0xFF` in 5-minute circle `key >> 8` (K12).
    pub const CIRCLE5: u8 = 6;
    /// Operating facilities of type `key & 0xFF` in 15-minute circle `key >> 8` (K12).
    pub const CIRCLE15: u8 = 7;
    /// Carried-forward completed investment (fen) of the projects of community `key` (K33).
    pub const COMMUNITY_INVESTMENT: u8 = 8;
    /// Counted completions of old compound `key` (K16 compounds: counted once, at the
    /// earliest day with a completion left standing).
    pub const COMPOUND_COMPLETION: u8 = 9;
}

/// Metrics that are not per facility type, project status or quantity unit.
pub const FIXED_METRICS: usize = Metric::FIXED.len();

/// Per-type facility stocks ([`Metric::Stock`]).
pub const STOCK_METRICS: usize = FacilityType::ALL.len();

/// Per-status project counts ([`Metric::Status`]).
pub const STATUS_METRICS: usize = ProjectStatus::ALL.len();

/// Per-unit quantities ([`Metric::Quantity`]).
pub const QUANTITY_METRICS: usize = QuantityUnit::ALL.len();

/// Every metric's slot: fixed, then per facility type, project status and quantity unit.
pub const METRICS: usize = FIXED_METRICS + STOCK_METRICS + STATUS_METRICS + QUANTITY_METRICS;

/// The key of an old compound in [`Metric::CompoundCompleted`]: its community and compound
/// index, as its `compound_id` spells them.
pub fn compound_key(community: usize, compound: usize) -> i64 {
    ((community as i64) << 16) | compound as i64
}

impl Metric {
    /// Every metric except the per-type, per-status and per-unit ones, in tally order.
    pub const FIXED: &'static [Metric] = &[
        Metric::TicketsReceived,
        Metric::TicketsReceivedWc,
        Metric::ValidVisits,
        Metric::Contacted,
        Metric::Resolved,
        Metric::Satisfied,
        Metric::BasicSatisfied,
        Metric::ServiceCentresOpened,
        Metric::CareStationsOpened,
        Metric::MealPointsOpened,
        Metric::CanteensOpened,
        Metric::ChildcarePlacesStock,
        Metric::ChargingPointsStock,
        Metric::InclusiveChildcarePlaces,
        Metric::ParkingSpaces,
        Metric::ChargingPoints,
        Metric::FacilitiesCreated,
        Metric::FacilitiesClosed,
        Metric::ElevatorsCompleted,
        Metric::ElevatorsStarted,
        Metric::AgeFriendlyHouseholds,
        Metric::ProjectsDeclared,
        Metric::ProjectsCompleted,
        Metric::ProjectsCancelled,
        Metric::InfillDeclared,
        Metric::InfillInvestmentFen,
        Metric::InfillCommunity,
        Metric::ParkingSpacesRenovation,
        Metric::OldCompoundHouseholds,
        Metric::CompoundCompleted,
        Metric::BuildDays,
        Metric::BuildProjects,
        Metric::InvestmentFen,
        Metric::InvestedCommunity,
        Metric::Closed,
        Metric::ClosedOnTime,
        Metric::Reopened,
        Metric::ClosedNoDue,
        Metric::ProactiveReceived,
        Metric::RequestCommunity,
    ];

    /// Whether the metric names a distinct key (in `value`) rather than adding an amount.
    pub fn is_distinct(self) -> bool {
        matches!(
            self,
            Metric::InfillCommunity
                | Metric::CompoundCompleted
                | Metric::InvestedCommunity
                | Metric::RequestCommunity
        )
    }

    /// Dense index of the metric.
    pub fn index(self) -> usize {
        match self {
            Metric::Stock(i) => FIXED_METRICS + usize::from(i),
            Metric::Status(i) => FIXED_METRICS + STOCK_METRICS + usize::from(i),
            Metric::Quantity(i) => FIXED_METRICS + STOCK_METRICS + STATUS_METRICS + usize::from(i),
            Metric::Keyed(..) => panic!("keyed amounts have no daily slot"),
            m => Metric::FIXED
                .iter()
                .position(|&f| f == m)
                .expect("every fixed metric is listed"),
        }
    }
}

/// One addition to the ground truth: `value` of `metric` on local day `day` of the chunk's
/// district.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// What is counted.
    pub metric: Metric,
    /// Local day (days since 1970-01-01, Asia/Shanghai) the KPI assigns it to.
    pub day: i32,
    /// Amount (may be negative: a later event replaces an earlier one's contribution).
    pub value: i64,
}

/// One record in a chunk.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Emitted event time (ms): the merge key.
    pub time: i64,
    /// Bytes of the payload in [`Chunk::payload`] (a newline follows them).
    pub payload: Range<usize>,
    /// Bytes of the Kafka key in [`Chunk::keys`].
    pub key: Range<usize>,
    /// Tallies in [`Chunk::tallies`].
    pub tallies: Range<usize>,
    /// A second copy of the previous record, as an upstream retry sends it.
    pub duplicate: bool,
}

/// The events one generator produced in one window, in time order.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The stream.
    pub topic: Topic,
    /// Index of the district in the simulated city.
    pub district: usize,
    /// JSON payloads, each followed by a newline (so a JSONL sink writes them as they are).
    pub payload: Vec<u8>,
    /// Concatenated Kafka keys.
    pub keys: Vec<u8>,
    /// Records.
    pub recs: Vec<Rec>,
    /// Tallies of all records.
    pub tallies: Vec<Tally>,
}

impl Chunk {
    /// An empty chunk.
    pub fn new(topic: Topic, district: usize) -> Self {
        Self {
            topic,
            district,
            payload: Vec::new(),
            keys: Vec::new(),
            recs: Vec::new(),
            tallies: Vec::new(),
        }
    }

    /// Empties the chunk, keeping its allocations.
    pub fn clear(&mut self) {
        self.payload.clear();
        self.keys.clear();
        self.recs.clear();
        self.tallies.clear();
    }

    /// Appends `event` serialised as JSON with Kafka key `key` and its tallies; when
    /// `duplicate`, the same bytes follow a second time.
    pub fn push<E: Serialize>(
        &mut self,
        time: i64,
        key: &str,
        event: &E,
        tallies: &[Tally],
        duplicate: bool,
    ) -> Result<(), SimError> {
        let start = self.payload.len();
        crate::json::write(&mut self.payload, event)?;
        let payload = start..self.payload.len();
        self.payload.push(b'\n');
        let key_start = self.keys.len();
        self.keys.extend_from_slice(key.as_bytes());
        let key = key_start..self.keys.len();
        let tally_start = self.tallies.len();
        self.tallies.extend_from_slice(tallies);
        self.recs.push(Rec {
            time,
            payload: payload.clone(),
            key: key.clone(),
            tallies: tally_start..self.tallies.len(),
            duplicate: false,
        });
        if duplicate {
            let tallies = self.tallies.len()..self.tallies.len();
            self.recs.push(Rec {
                time,
                payload,
                key,
                tallies,
                duplicate: true,
            });
        }
        Ok(())
    }

    /// The payload of `rec`.
    pub fn payload_of(&self, rec: &Rec) -> &[u8] {
        &self.payload[rec.payload.clone()]
    }

    /// The payload of `rec` followed by its newline.
    pub fn line_of(&self, rec: &Rec) -> &[u8] {
        &self.payload[rec.payload.start..rec.payload.end + 1]
    }

    /// The key of `rec`.
    pub fn key_of(&self, rec: &Rec) -> &[u8] {
        &self.keys[rec.key.clone()]
    }

    /// The tallies of `rec`.
    pub fn tallies_of(&self, rec: &Rec) -> &[Tally] {
        &self.tallies[rec.tallies.clone()]
    }
}

/// A source of one stream's events for one district.
pub trait Generator: Send {
    /// The stream.
    fn topic(&self) -> Topic;

    /// Roughly how many events are due before `until` (live mode sizes its windows with it).
    fn pending_before(&mut self, until: i64) -> usize;

    /// Appends every event due before simulated instant `until`, in time order, to `out`.
    fn advance(&mut self, until: i64, map: &TimeMap, out: &mut Chunk) -> Result<(), SimError>;
}

/// Replaces the contents of `slot` with `s`, keeping its allocation.
pub fn set(slot: &mut String, s: &str) {
    slot.clear();
    slot.push_str(s);
}

/// Sets an optional string field, reusing the existing allocation.
pub fn set_opt(slot: &mut Option<String>, s: Option<&str>) {
    match (slot.as_mut(), s) {
        (Some(existing), Some(s)) => set(existing, s),
        (None, Some(s)) => *slot = Some(s.to_owned()),
        (_, None) => *slot = None,
    }
}

/// A mutable handle on an optional string field for `write!`, reusing its allocation.
pub fn opt_buf(slot: &mut Option<String>) -> &mut String {
    let s = slot.get_or_insert_with(String::new);
    s.clear();
    s
}
