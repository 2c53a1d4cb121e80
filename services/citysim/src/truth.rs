//! The ground truth of a run: what was sent per topic, and the headline KPIs per district and
//! ISO week (Asia/Shanghai) as a SQL query over the landed tables should find them.
//!
//! Every number is tallied from the events actually sent (after `--max-events` truncation),
//! excluding upstream duplicates and invalid records. The definitions, stated so a query can
//! reproduce them exactly, are written into the truth file itself ([`DEFINITIONS`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use civicpulse_core::event::facility::FacilityType;
use civicpulse_core::event::renovation::{ProjectStatus, QuantityUnit};
use serde::Serialize;

use crate::bad::BadClass;
use crate::city::City;
use crate::clock::{self, Period};
use crate::emit::{METRICS, Metric, Tally, Topic};
use crate::profile::{Figure, FlowKpi, Scope, StockKpi};
use crate::renovation;

/// How each KPI of the truth is defined, for the SQL that should reproduce it.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "week",
        "ISO week (Monday–Sunday) of a local date in Asia/Shanghai, written YYYY-Www",
    ),
    (
        "hotline_tickets_received",
        "K23: COUNT(DISTINCT ticket_id) of hotline events with event_type = 'hotline.ticket_created', by the Asia/Shanghai date of received_time (= event_time of that event)",
    ),
    (
        "hotline_wc_tickets_received",
        "K24 numerator: as hotline_tickets_received, only tickets with wc_category IS NOT NULL",
    ),
    (
        "hotline_valid_visits",
        "K25–K27 denominator: over hotline_ticket_latest (per ticket_id the event with the highest ticket_version), the rows with status IN ('surveyed','archived') AND is_valid_visit, by the Asia/Shanghai date of that latest row's event_time",
    ),
    ("hotline_contacted", "those rows with contacted = true"),
    ("hotline_resolved", "those rows with resolved = true"),
    (
        "hotline_satisfied",
        "those rows with satisfaction = 'satisfied'",
    ),
    (
        "hotline_basic_satisfied",
        "those rows with satisfaction = 'basic'",
    ),
    (
        "response_rate",
        "K25: hotline_contacted / hotline_valid_visits (null without valid visits)",
    ),
    (
        "resolution_rate",
        "K26: hotline_resolved / hotline_valid_visits",
    ),
    (
        "satisfaction_rate",
        "K27: (hotline_satisfied + 0.9 × hotline_basic_satisfied) / hotline_valid_visits",
    ),
    (
        "satisfaction_rate_k1",
        "K27 with k = 1: (hotline_satisfied + hotline_basic_satisfied) / hotline_valid_visits",
    ),
    (
        "elderly_service_centres_opened",
        "K01: COUNT(*) facility_changes WHERE op = 'create' AND facility_type = 'elderly_service_center', by event_date",
    ),
    (
        "elderly_care_stations_opened",
        "K02: same with facility_type IN ('elderly_care_station','elderly_day_care')",
    ),
    (
        "meal_points_opened",
        "K03: same with facility_type IN ('meal_assistance_point','community_canteen')",
    ),
    (
        "inclusive_childcare_places_added",
        "K04: SUM(childcare_places_delta) facility_changes WHERE facility_type = 'childcare_center' AND is_inclusive, by event_date",
    ),
    (
        "parking_spaces_added",
        "K07 (facility part): SUM(parking_spaces_delta) WHERE facility_type = 'parking_lot', by event_date",
    ),
    (
        "parking_spaces_added_renovation",
        "K07 (renovation part): SUM of Δquantity_completed_cum (as in quantity_completed_by_unit) of renovation_progress events WHERE project_type = 'parking_facility' AND quantity_unit = '个', by status_date (citysim's parking projects count sites, 处, so this is 0)",
    ),
    (
        "charging_points_added",
        "K06 flow: SUM(charging_points_delta) WHERE facility_type = 'ev_charger', by event_date",
    ),
    (
        "facilities_created",
        "COUNT(*) facility_changes WHERE op = 'create', by event_date (includes the starting stock registered in the week before the period)",
    ),
    (
        "facilities_closed",
        "COUNT(*) facility_changes WHERE op = 'close', by event_date",
    ),
    (
        "elevators_completed",
        "K13: SUM(elevators_count) renovation_progress WHERE project_type = 'elevator_retrofit' AND to_status = 'completed', by status_date",
    ),
    (
        "elevators_started",
        "K14: SUM(elevators_count) WHERE project_type = 'elevator_retrofit' AND event_type = 'renovation.started' AND from_status = 'approved', by status_date (progress reports and resumptions also carry to_status = 'started')",
    ),
    (
        "age_friendly_households",
        "K15: SUM(households_benefited) WHERE project_type = 'aging_friendly_retrofit' AND to_status = 'completed', by status_date",
    ),
    (
        "old_compounds_completed",
        "K16 item 'compounds': COUNT(DISTINCT compound_id) renovation_progress WHERE project_type = 'old_compound_renovation' AND to_status = 'completed' (compound_id IS NOT NULL), by status_date",
    ),
    (
        "old_compound_households_completed",
        "K16 item 'households': SUM(households_benefited) of those events, by status_date",
    ),
    (
        "build_days_sum",
        "K21 numerator: over projects with a to_status = 'completed' event whose status_date is in the period and a 'renovation.started' event with from_status = 'approved': SUM(that completed status_date − the status_date of the project's first such start), in days, by the completed status_date",
    ),
    (
        "build_projects",
        "K21 denominator: COUNT of those projects (projects without such a start are left out)",
    ),
    (
        "quantity_completed_by_unit",
        "K22: per quantity_unit, SUM of Δ = COALESCE(quantity_completed_cum, 0) − COALESCE(quantity_completed_cum of the same project's preceding event, 0) (preceding by event_time, then event_id, over all its events; 0 before the first) of renovation_progress events WHERE project_type IN ('overhead_lines_burial','pipe_network','rain_sewage_separation'), by status_date; the units of those project types are always listed",
    ),
    (
        "hotline_closed",
        "K30 denominator: hotline_ticket_latest rows (per ticket_id the event with the highest ticket_version) with closed_time IS NOT NULL, by the Asia/Shanghai date of that closed_time",
    ),
    (
        "hotline_closed_on_time",
        "K30 'on_time_closure_rate' numerator: those rows with closed_time <= due_time (not on time when due_time IS NULL)",
    ),
    (
        "hotline_reopened",
        "K30 'reopen_rate' numerator: those rows with reopen_count > 0",
    ),
    (
        "renovation_projects_declared",
        "COUNT(*) renovation_progress WHERE event_type = 'renovation.declared', by status_date",
    ),
    (
        "renovation_projects_completed",
        "COUNT(*) WHERE to_status = 'completed', by status_date",
    ),
    (
        "renovation_projects_cancelled",
        "COUNT(*) WHERE event_type = 'renovation.cancelled', by status_date",
    ),
    (
        "facility_stock_end",
        "K08/K08a: per facility_type, facilities whose latest event with event_date <= the last day of the period has status <> 'closed'",
    ),
    (
        "charging_points_stock_end",
        "K06: SUM(charging_points) of those latest rows WHERE facility_type = 'ev_charger'",
    ),
    (
        "projects_by_status_end",
        "K17: per to_status (every status listed), COUNT of projects whose latest renovation_progress event (by event_time, then event_id) among those with status_date <= the last day of the period has that to_status",
    ),
    (
        "projects_started_end",
        "K18 'start_rate' numerator: those latest rows with to_status IN ('started','completed','accepted')",
    ),
    (
        "projects_completed_end",
        "K18 'completion_rate' numerator: those latest rows with to_status IN ('completed','accepted')",
    ),
    (
        "projects_not_cancelled_end",
        "K18 denominator: those latest rows with to_status <> 'cancelled'",
    ),
    (
        "investment_completed_end_yuan",
        "K19: SUM(investment_completed_cum_yuan) of those latest rows, every project type (NULL counts 0), as landed: the reported amount × the yuan factor of amount_unit_raw (万元 = 10000), rounded to fen",
    ),
    (
        "communities_with_investment_end",
        "K20: COUNT(DISTINCT community_code) of those latest rows WHERE investment_completed_cum_yuan > 0",
    ),
    (
        "infill_projects_declared",
        "facility_infill projects with a 'renovation.declared' event whose status_date is in the period",
    ),
    (
        "infill_investment_end_yuan",
        "K19 over those projects: SUM of each project's latest investment_completed_cum_yuan (landed in yuan) as of the period end",
    ),
    (
        "infill_communities_with_investment",
        "K20 over those projects: COUNT(DISTINCT community_code) with latest investment_completed_cum_yuan > 0",
    ),
    (
        "period",
        "sums over local dates from..to inclusive; history sent before the period (starting stock, renovation back-fill) is in the weeks but not in the period",
    ),
    (
        "topics",
        "records per topic as sent: valid (distinct events), duplicates (an upstream resend of the previous valid event, same event_id and bytes) and bad records by dead-letter class",
    ),
];

