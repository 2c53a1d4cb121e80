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
use crate::emit::{METRICS, Metric, Tally, Topic, keyed};
use crate::hotline;
use crate::profile::{CommunityKpi, Figure, FlowKpi, Scope, StockKpi};
use crate::reference::{self, AssessmentRow};
use crate::renovation;

/// How each KPI of the truth is defined, for the SQL that should reproduce it.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "week",
        "ISO week (Monday–Sunday) of a local date in Asia/Shanghai, written YYYY-Www",
    ),
    (
        "hotline_tickets_received",
        "K23 (and K34's numerator): tickets, each once, with a 'hotline.ticket_created' (intake) event, by the Asia/Shanghai date of the intake's received_time (= its event_time); every request_type, proactive items included",
    ),
    (
        "hotline_wc_tickets_received",
        "K24 numerator: those tickets with a non-NULL wc_category on any event (citysim's never changes)",
    ),
    (
        "hotline_proactive_received",
        "K35 numerator: those tickets whose intake has is_proactive = true (NULL = not proactive); K35 = hotline_proactive_received / hotline_tickets_received",
    ),
    (
        "hotline_valid_visits",
        "K25–K28 denominator: tickets with a 'hotline.ticket_surveyed' event with is_valid_visit = true, each once, by the Asia/Shanghai date (event_date) of its LAST such event (by event_time, then Kafka position); archives and other later events do not move it, a valid re-survey after a reopen moves it (it leaves the earlier period), invalid surveys neither count nor move it",
    ),
    (
        "hotline_contacted",
        "those tickets whose last valid survey has contacted = true",
    ),
    (
        "hotline_resolved",
        "those whose last valid survey has resolved = true",
    ),
    (
        "hotline_satisfied",
        "those whose last valid survey has satisfaction = 'satisfied'",
    ),
    (
        "hotline_basic_satisfied",
        "those whose last valid survey has satisfaction = 'basic'",
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
        "K01: facilities of type elderly_service_center counted once, at their opening = their first event (by facility_version, event_time, Kafka position; resends once) with status 'operating', dated by that event's opened_date (else its event_date), in the opening event's district; not counted when stock: the facility's first event has change_reason '存量登记' and a status other than planned/under_construction, or the opening date is before the district's registry start (its earliest facility event_date). Closing, suspension, reopening and resumption never count again; a late entry (补录) counts at its opening date",
    ),
    (
        "elderly_care_stations_opened",
        "K02: as K01 with facility_type IN ('elderly_care_station','elderly_day_care')",
    ),
    (
        "meal_points_opened",
        "K03 (item NULL): as K01 with facility_type IN ('meal_assistance_point','community_canteen')",
    ),
    (
        "inclusive_childcare_places_added",
        "K04: per childcare_center event, available inclusive places A = childcare_places carried forward (an event without it keeps the last known value) when status = 'operating' and is_inclusive (carried forward), else 0; added = max(0, A − the highest A of the facility's earlier events); the opening event's addition is dated by the opening date and left out for stock facilities (K01's rule), later additions by their event_date; reductions are not subtracted",
    ),
    (
        "parking_spaces_added",
        "K07 (facility part): K04's high-water-mark rule on parking_spaces of operating facilities of any type (citysim: parking_lot), stock openings left out",
    ),
    (
        "parking_spaces_added_renovation",
        "K07 (renovation part): per renovation event of a parking_facility project with quantity_unit '个', Δ = quantity_completed_cum carried forward − that of the project's previous event (status_date, then event_time, then Kafka position; 0 before the first; an event without the figure adds 0), by status_date; projects whose project_id is the source_record_id of a parking_lot facility event are left out entirely (the registry is preferred)",
    ),
    (
        "charging_points_added",
        "K06 flow: K04's high-water-mark rule on charging_points of operating facilities of any type",
    ),
    (
        "facilities_created",
        "COUNT of facility events with op = 'create', by event_date (includes the starting stock loaded in the week before the period)",
    ),
    (
        "facilities_closed",
        "COUNT of facility events with op = 'close', by event_date",
    ),
    (
        "elevators_completed",
        "K13: SUM(elevators_count carried forward to the counted completion) of elevator_retrofit projects whose counted completion's status_date is in the period; a project's counted completion exists only if its latest event's to_status is completed or accepted, and is the first event of its final unbroken run of such events (a second completion, a correction or acceptance counts no more; a completion later withdrawn — status back to started — leaves the count of its period, and a new completion counts at its own date); event order: status_date, then event_time, then Kafka position; from_status is not used",
    ),
    (
        "elevators_started",
        "K14: SUM(elevators_count) of elevator_retrofit projects at their counted start, by its status_date: the first event with to_status 'started' after the project's last event with a pre-start status (declared, approved); resumptions after a suspension and withdrawals of a completion are not starts",
    ),
    (
        "age_friendly_households",
        "K15: SUM(households_benefited carried forward) of aging_friendly_retrofit projects at their counted completion (K13's rule), by its status_date",
    ),
    (
        "old_compounds_completed",
        "K16 'compounds': old_compound_renovation compounds (compound_id) counted once, in the period of the earliest counted completion (K13's rule) among the compound's projects",
    ),
    (
        "old_compound_households_completed",
        "K16 'households': SUM(households_benefited) of old_compound_renovation projects at their counted completion, by its status_date",
    ),
    (
        "build_days_sum",
        "K21 numerator: over projects (any type) with a counted completion in the period and a counted start (K14's rule) before it: SUM(completion status_date − start status_date) in days (negative left out)",
    ),
    ("build_projects", "K21 denominator: COUNT of those projects"),
    (
        "quantity_completed_by_unit",
        "K22: per quantity_unit, SUM of Δ = quantity_completed_cum carried forward − that of the project's previous event (0 before the first; an event without the figure adds 0), by status_date, of overhead_lines_burial, pipe_network and rain_sewage_separation projects (units with no change left out of the catalogue)",
    ),
    (
        "hotline_closed",
        "K30 'reopen_rate' denominator: tickets whose FIRST 'hotline.ticket_closed' event (by ticket_version, event_time, Kafka position) has a closed_time on an Asia/Shanghai date in the period (re-closures after a reopen do not count again)",
    ),
    (
        "hotline_closed_no_due",
        "K30 'no_due_time': those whose first closure carries no due_time (outside the on-time denominator, which is hotline_closed − hotline_closed_no_due)",
    ),
    (
        "hotline_closed_on_time",
        "K30 'on_time_closure_rate' numerator: those whose first closure has closed_time <= due_time; the rate is hotline_closed_on_time / (hotline_closed − hotline_closed_no_due)",
    ),
    (
        "hotline_reopened",
        "K30 'reopen_rate' numerator: 'hotline.ticket_reopened' events (each once) by event_date; the rate is hotline_reopened / hotline_closed",
    ),
    (
        "hotline_zero_request_community_months",
        "K29: Σ over the calendar months wholly inside the period of the district's communities (all of the communities reference, valid since 2020-11-01) without a ticket received (intake's received_time) in that month whose request_type (intake's) is complaint, help or report and whose community_code is the community's (the intake's, else that of the ticket's first event carrying one, usually the dispatch); consultations and suggestions break no zero, proactive items of those types do, tickets without a community code break none",
    ),
    (
        "hotline_requests_per_10k_residents",
        "K34: hotline_tickets_received / (SUM(population) of the district's communities) × 10⁴ (null without residents)",
    ),
    (
        "renovation_projects_declared",
        "COUNT of renovation events with event_type 'renovation.declared', by status_date",
    ),
    (
        "renovation_projects_completed",
        "projects with a counted completion (K13's rule) in the period, by its status_date",
    ),
    (
        "renovation_projects_cancelled",
        "COUNT of renovation events with event_type 'renovation.cancelled', by status_date",
    ),
    (
        "facility_stock_end",
        "K08: per facility_type, facilities whose latest event (facility_version, event_time, Kafka position) with event_date <= the last day of the period has status 'operating' (planned, under construction, suspended and closed ones are not stock; a late entry joins the stock on its event_date)",
    ),
    (
        "charging_points_stock_end",
        "K06: SUM(charging_points carried forward) of those operating ev_charger facilities",
    ),
    (
        "projects_by_status_end",
        "K17: per to_status, COUNT of projects whose latest renovation event (status_date, then event_time, then Kafka position) among those with status_date <= the last day of the period has that to_status",
    ),
    (
        "projects_started_end",
        "K18 'start_rate' numerator: those latest rows with to_status IN ('started','suspended','completed','accepted')",
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
        "K19: SUM over projects of investment_completed_cum_yuan carried forward (an event without it keeps the last known value; never known = 0) of the state at the last day of the period (latest event with status_date <= that day), every project type including cancelled ones, as landed: the reported amount × the yuan factor of amount_unit_raw (万元 = 10000), rounded to fen",
    ),
    (
        "communities_with_investment_end",
        "K20: COUNT(DISTINCT community_code) of those states with carried-forward investment > 0",
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
        "meal_assistance_points_opened",
        "K03 item 'meal_assistance_point': as K01 with facility_type = 'meal_assistance_point'",
    ),
    (
        "community_canteens_opened",
        "K03 item 'community_canteen': as K01 with facility_type = 'community_canteen'",
    ),
    (
        "communities_end",
        "K05/K09/K10/K31 base: communities of the communities reference (communities.csv, written with --reference-out/--out/--lake) valid at the last day of the period; residents_end and households_end their population and households",
    ),
    (
        "childcare_places_end",
        "K05 numerator: SUM(childcare_places carried forward) of childcare_center facilities operating at the last day of the period (inclusive or not); childcare_places_per_1000 = childcare_places_end / residents_end × 1000",
    ),
    (
        "basic_complete_communities",
        "K09 numerator: communities with, at the last day of the period, at least one operating facility (by the facility's community_code) of each group: community_service_station; kindergarten; childcare_center; elderly_care_station or elderly_day_care; health_station; basic_completeness_rate = that / communities_end",
    ),
    (
        "station_floor_area_m2",
        "K10: SUM(floor_area_m2 carried forward) of operating community_service_station facilities at the last day; station_m2_per_100_households = that / households_end × 100 (item 'm2_per_100_households'); share_communities_station_ge_30 = communities_station_ge_30 (communities with households > 0 whose own area / households × 100 >= 30) / communities_with_households (item 'share_communities_ge_30')",
    ),
    (
        "life_circles_compliant",
        "K12: per level, life circles (life_circles.csv) with, for every requirement of the level (sql/views/15_life_circle_requirements), at least one facility operating at the last day whose life_circle_id is the circle and whose type meets it; life_circles = circles per level",
    ),
    (
        "communities_on_platform",
        "K31: communities valid at the last day with on_digital_platform = true",
    ),
    (
        "complete_communities",
        "K32 'count': communities whose latest assessment (community_assessments.csv; latest by assessed_date, then assessment_id, among those assessed by the last day) passed; assessed_communities = communities with such an assessment; complete_rate = the ratio (item 'rate')",
    ),
    (
        "bottom_decile_investment_share",
        "K33: per district, P10 = the score at ascending position ceil(n/10) of its n assessed communities' latest scores; bottom_decile_investment_yuan = SUM of carried-forward completed investment at the last day (K19's state) of projects in communities with score <= P10; assessed_investment_yuan = the same over all assessed communities; the share is their ratio (city: sums of the districts' parts)",
    ),
    (
        "catalogue",
        "every catalogue KPI over the whole period as kpi-query answers it (KPI id -> item, '' for NULL -> value); zero flows and ratios without a denominator left out",
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
    /// K35 numerator.
    pub hotline_proactive_received: i64,
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
    /// K03 part: meal-assistance points.
    pub meal_assistance_points_opened: i64,
    /// K03 part: community canteens.
    pub community_canteens_opened: i64,
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
        int(
            &mut map,
            "hotline_proactive_received",
            self.hotline_proactive_received,
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
        int(
            &mut map,
            "meal_assistance_points_opened",
            self.meal_assistance_points_opened,
        )?;
        int(
            &mut map,
            "community_canteens_opened",
            self.community_canteens_opened,
        )?;
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
            hotline_proactive_received: g(Metric::ProactiveReceived),
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
            meal_assistance_points_opened: g(Metric::MealPointsOpened) - g(Metric::CanteensOpened),
            community_canteens_opened: g(Metric::CanteensOpened),
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
    /// K30: tickets first closed (reopen-rate denominator).
    pub hotline_closed: i64,
    /// K30: those whose first closure has no due time (outside the on-time denominator).
    pub hotline_closed_no_due: i64,
    /// K30: those closed by their due time.
    pub hotline_closed_on_time: i64,
    /// K30: reopen events.
    pub hotline_reopened: i64,
    /// K29: community-months without an in-scope request, over the whole months of the period.
    pub hotline_zero_request_community_months: i64,
    /// K34: tickets received per 10,000 residents.
    pub hotline_requests_per_10k_residents: Option<f64>,
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
    /// K05, K09, K10, K12, K31–K33 at the end of the period.
    #[serde(flatten)]
    pub communities: CommunityKpis,
    /// Every KPI of the catalogue over the whole period, as kpi-query answers it for one
    /// period covering the run (stocks at its last day): KPI id → item ("" for a NULL item) →
    /// value. Zero flows and ratios without a denominator are left out.
    pub catalogue: BTreeMap<String, BTreeMap<String, f64>>,
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
    /// Keyed amounts: (district, kind, key) → (local day, change).
    keyed: BTreeMap<(usize, u8, u32), Vec<(i32, i64)>>,
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
            keyed: BTreeMap::new(),
            topics: Default::default(),
            records: 0,
        }
    }

    /// Adds one valid event's tallies.
    pub fn add(&mut self, district: usize, tallies: &[Tally]) {
        for t in tallies {
            if let Metric::Keyed(kind, key) = t.metric {
                self.keyed
                    .entry((district, kind, key))
                    .or_default()
                    .push((t.day, t.value));
                continue;
            }
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

    /// The distinct counts of `district` (with `communities` communities) for a period
    /// `from..=to` (local days).
    fn distinct_counts(&self, district: usize, communities: usize, from: i32, to: i32) -> Distinct {
        // K29: the calendar months wholly inside the period.
        let mut zero_request_months = 0;
        let mut month = hotline::month_start(from);
        while month <= to {
            let next = hotline::month_start(month + 31);
            if month >= from && next - 1 <= to {
                let requested = self.distinct(Metric::RequestCommunity, district, month..=month);
                zero_request_months += communities as i64 - requested;
            }
            month = next;
        }
        Distinct {
            zero_request_months,
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
        // The hotline KPIs are truths only of a run that simulated the hotline.
        let with_hotline = streams.contains(&Topic::Hotline);
        let mut districts = BTreeMap::new();
        let mut city_sums = vec![0i64; METRICS];
        let mut city_stock = vec![0i64; METRICS];
        let mut city_distinct = Distinct::default();
        let assessments = reference::assessments(city, run.seed, period);
        let mut city_communities = CommunityKpis::default();
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
            let distinct = self.distinct_counts(i, d.communities.len(), from, to);
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
                    period: {
                        let mut p = period_truth(&period_sums, &stock, distinct, d.population());
                        p.old_compounds_completed = self.compounds_completed(i, from, to);
                        p.communities = self.community_kpis(city, i, to, &stock, &assessments[i]);
                        city_communities.add(&p.communities);
                        p.catalogue.extend(programme_catalogue(&p));
                        if with_hotline {
                            p.catalogue.extend(hotline_catalogue(&p));
                        }
                        p
                    },
                    weeks: Some(weeks),
                },
            );
        }
        let mut city_truth =
            period_truth(&city_sums, &city_stock, city_distinct, city.population());
        city_truth.old_compounds_completed = districts
            .values()
            .map(|d: &DistrictTruth| d.period.old_compounds_completed)
            .sum();
        city_communities.finish();
        city_truth.communities = city_communities;
        let programme = programme_catalogue(&city_truth);
        city_truth.catalogue.extend(programme);
        if with_hotline {
            let hotline = hotline_catalogue(&city_truth);
            city_truth.catalogue.extend(hotline);
        }
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
    /// Community-months without an in-scope hotline request (K29).
    zero_request_months: i64,
}