/// Headline KPIs of one district (or the city) over one week or the period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kpis {
    /// Whether zero fields are left out when serialised (weeks).
    pub sparse: bool,
    /// K23.
    pub hotline_tickets_received: i64,
    /// K24 numerator.
    pub hotline_wc_tickets_received: i64,
    /// Rate denominator.
    pub hotline_valid_visits: i64,
    /// K25 numerator.
    pub hotline_contacted: i64,
    /// K26 numerator.
    pub hotline_resolved: i64,
    /// K27 satisfied.
    pub hotline_satisfied: i64,
    /// K27 basically satisfied.
    pub hotline_basic_satisfied: i64,
    /// K25.
    pub response_rate: Option<f64>,
    /// K26.
    pub resolution_rate: Option<f64>,
    /// K27 (k = 0.9).
    pub satisfaction_rate: Option<f64>,
    /// K27 (k = 1).
    pub satisfaction_rate_k1: Option<f64>,
    /// K13.
    pub elevators_completed: i64,
    /// K14.
    pub elevators_started: i64,
    /// K15.
    pub age_friendly_households: i64,
    /// Declarations.
    pub renovation_projects_declared: i64,
    /// Completions.
    pub renovation_projects_completed: i64,
    /// Cancellations.
    pub renovation_projects_cancelled: i64,
    /// K04.
    pub inclusive_childcare_places_added: i64,
    /// K01.
    pub elderly_service_centres_opened: i64,
    /// K02.
    pub elderly_care_stations_opened: i64,
    /// K03.
    pub meal_points_opened: i64,
    /// K07 (facility part).
    pub parking_spaces_added: i64,
    /// K06 flow.
    pub charging_points_added: i64,
    /// Creations.
    pub facilities_created: i64,
    /// Closures.
    pub facilities_closed: i64,
}

impl Serialize for Kpis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let sparse = self.sparse;
        let mut map = s.serialize_map(None)?;
        let int = |m: &mut S::SerializeMap, k: &str, v: i64| {
            if sparse && v == 0 {
                Ok(())
            } else {
                m.serialize_entry(k, &v)
            }
        };
        let rate = |m: &mut S::SerializeMap, k: &str, v: Option<f64>| {
            if sparse && v.is_none() {
                Ok(())
            } else {
                m.serialize_entry(k, &v)
            }
        };
        int(
            &mut map,
            "hotline_tickets_received",
            self.hotline_tickets_received,
        )?;
        int(
            &mut map,
            "hotline_wc_tickets_received",
            self.hotline_wc_tickets_received,
        )?;
        int(&mut map, "hotline_valid_visits", self.hotline_valid_visits)?;
        int(&mut map, "hotline_contacted", self.hotline_contacted)?;
        int(&mut map, "hotline_resolved", self.hotline_resolved)?;
        int(&mut map, "hotline_satisfied", self.hotline_satisfied)?;
        int(
            &mut map,
            "hotline_basic_satisfied",
            self.hotline_basic_satisfied,
        )?;
        rate(&mut map, "response_rate", self.response_rate)?;
        rate(&mut map, "resolution_rate", self.resolution_rate)?;
        rate(&mut map, "satisfaction_rate", self.satisfaction_rate)?;
        rate(&mut map, "satisfaction_rate_k1", self.satisfaction_rate_k1)?;
        int(&mut map, "elevators_completed", self.elevators_completed)?;
        int(&mut map, "elevators_started", self.elevators_started)?;
        int(
            &mut map,
            "age_friendly_households",
            self.age_friendly_households,
        )?;
        int(
            &mut map,
            "renovation_projects_declared",
            self.renovation_projects_declared,
        )?;
        int(
            &mut map,
            "renovation_projects_completed",
            self.renovation_projects_completed,
        )?;
        int(
            &mut map,
            "renovation_projects_cancelled",
            self.renovation_projects_cancelled,
        )?;
        int(
            &mut map,
            "inclusive_childcare_places_added",
            self.inclusive_childcare_places_added,
        )?;
        int(
            &mut map,
            "elderly_service_centres_opened",
            self.elderly_service_centres_opened,
        )?;
        int(
            &mut map,
            "elderly_care_stations_opened",
            self.elderly_care_stations_opened,
        )?;
        int(&mut map, "meal_points_opened", self.meal_points_opened)?;
        int(&mut map, "parking_spaces_added", self.parking_spaces_added)?;
        int(
            &mut map,
            "charging_points_added",
            self.charging_points_added,
        )?;
        int(&mut map, "facilities_created", self.facilities_created)?;
        int(&mut map, "facilities_closed", self.facilities_closed)?;
        map.end()
    }
}