impl Distinct {
    fn add(&mut self, o: Distinct) {
        self.infill_communities += o.infill_communities;
        self.invested_communities += o.invested_communities;
        self.compounds_completed += o.compounds_completed;
        self.zero_request_months += o.zero_request_months;
    }
}

/// Hundredths as a decimal.
fn hundredths(v: i64) -> f64 {
    v as f64 / 100.0
}

fn period_truth(sums: &[i64], stock: &[i64], distinct: Distinct, population: u64) -> PeriodTruth {
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
        hotline_closed_no_due: sums[Metric::ClosedNoDue.index()],
        hotline_closed_on_time: sums[Metric::ClosedOnTime.index()],
        hotline_reopened: sums[Metric::Reopened.index()],
        hotline_zero_request_community_months: distinct.zero_request_months,
        hotline_requests_per_10k_residents: (population > 0).then(|| {
            round6(sums[Metric::TicketsReceived.index()] as f64 / population as f64 * 1e4)
        }),
        facility_stock_total_end: facility_stock_end.values().sum(),
        facility_stock_end,
        charging_points_stock_end: stock[Metric::ChargingPointsStock.index()],
        projects_started_end: status(&[S::Started, S::Suspended, S::Completed, S::Accepted]),
        projects_completed_end: status(&[S::Completed, S::Accepted]),
        projects_not_cancelled_end: projects_by_status_end.values().sum::<i64>()
            - status(&[S::Cancelled]),
        projects_by_status_end,
        investment_completed_end_yuan: hundredths(stock[Metric::InvestmentFen.index()]),
        communities_with_investment_end: distinct.invested_communities,
        infill_projects_declared: sums[Metric::InfillDeclared.index()],
        infill_investment_end_yuan: hundredths(sums[Metric::InfillInvestmentFen.index()]),
        infill_communities_with_investment: distinct.infill_communities,
        communities: CommunityKpis::default(),
        catalogue: BTreeMap::new(),
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
                // K29 counts whole months only.
                let years = if kpi == FlowKpi::ZeroRequestCommunityMonths {
                    f64::from(whole_months(period)) / 12.0
                } else {
                    years
                };
                (
                    stream,
                    name,
                    per_year * scale * years * factor,
                    generated,
                    false,
                )
            }
            Figure::Communities(kpi, v) => {
                let c = &truth.communities;
                let (name, generated) = match kpi {
                    CommunityKpi::OnPlatform => {
                        ("communities_on_platform", c.communities_on_platform)
                    }
                    CommunityKpi::Assessed => ("assessed_communities", c.assessed_communities),
                    CommunityKpi::Complete => ("complete_communities", c.complete_communities),
                };
                let Some(&stream) = streams.first() else {
                    continue;
                };
                (
                    stream,
                    name.to_owned(),
                    v * scale * factor,
                    generated as f64,
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

/// Calendar months wholly inside `period`.
fn whole_months(period: Period) -> i32 {
    let (from, to) = (period.from_day(), period.to_day());
    let mut n = 0;
    let mut month = hotline::month_start(from);
    while month <= to {
        let next = hotline::month_start(month + 31);
        n += i32::from(month >= from && next - 1 <= to);
        month = next;
    }
    n
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
        FlowKpi::ZeroRequestCommunityMonths => (
            Topic::Hotline,
            "hotline_zero_request_community_months",
            p.hotline_zero_request_community_months as f64,
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

/// The requirements of a life circle of each level (`sql/views/15_life_circle_requirements`,
/// GB 50180-2018 as the facility KPIs read it): every group needs one operating facility of
/// one of its types whose `life_circle_id` is the circle.
const CIRCLE_REQUIREMENTS: [(&str, u8, &[&[FacilityType]]); 2] = {
    use FacilityType as F;
    [
        (
            "5min",
            keyed::CIRCLE5,
            &[
                &[F::CommunityServiceStation],
                &[F::CulturalCenter],
                &[F::FitnessSpace, F::PublicActivitySpace],
                &[F::Kindergarten],
                &[F::ChildcareCenter],
                &[F::ElderlyDayCare, F::ElderlyCareStation],
                &[F::HealthStation],
                &[
                    F::ConvenienceStore,
                    F::Supermarket,
                    F::ConvenienceBusiness,
                    F::VegetableStore,
                ],
                &[F::WasteSortingPoint],
            ],
        ),
        (
            "15min",
            keyed::CIRCLE15,
            &[
                &[F::CommunityServiceStation],
                &[F::CulturalCenter],
                &[F::FitnessSpace],
                &[F::HealthCenter],
                &[F::ElderlyServiceCenter],
                &[F::Supermarket],
            ],
        ),
    ]
};

/// K05, K09, K10, K12 and K31–K33 of a district (or, summed, the city) at the end of the
/// period, from the communities reference and the facilities and projects as sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CommunityKpis {
    /// Communities of the reference valid at the end (K09 denominator).
    pub communities_end: i64,
    /// Their residents (K05 denominator × 1,000; K34's denominator).
    pub residents_end: i64,
    /// Their households (K10 denominator × 100).
    pub households_end: i64,
    /// K05 numerator: childcare places (carried forward) of operating childcare centres.
    pub childcare_places_end: i64,
    /// K05: childcare places per 1,000 residents.
    pub childcare_places_per_1000: Option<f64>,
    /// K09 numerator: communities with an operating facility of each basic group.
    pub basic_complete_communities: i64,
    /// K09: basic_complete_communities / communities_end.
    pub basic_completeness_rate: Option<f64>,
    /// K10 'm2_per_100_households' numerator: floor area (m², carried forward) of operating
    /// community service stations.
    pub station_floor_area_m2: f64,
    /// K10 'm2_per_100_households': station_floor_area_m2 / households_end × 100.
    pub station_m2_per_100_households: Option<f64>,
    /// K10 'share_communities_ge_30' numerator: communities with ≥ 30 m² per 100 households.
    pub communities_station_ge_30: i64,
    /// K10 'share_communities_ge_30' denominator: communities with households.
    pub communities_with_households: i64,
    /// K10 'share_communities_ge_30'.
    pub share_communities_station_ge_30: Option<f64>,
    /// K12: compliant life circles by level.
    pub life_circles_compliant: BTreeMap<String, i64>,
    /// K12 denominator: life circles by level.
    pub life_circles: BTreeMap<String, i64>,
    /// K31: communities on the digital platform.
    pub communities_on_platform: i64,
    /// K32 'count': communities whose latest assessment passed.
    pub complete_communities: i64,
    /// K32 'rate' denominator: communities with an assessment.
    pub assessed_communities: i64,
    /// K32 'rate'.
    pub complete_rate: Option<f64>,
    /// K33 numerator: completed investment (yuan) in the district's bottom-decile communities.
    pub bottom_decile_investment_yuan: f64,
    /// K33 denominator: completed investment (yuan) in its assessed communities.
    pub assessed_investment_yuan: f64,
    /// K33.
    pub bottom_decile_investment_share: Option<f64>,
    #[serde(skip)]
    floor_hundredths: i64,
    #[serde(skip)]
    bottom_fen: i64,
    #[serde(skip)]
    assessed_fen: i64,
}

impl CommunityKpis {
    fn add(&mut self, o: &CommunityKpis) {
        self.communities_end += o.communities_end;
        self.residents_end += o.residents_end;
        self.households_end += o.households_end;
        self.childcare_places_end += o.childcare_places_end;
        self.basic_complete_communities += o.basic_complete_communities;
        self.floor_hundredths += o.floor_hundredths;
        self.communities_station_ge_30 += o.communities_station_ge_30;
        self.communities_with_households += o.communities_with_households;
        for (k, v) in &o.life_circles_compliant {
            *self.life_circles_compliant.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.life_circles {
            *self.life_circles.entry(k.clone()).or_default() += v;
        }
        self.communities_on_platform += o.communities_on_platform;
        self.complete_communities += o.complete_communities;
        self.assessed_communities += o.assessed_communities;
        self.bottom_fen += o.bottom_fen;
        self.assessed_fen += o.assessed_fen;
    }

    /// The ratios from the counts.
    fn finish(&mut self) {
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| round6(a / b));
        self.childcare_places_per_1000 = ratio(
            self.childcare_places_end as f64 * 1000.0,
            self.residents_end as f64,
        );
        self.basic_completeness_rate = ratio(
            self.basic_complete_communities as f64,
            self.communities_end as f64,
        );
        self.station_floor_area_m2 = hundredths(self.floor_hundredths);
        self.station_m2_per_100_households =
            ratio(self.floor_hundredths as f64, self.households_end as f64);
        self.share_communities_station_ge_30 = ratio(
            self.communities_station_ge_30 as f64,
            self.communities_with_households as f64,
        );
        self.complete_rate = ratio(
            self.complete_communities as f64,
            self.assessed_communities as f64,
        );
        self.bottom_decile_investment_yuan = hundredths(self.bottom_fen);
        self.assessed_investment_yuan = hundredths(self.assessed_fen);
        self.bottom_decile_investment_share =
            ratio(self.bottom_fen as f64, self.assessed_fen as f64);
    }
}

impl TruthBuilder {
    /// The amount of keyed `kind`/`key` in `district` as of local day `to`.
    fn keyed_at(&self, district: usize, kind: u8, key: u32, to: i32) -> i64 {
        self.keyed
            .get(&(district, kind, key))
            .map_or(0, |v| v.iter().filter(|e| e.0 <= to).map(|e| e.1).sum())
    }

    /// K16 'compounds': compounds whose earliest standing completion is in `from..=to`.
    fn compounds_completed(&self, district: usize, from: i32, to: i32) -> i64 {
        let lo = (district, keyed::COMPOUND_COMPLETION, 0);
        let hi = (district, keyed::COMPOUND_COMPLETION, u32::MAX);
        self.keyed
            .range(lo..=hi)
            .filter(|(_, entries)| {
                let mut net: BTreeMap<i32, i64> = BTreeMap::new();
                for &(day, v) in entries.iter() {
                    *net.entry(day).or_default() += v;
                }
                net.into_iter()
                    .find(|&(_, v)| v > 0)
                    .is_some_and(|(day, _)| (from..=to).contains(&day))
            })
            .count() as i64
    }

    /// The community KPIs of district `i` at local day `to`.
    fn community_kpis(
        &self,
        city: &City,
        i: usize,
        to: i32,
        stock: &[i64],
        assessments: &[AssessmentRow],
    ) -> CommunityKpis {
        let d = &city.districts[i];
        let mut k = CommunityKpis::default();
        if reference::valid_from_day() > to {
            return k;
        }
        k.communities_end = d.communities.len() as i64;
        k.residents_end = d.population() as i64;
        k.households_end = d.households() as i64;
        k.childcare_places_end = stock[Metric::ChildcarePlacesStock.index()];
        for (n, c) in d.communities.iter().enumerate() {
            let key = n as u32;
            if (0..5).all(|g| self.keyed_at(i, keyed::BASIC + g, key, to) > 0) {
                k.basic_complete_communities += 1;
            }
            let floor = self.keyed_at(i, keyed::STATION_FLOOR, key, to);
            k.floor_hundredths += floor;
            if c.households > 0 {
                k.communities_with_households += 1;
                // area / households × 100 ≥ 30, in hundredths of m².
                if floor >= 30 * i64::from(c.households) {
                    k.communities_station_ge_30 += 1;
                }
            }
            k.communities_on_platform += i64::from(c.on_platform);
        }
        // K12.
        for (level, kind, groups) in CIRCLE_REQUIREMENTS {
            let mut circles: Vec<u32> = d
                .communities
                .iter()
                .map(|c| {
                    if kind == keyed::CIRCLE5 {
                        c.circle5
                    } else {
                        c.circle15
                    }
                })
                .collect();
            circles.dedup();
            let compliant = circles
                .iter()
                .filter(|&&circle| {
                    groups.iter().all(|types| {
                        types.iter().any(|&t| {
                            let key = circle << 8 | u32::from(crate::facility::type_index(t));
                            self.keyed_at(i, kind, key, to) > 0
                        })
                    })
                })
                .count() as i64;
            k.life_circles
                .insert(level.to_owned(), circles.len() as i64);
            k.life_circles_compliant.insert(level.to_owned(), compliant);
        }
        // K32 and K33: each community's latest assessment as of `to`.
        let mut latest: BTreeMap<usize, &AssessmentRow> = BTreeMap::new();
        for r in assessments.iter().filter(|r| r.day <= to) {
            let e = latest.entry(r.community).or_insert(r);
            if (r.day, &r.id) > (e.day, &e.id) {
                *e = r;
            }
        }
        k.assessed_communities = latest.len() as i64;
        k.complete_communities = latest.values().filter(|r| r.passed).count() as i64;
        if !latest.is_empty() {
            let mut scores: Vec<f64> = latest.values().map(|r| r.score).collect();
            scores.sort_by(f64::total_cmp);
            let p10 = scores[latest.len().div_ceil(10) - 1];
            for (&c, r) in &latest {
                let invested = self.keyed_at(i, keyed::COMMUNITY_INVESTMENT, c as u32, to);
                k.assessed_fen += invested;
                if r.score <= p10 {
                    k.bottom_fen += invested;
                }
            }
        }
        k.finish();
        k
    }
}

/// The catalogue entries of the hotline KPIs (K23–K30, K34, K35) of a period's truth, by the
/// definitions of their SQL headers; the rates with the default weights (0.10/0.50/0.40,
/// k = 0.9); zeros left out.
pub fn hotline_catalogue(p: &PeriodTruth) -> BTreeMap<String, BTreeMap<String, f64>> {
    let k = &p.kpis;
    let mut cat: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut put = |kpi: &str, item: &str, v: Option<f64>| {
        if let Some(v) = v.filter(|v| *v != 0.0) {
            cat.entry(kpi.to_owned())
                .or_default()
                .insert(item.to_owned(), v);
        }
    };
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    let received = k.hotline_tickets_received;
    put("K23", "", Some(received as f64));
    put("K24", "", ratio(k.hotline_wc_tickets_received, received));
    put("K35", "", ratio(k.hotline_proactive_received, received));
    let valid = k.hotline_valid_visits as f64;
    if valid > 0.0 {
        let (c, r) = (k.hotline_contacted as f64, k.hotline_resolved as f64);
        let m = k.hotline_satisfied as f64 + 0.9 * k.hotline_basic_satisfied as f64;
        put("K25", "", Some(c / valid));
        put("K26", "", Some(r / valid));
        put("K27", "", Some(m / valid));
        put(
            "K28",
            "",
            Some(100.0 * (0.10 * c + 0.50 * r + 0.40 * m) / valid),
        );
    }
    put(
        "K29",
        "",
        Some(p.hotline_zero_request_community_months as f64),
    );
    if p.hotline_closed > 0 {
        let with_due = p.hotline_closed - p.hotline_closed_no_due;
        put(
            "K30",
            "on_time_closure_rate",
            ratio(p.hotline_closed_on_time, with_due),
        );
        put("K30", "no_due_time", Some(p.hotline_closed_no_due as f64));
        put(
            "K30",
            "reopen_rate",
            ratio(p.hotline_reopened, p.hotline_closed),
        );
    }
    put("K34", "", p.hotline_requests_per_10k_residents);
    cat
}

/// The catalogue entries of the programme KPIs (K01–K22, K31–K33) of a period's truth.
pub fn programme_catalogue(p: &PeriodTruth) -> BTreeMap<String, BTreeMap<String, f64>> {
    let k = &p.kpis;
    let c = &p.communities;
    let mut cat: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut put = |kpi: &str, item: &str, v: Option<f64>, keep_zero: bool| {
        if let Some(v) = v
            && (keep_zero || v != 0.0)
        {
            cat.entry(kpi.to_owned())
                .or_default()
                .insert(item.to_owned(), v);
        }
    };
    let n = |v: i64| Some(v as f64);
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    put("K01", "", n(k.elderly_service_centres_opened), false);
    put("K02", "", n(k.elderly_care_stations_opened), false);
    put("K03", "", n(k.meal_points_opened), false);
    put(
        "K03",
        "meal_assistance_point",
        n(k.meal_assistance_points_opened),
        false,
    );
    put(
        "K03",
        "community_canteen",
        n(k.community_canteens_opened),
        false,
    );
    put("K04", "", n(k.inclusive_childcare_places_added), false);
    if c.residents_end > 0 {
        put("K05", "", c.childcare_places_per_1000, true);
    }
    put("K06", "", n(p.charging_points_stock_end), false);
    put(
        "K07",
        "",
        n(k.parking_spaces_added + p.parking_spaces_added_renovation),
        false,
    );
    for (t, &v) in &p.facility_stock_end {
        put("K08", t, n(v), false);
    }
    put("K09", "", c.basic_completeness_rate, true);
    put(
        "K10",
        "m2_per_100_households",
        c.station_m2_per_100_households,
        true,
    );
    put(
        "K10",
        "share_communities_ge_30",
        c.share_communities_station_ge_30,
        true,
    );
    put(
        "K11",
        "",
        n(p.facility_stock_end
            .get(FacilityType::DeliberationHall.as_str())
            .copied()
            .unwrap_or(0)),
        false,
    );
    for (level, &circles) in &c.life_circles {
        if circles > 0 {
            let v = c.life_circles_compliant.get(level).copied().unwrap_or(0);
            put("K12", level, n(v), true);
        }
    }
    put("K13", "", n(k.elevators_completed), false);
    put("K14", "", n(k.elevators_started), false);
    put("K15", "", n(k.age_friendly_households), false);
    put("K16", "compounds", n(p.old_compounds_completed), false);
    put(
        "K16",
        "households",
        n(p.old_compound_households_completed),
        false,
    );
    let projects: i64 = p.projects_by_status_end.values().sum();
    for (status, &v) in &p.projects_by_status_end {
        put("K17", status, n(v), false);
    }
    let base = p.projects_not_cancelled_end as f64;
    put(
        "K18",
        "start_rate",
        ratio(p.projects_started_end as f64, base),
        true,
    );
    put(
        "K18",
        "completion_rate",
        ratio(p.projects_completed_end as f64, base),
        true,
    );
    if projects > 0 {
        put("K19", "", Some(p.investment_completed_end_yuan), true);
    }
    put("K20", "", n(p.communities_with_investment_end), false);
    put(
        "K21",
        "",
        ratio(p.build_days_sum as f64, p.build_projects as f64),
        true,
    );
    for (unit, &v) in &p.quantity_completed_by_unit {
        put("K22", unit, Some(v), false);
    }
    if c.communities_end > 0 {
        put("K31", "", n(c.communities_on_platform), true);
    }
    if c.assessed_communities > 0 {
        put("K32", "count", n(c.complete_communities), true);
        put("K32", "rate", c.complete_rate, true);
    }
    put("K33", "", c.bottom_decile_investment_share, true);
    cat
}