impl Kpis {
    fn from_sums(s: &[i64]) -> Self {
        let g = |m: Metric| s[m.index()];
        let valid = g(Metric::ValidVisits);
        let rate = |n: f64| (valid > 0).then(|| round6(n / valid as f64));
        let (sat, basic) = (
            g(Metric::Satisfied) as f64,
            g(Metric::BasicSatisfied) as f64,
        );
        Self {
            sparse: false,
            hotline_tickets_received: g(Metric::TicketsReceived),
            hotline_wc_tickets_received: g(Metric::TicketsReceivedWc),
            hotline_valid_visits: valid,
            hotline_contacted: g(Metric::Contacted),
            hotline_resolved: g(Metric::Resolved),
            hotline_satisfied: g(Metric::Satisfied),
            hotline_basic_satisfied: g(Metric::BasicSatisfied),
            response_rate: rate(g(Metric::Contacted) as f64),
            resolution_rate: rate(g(Metric::Resolved) as f64),
            satisfaction_rate: rate(sat + 0.9 * basic),
            satisfaction_rate_k1: rate(sat + basic),
            elevators_completed: g(Metric::ElevatorsCompleted),
            elevators_started: g(Metric::ElevatorsStarted),
            age_friendly_households: g(Metric::AgeFriendlyHouseholds),
            renovation_projects_declared: g(Metric::ProjectsDeclared),
            renovation_projects_completed: g(Metric::ProjectsCompleted),
            renovation_projects_cancelled: g(Metric::ProjectsCancelled),
            inclusive_childcare_places_added: g(Metric::InclusiveChildcarePlaces),
            elderly_service_centres_opened: g(Metric::ServiceCentresOpened),
            elderly_care_stations_opened: g(Metric::CareStationsOpened),
            meal_points_opened: g(Metric::MealPointsOpened),
            parking_spaces_added: g(Metric::ParkingSpaces),
            charging_points_added: g(Metric::ChargingPoints),
            facilities_created: g(Metric::FacilitiesCreated),
            facilities_closed: g(Metric::FacilitiesClosed),
        }
    }

    fn is_empty(&self) -> bool {
        Kpis {
            sparse: false,
            ..self.clone()
        } == Kpis::default()
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The period totals of a district (or the city), with stocks at the period end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeriodTruth {
    /// Flows over the period.
    #[serde(flatten)]
    pub kpis: Kpis,
    /// K07 (renovation part): parking spaces completed by parking projects counted in 个.
    pub parking_spaces_added_renovation: i64,
    /// K16: old compounds whose renovation completed.
    pub old_compounds_completed: i64,
    /// K16: households of those renovations.
    pub old_compound_households_completed: i64,
    /// K21 numerator: construction days of the projects completed.
    pub build_days_sum: i64,
    /// K21 denominator: projects completed with a recorded start.
    pub build_projects: i64,
    /// K22: completed quantity of network projects, by unit.
    pub quantity_completed_by_unit: BTreeMap<String, f64>,
    /// K30 denominator: tickets closed.
    pub hotline_closed: i64,
    /// K30: those closed by their due time.
    pub hotline_closed_on_time: i64,
    /// K30: those reopened at least once.
    pub hotline_reopened: i64,
    /// Facilities open at the end, by type.
    pub facility_stock_end: BTreeMap<String, i64>,
    /// All facilities open at the end.
    pub facility_stock_total_end: i64,
    /// K06 stock.
    pub charging_points_stock_end: i64,
    /// K17: projects by their status at the end.
    pub projects_by_status_end: BTreeMap<String, i64>,
    /// K18: projects started (started, completed or accepted) at the end.
    pub projects_started_end: i64,
    /// K18: projects completed (completed or accepted) at the end.
    pub projects_completed_end: i64,
    /// K18 denominator: projects not cancelled at the end.
    pub projects_not_cancelled_end: i64,
    /// K19: completed investment of every project at the end (yuan).
    pub investment_completed_end_yuan: f64,
    /// K20: communities with completed investment at the end.
    pub communities_with_investment_end: i64,
    /// Gap-filling projects declared in the period.
    pub infill_projects_declared: i64,
    /// Their completed investment at the end (yuan).
    pub infill_investment_end_yuan: f64,
    /// Communities they invested in.
    pub infill_communities_with_investment: i64,
}

/// Ground truth of one district.
#[derive(Debug, Clone, Serialize)]
pub struct DistrictTruth {
    /// Chinese name.
    pub name: String,
    /// Streets simulated.
    pub streets: usize,
    /// Communities simulated.
    pub communities: usize,
    /// Residents of the simulated communities.
    pub population: u64,
    /// Households of the simulated communities.
    pub households: u64,
    /// Totals over the period.
    pub period: PeriodTruth,
    /// KPIs per ISO week with any activity; fields that are zero (or rates without valid
    /// visits) are left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weeks: Option<BTreeMap<String, Kpis>>,
}

/// Records sent on one topic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicTruth {
    /// Every record sent.
    pub records: u64,
    /// Distinct valid events.
    pub valid: u64,
    /// Upstream duplicates.
    pub duplicates: u64,
    /// Invalid records, all classes.
    pub bad: u64,
    /// Invalid records by dead-letter class.
    pub bad_by_class: BTreeMap<String, u64>,
}

/// One published figure against what the run generated.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationRow {
    /// The figure as published.
    pub figure: String,
    /// District code or `city`.
    pub scope: String,
    /// The truth field compared.
    pub kpi: String,
    /// Expected at this scale and period.
    pub target: f64,
    /// Generated.
    pub generated: f64,
    /// `(generated − target) / target`, in percent.
    pub deviation_pct: f64,
    /// Within ±10 % (or at least the target, for "at least" figures).
    pub ok: bool,
}

/// How the run was made.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// `--city`.
    pub city: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// `--scale`.
    pub scale: f64,
    /// `--seed`.
    pub seed: u64,
    /// Streams generated.
    pub streams: Vec<String>,
    /// `--bad-ratio`.
    pub bad_ratio: f64,
    /// `--max-events`, if any.
    pub max_events: Option<u64>,
    /// Whether event times were mapped to the wall clock (`--rate`).
    pub live: bool,
    /// Whether the run stopped before its end (cap or interrupt).
    pub truncated: bool,
    /// Simulator version.
    pub version: String,
}

/// The ground truth of a run.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// How the run was made.
    pub run: RunInfo,
    /// Records per topic.
    pub topics: BTreeMap<String, TopicTruth>,
    /// City totals over the period.
    pub city: PeriodTruth,
    /// Per district.
    pub districts: BTreeMap<String, DistrictTruth>,
    /// Published figures against the run.
    pub calibration: Vec<CalibrationRow>,
    /// How every number is defined.
    pub definitions: BTreeMap<String, String>,
}

impl GroundTruth {
    /// The summary printed at the end of a run: everything but the weeks.
    pub fn summary(&self) -> GroundTruth {
        let mut s = self.clone();
        for d in s.districts.values_mut() {
            d.weeks = None;
        }
        s.definitions.clear();
        s
    }
}

/// Days of history kept before the period (older renovation history folds into the first).
const HISTORY_DAYS: i32 = 3000;

/// Accumulates tallies while records are sent.
#[derive(Debug)]
pub struct TruthBuilder {
    base_day: i32,
    /// Per district, `METRICS` sums per day from `base_day`.
    days: Vec<Vec<i64>>,
    /// Distinct keys: (metric, district, key, local day).
    keys: BTreeSet<(Metric, usize, i64, i32)>,
    topics: [TopicTruth; 3],
    records: u64,
}

impl TruthBuilder {
    /// A builder for `districts` districts and a period starting `period`.
    pub fn new(districts: usize, period: Period) -> Self {
        Self {
            base_day: period.from_day() - HISTORY_DAYS,
            days: vec![Vec::new(); districts],
            keys: BTreeSet::new(),
            topics: Default::default(),
            records: 0,
        }
    }

    /// Adds one valid event's tallies.
    pub fn add(&mut self, district: usize, tallies: &[Tally]) {
        for t in tallies {
            if t.metric.is_distinct() {
                self.keys.insert((t.metric, district, t.value, t.day));
                continue;
            }
            let row = (t.day - self.base_day).max(0) as usize;
            let days = &mut self.days[district];
            if days.len() < (row + 1) * METRICS {
                days.resize((row + 1) * METRICS, 0);
            }
            days[row * METRICS + t.metric.index()] += t.value;
        }
    }

    /// Counts one record sent on `topic`.
    pub fn record(&mut self, topic: Topic, duplicate: bool, bad: Option<BadClass>) {
        let t = &mut self.topics[topic as usize];
        t.records += 1;
        self.records += 1;
        match (duplicate, bad) {
            (_, Some(class)) => {
                t.bad += 1;
                *t.bad_by_class.entry(class.as_str().to_owned()).or_default() += 1;
            }
            (true, None) => t.duplicates += 1,
            (false, None) => t.valid += 1,
        }
    }

    /// Records sent so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Distinct keys of `metric` in `district` tallied on a day within `days`.
    fn distinct(&self, metric: Metric, district: usize, days: RangeInclusive<i32>) -> i64 {
        let lo = (metric, district, i64::MIN, i32::MIN);
        let hi = (metric, district, i64::MAX, i32::MAX);
        let mut keys: Vec<i64> = self
            .keys
            .range(lo..=hi)
            .filter(|k| days.contains(&k.3))
            .map(|k| k.2)
            .collect();
        keys.dedup();
        keys.len() as i64
    }

    /// The distinct counts of `district` for a period ending on local day `to`.
    fn distinct_counts(&self, district: usize, from: i32, to: i32) -> Distinct {
        Distinct {
            infill_communities: self.distinct(Metric::InfillCommunity, district, i32::MIN..=to),
            invested_communities: self.distinct(Metric::InvestedCommunity, district, i32::MIN..=to),
            compounds_completed: self.distinct(Metric::CompoundCompleted, district, from..=to),
        }
    }

    /// The ground truth.
    pub fn finish(
        self,
        city: &City,
        period: Period,
        streams: &[Topic],
        run: RunInfo,
        scale: f64,
    ) -> GroundTruth {
        let (from, to) = (period.from_day(), period.to_day());
        let mut districts = BTreeMap::new();
        let mut city_sums = vec![0i64; METRICS];
        let mut city_stock = vec![0i64; METRICS];
        let mut city_distinct = Distinct::default();
        for (i, d) in city.districts.iter().enumerate() {
            let days = &self.days[i];
            let rows = days.len() / METRICS;
            let mut period_sums = vec![0i64; METRICS];
            let mut stock = vec![0i64; METRICS];
            let mut weeks: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for r in 0..rows {
                let day = self.base_day + r as i32;
                let row = &days[r * METRICS..(r + 1) * METRICS];
                if row.iter().all(|&v| v == 0) {
                    continue;
                }
                let week = weeks
                    .entry(clock::iso_week(day))
                    .or_insert_with(|| vec![0; METRICS]);
                for m in 0..METRICS {
                    week[m] += row[m];
                    if (from..=to).contains(&day) {
                        period_sums[m] += row[m];
                    }
                    if day <= to {
                        stock[m] += row[m];
                    }
                }
            }
            let distinct = self.distinct_counts(i, from, to);
            city_distinct.add(distinct);
            for m in 0..METRICS {
                city_sums[m] += period_sums[m];
                city_stock[m] += stock[m];
            }
            let weeks = weeks
                .into_iter()
                .map(|(w, s)| {
                    (
                        w,
                        Kpis {
                            sparse: true,
                            ..Kpis::from_sums(&s)
                        },
                    )
                })
                .filter(|(_, k)| !k.is_empty())
                .collect();
            districts.insert(
                d.code.clone(),
                DistrictTruth {
                    name: d.name.clone(),
                    streets: d.streets.len(),
                    communities: d.communities.len(),
                    population: d.population(),
                    households: d.households(),
                    period: period_truth(&period_sums, &stock, distinct),
                    weeks: Some(weeks),
                },
            );
        }
        let city_truth = period_truth(&city_sums, &city_stock, city_distinct);
        let topics = streams
            .iter()
            .map(|&t| (t.topic().to_owned(), self.topics[t as usize].clone()))
            .collect();
        let calibration = calibration(city, period, streams, scale, &districts, &city_truth);
        GroundTruth {
            run,
            topics,
            city: city_truth,
            districts,
            calibration,
            definitions: DEFINITIONS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Distinct counts of a district (or the city): they add up over districts because community
/// codes and compound ids name their district.
#[derive(Debug, Clone, Copy, Default)]
struct Distinct {
    /// Communities of infill projects with completed investment at the end.
    infill_communities: i64,
    /// Communities of any project with completed investment at the end (K20).
    invested_communities: i64,
    /// Old compounds completed in the period (K16).
    compounds_completed: i64,
}

impl Distinct {
    fn add(&mut self, o: Distinct) {
        self.infill_communities += o.infill_communities;
        self.invested_communities += o.invested_communities;
        self.compounds_completed += o.compounds_completed;
    }
}

/// Hundredths as a decimal.
fn hundredths(v: i64) -> f64 {
    v as f64 / 100.0
}

fn period_truth(sums: &[i64], stock: &[i64], distinct: Distinct) -> PeriodTruth {
    let facility_stock_end: BTreeMap<String, i64> = FacilityType::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str().to_owned(), stock[Metric::Stock(i as u8).index()]))
        .collect();
    let projects_by_status_end: BTreeMap<String, i64> = ProjectStatus::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.as_str().to_owned(),
                stock[Metric::Status(i as u8).index()],
            )
        })
        .collect();
    let status =
        |s: &[ProjectStatus]| -> i64 { s.iter().map(|s| projects_by_status_end[s.as_str()]).sum() };
    use ProjectStatus as S;
    let quantity_completed_by_unit = renovation::k22_units()
        .into_iter()
        .map(|u| {
            let i = QuantityUnit::ALL.iter().position(|&x| x == u).unwrap_or(0);
            let v = sums[Metric::Quantity(i as u8).index()];
            (u.as_str().to_owned(), hundredths(v))
        })
        .collect();
    PeriodTruth {
        kpis: Kpis::from_sums(sums),
        parking_spaces_added_renovation: sums[Metric::ParkingSpacesRenovation.index()] / 100,
        old_compounds_completed: distinct.compounds_completed,
        old_compound_households_completed: sums[Metric::OldCompoundHouseholds.index()],
        build_days_sum: sums[Metric::BuildDays.index()],
        build_projects: sums[Metric::BuildProjects.index()],
        quantity_completed_by_unit,
        hotline_closed: sums[Metric::Closed.index()],
        hotline_closed_on_time: sums[Metric::ClosedOnTime.index()],
        hotline_reopened: sums[Metric::Reopened.index()],
        facility_stock_total_end: facility_stock_end.values().sum(),
        facility_stock_end,
        charging_points_stock_end: stock[Metric::ChargingPoints.index()],
        projects_started_end: status(&[S::Started, S::Completed, S::Accepted]),
        projects_completed_end: status(&[S::Completed, S::Accepted]),
        projects_not_cancelled_end: projects_by_status_end.values().sum::<i64>()
            - status(&[S::Cancelled]),
        projects_by_status_end,
        investment_completed_end_yuan: hundredths(stock[Metric::InvestmentFen.index()]),
        communities_with_investment_end: distinct.invested_communities,
        infill_projects_declared: sums[Metric::InfillDeclared.index()],
        infill_investment_end_yuan: hundredths(sums[Metric::InfillInvestmentFen.index()]),
        infill_communities_with_investment: distinct.infill_communities,
    }
}

fn calibration(
    city: &City,
    period: Period,
    streams: &[Topic],
    scale: f64,
    districts: &BTreeMap<String, DistrictTruth>,
    city_truth: &PeriodTruth,
) -> Vec<CalibrationRow> {
    let profile = city.profile;
    let simulated: f64 = city
        .districts
        .iter()
        .map(|d| f64::from(d.profile.population))
        .sum();
    let share = simulated / profile.population() as f64;
    let years = period.years();
    let mut rows = Vec::new();
    for t in profile.targets {
        let (truth, scope, factor) = match t.scope {
            Scope::District(code) => match districts.get(code) {
                Some(d) => (&d.period, code.to_owned(), 1.0),
                None => continue,
            },
            Scope::City => (city_truth, "city".to_owned(), share),
        };
        let (stream, kpi, target, generated, at_least) = match t.figure {
            Figure::Flow(kpi, per_year) => {
                let (stream, name, generated) = flow_value(kpi, truth);
                (
                    stream,
                    name,
                    per_year * scale * years * factor,
                    generated,
                    false,
                )
            }
            Figure::Stock(kpi, v) | Figure::StockAtLeast(kpi, v) => {
                let (name, generated) = stock_value(kpi, truth);
                (
                    Topic::Facility,
                    name,
                    v * scale * factor,
                    generated,
                    matches!(t.figure, Figure::StockAtLeast(..)),
                )
            }
        };
        if !streams.contains(&stream) {
            continue;
        }
        let deviation = if target > 0.0 {
            (generated - target) / target * 100.0
        } else {
            0.0
        };
        rows.push(CalibrationRow {
            figure: t.label.to_owned(),
            scope,
            kpi,
            target: (target * 100.0).round() / 100.0,
            generated,
            deviation_pct: (deviation * 100.0).round() / 100.0,
            ok: if at_least {
                generated >= target * 0.9
            } else {
                deviation.abs() <= 10.0
            },
        });
    }
    rows
}

fn flow_value(kpi: FlowKpi, p: &PeriodTruth) -> (Topic, String, f64) {
    let k = &p.kpis;
    let (topic, name, v) = match kpi {
        FlowKpi::ElevatorsCompleted => (
            Topic::Renovation,
            "elevators_completed",
            k.elevators_completed as f64,
        ),
        FlowKpi::AgeFriendlyHouseholds => (
            Topic::Renovation,
            "age_friendly_households",
            k.age_friendly_households as f64,
        ),
        FlowKpi::ElderlyServiceCentres => (
            Topic::Facility,
            "elderly_service_centres_opened",
            k.elderly_service_centres_opened as f64,
        ),
        FlowKpi::ElderlyCareStations => (
            Topic::Facility,
            "elderly_care_stations_opened",
            k.elderly_care_stations_opened as f64,
        ),
        FlowKpi::MealPoints => (
            Topic::Facility,
            "meal_points_opened",
            k.meal_points_opened as f64,
        ),
        FlowKpi::InclusiveChildcarePlaces => (
            Topic::Facility,
            "inclusive_childcare_places_added",
            k.inclusive_childcare_places_added as f64,
        ),
        FlowKpi::ParkingSpaces => (
            Topic::Facility,
            "parking_spaces_added",
            k.parking_spaces_added as f64,
        ),
        FlowKpi::InfillProjectsDeclared => (
            Topic::Renovation,
            "infill_projects_declared",
            p.infill_projects_declared as f64,
        ),
        FlowKpi::InfillInvestmentYuan => (
            Topic::Renovation,
            "infill_investment_end_yuan",
            p.infill_investment_end_yuan,
        ),
        FlowKpi::InfillCommunities => (
            Topic::Renovation,
            "infill_communities_with_investment",
            p.infill_communities_with_investment as f64,
        ),
    };
    (topic, name.to_owned(), v)
}

fn stock_value(kpi: StockKpi, p: &PeriodTruth) -> (String, f64) {
    match kpi {
        StockKpi::All => (
            "facility_stock_total_end".into(),
            p.facility_stock_total_end as f64,
        ),
        StockKpi::ChargingPoints => (
            "charging_points_stock_end".into(),
            p.charging_points_stock_end as f64,
        ),
        StockKpi::Types(types) => {
            let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            let v: i64 = names
                .iter()
                .map(|n| p.facility_stock_end.get(*n).copied().unwrap_or(0))
                .sum();
            (format!("facility_stock_end[{}]", names.join("+")), v as f64)
        }
    }
}
