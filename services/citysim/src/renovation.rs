//! The renovation programme: projects of the reference's types moving through
//! declared → approved → started → (progress reports, suspensions) → completed → accepted, or
//! cancelled, and the generator of their `renovation_progress` events.
//!
//! Projects are anchored on their completion date (facility gap-filling projects on their
//! declaration date), drawn over the period and two and a half years either side so the
//! programme is in steady state: projects already under way when the period starts are
//! back-filled in the week before it (historical `status_date`, `event_time` in that week), and
//! projects still running when it ends simply stop. Completions inside the period are drawn
//! until their quantities add up to the calibrated target exactly.

use std::fmt::Write as _;
use std::sync::Arc;

use civicpulse_core::event::Number;
use civicpulse_core::event::hotline::WcCategory;
use civicpulse_core::event::renovation::{
    AmountUnit, ProjectStatus, ProjectType, QuantityUnit, RenovationClass, RenovationEventType,
    RenovationProgress,
};
use civicpulse_core::row::{Decimal2, Yuan};

use crate::SimError;
use crate::city::{City, District};
use crate::clock::{self, DAY_MS, HOUR_MS, MINUTE_MS, Period, TimeMap};
use crate::emit::{Chunk, Generator, Metric, Tally, Topic, keyed, opt_buf, set, set_opt};
use crate::profile::{CityProfile, FlowKpi, Scope, haidian_rates};
use crate::rng::{self, Purpose, SimRng, apportion, chance, int, uniform};

/// Days before and after the period over which projects are drawn.
const HORIZON_DAYS: i32 = 900;
/// Days before the period in which history is back-filled.
pub const BACKFILL_DAYS: i32 = 7;

/// How a project type behaves.
#[derive(Debug, Clone, Copy)]
struct Kind {
    ptype: ProjectType,
    class: RenovationClass,
    unit: QuantityUnit,
    /// Median construction days (started → completed).
    build_days: f64,
    /// Projects per million residents per year when not calibrated.
    per_million: f64,
    /// Hotline topic of complaints while under construction, and complaints a day.
    complaints: Option<(WcCategory, f64)>,
    /// Funding shares: central, local, residents, social capital.
    funding: [f64; 4],
}

const fn k(
    ptype: ProjectType,
    class: RenovationClass,
    unit: QuantityUnit,
    build_days: f64,
    per_million: f64,
    complaints: Option<(WcCategory, f64)>,
    funding: [f64; 4],
) -> Kind {
    Kind {
        ptype,
        class,
        unit,
        build_days,
        per_million,
        complaints,
        funding,
    }
}

use ProjectType as P;
use QuantityUnit as U;
use RenovationClass as C;
use WcCategory as W;

const KINDS: &[Kind] = &[
    k(
        P::ElevatorRetrofit,
        C::Improvement,
        U::Elevator,
        120.0,
        0.0,
        Some((W::ElevatorRetrofit, 0.12)),
        [0.0, 0.5, 0.4, 0.1],
    ),
    k(
        P::AgingFriendlyRetrofit,
        C::Improvement,
        U::Household,
        60.0,
        0.0,
        Some((W::AgingFriendly, 0.04)),
        [0.0, 0.8, 0.2, 0.0],
    ),
    k(
        P::OldCompoundRenovation,
        C::Basic,
        U::Building,
        300.0,
        14.0,
        Some((W::OldCompoundRenovation, 0.5)),
        [0.3, 0.6, 0.05, 0.05],
    ),
    k(
        P::OverheadLinesBurial,
        C::Basic,
        U::Metre,
        90.0,
        5.0,
        Some((W::OverheadLines, 0.1)),
        [0.2, 0.7, 0.0, 0.1],
    ),
    k(
        P::PipeNetwork,
        C::Basic,
        U::Kilometre,
        120.0,
        6.0,
        Some((W::Utilities, 0.15)),
        [0.2, 0.7, 0.0, 0.1],
    ),
    k(
        P::RainSewageSeparation,
        C::Basic,
        U::Metre,
        120.0,
        3.0,
        Some((W::Utilities, 0.1)),
        [0.2, 0.7, 0.0, 0.1],
    ),
    k(
        P::HeatingNetwork,
        C::Basic,
        U::Kilometre,
        100.0,
        4.0,
        Some((W::Heating, 0.05)),
        [0.2, 0.7, 0.0, 0.1],
    ),
    k(
        P::GasNetwork,
        C::Basic,
        U::Kilometre,
        90.0,
        3.0,
        Some((W::Utilities, 0.05)),
        [0.2, 0.7, 0.0, 0.1],
    ),
    k(
        P::ParkingFacility,
        C::Improvement,
        U::Piece,
        150.0,
        3.0,
        Some((W::Parking, 0.08)),
        [0.0, 0.3, 0.0, 0.7],
    ),
    k(
        P::EvCharging,
        C::Improvement,
        U::Piece,
        45.0,
        4.0,
        Some((W::Charging, 0.05)),
        [0.0, 0.3, 0.0, 0.7],
    ),
    k(
        P::BarrierFree,
        C::Improvement,
        U::Site,
        45.0,
        5.0,
        Some((W::AgingFriendly, 0.02)),
        [0.0, 0.9, 0.0, 0.1],
    ),
    k(
        P::EnergySaving,
        C::Upgrade,
        U::SquareMetre,
        120.0,
        2.0,
        Some((W::Noise, 0.05)),
        [0.2, 0.6, 0.1, 0.1],
    ),
    k(
        P::FacadeRoof,
        C::Improvement,
        U::SquareMetre,
        90.0,
        4.0,
        Some((W::OldCompoundRenovation, 0.1)),
        [0.1, 0.8, 0.05, 0.05],
    ),
    k(
        P::PublicSpace,
        C::Upgrade,
        U::SquareMetre,
        90.0,
        4.0,
        Some((W::PublicSpace, 0.05)),
        [0.0, 0.9, 0.0, 0.1],
    ),
    k(
        P::FacilityInfill,
        C::Upgrade,
        U::Site,
        150.0,
        0.0,
        Some((W::PublicSpace, 0.03)),
        [0.1, 0.8, 0.0, 0.1],
    ),
    k(
        P::Other,
        C::Upgrade,
        U::Site,
        60.0,
        1.0,
        None,
        [0.0, 1.0, 0.0, 0.0],
    ),
];

/// A step of a project's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// 申报.
    Declared,
    /// 立项.
    Approved,
    /// 开工.
    Started,
    /// 进度填报.
    Progress,
    /// 暂停.
    Suspended,
    /// 复工 (a `renovation.started` from `suspended`).
    Resumed,
    /// 完工.
    Completed,
    /// 验收.
    Accepted,
    /// 终止.
    Cancelled,
    /// A completion withdrawn (整改): the status goes back to started.
    Withdrawn,
}

/// One step of a project: its status date, when it is reported and how far the works are.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Local day of the status change.
    pub day: i32,
    /// Simulated instant the event is sent.
    pub time: i64,
    /// What happened.
    pub kind: StepKind,
    /// Progress (0–100) after the step.
    pub pct: f64,
}

/// A renovation project and its whole life.
#[derive(Debug, Clone)]
pub struct Project {
    /// 项目编号.
    pub id: String,
    /// 上级项目.
    pub parent: Option<String>,
    /// 项目名称.
    pub name: String,
    /// 项目类型.
    pub ptype: ProjectType,
    /// 改造类别.
    pub class: RenovationClass,
    /// Community index in the district.
    pub community: usize,
    /// Compound index in the community.
    pub compound: Option<usize>,
    /// 建成年份.
    pub built_year: Option<i16>,
    /// 楼栋数.
    pub buildings: Option<i32>,
    /// 计划工程量.
    pub quantity: f64,
    /// 计量单位.
    pub unit: QuantityUnit,
    /// 受益户数.
    pub households: i32,
    /// 电梯数.
    pub elevators: Option<i32>,
    /// 计划投资 (yuan).
    pub invest_planned: f64,
    /// Final cost over planned investment.
    pub cost_factor: f64,
    /// Funding shares.
    pub funding: [f64; 4],
    /// Whether the project reports amounts in 万元.
    pub wanyuan: bool,
    /// Implementing unit index.
    pub builder: usize,
    /// 业主同意比例.
    pub consent: Option<f64>,
    /// 计划开工日期 (local day).
    pub planned_start: i32,
    /// 计划完工日期 (local day).
    pub planned_end: i32,
    /// Whether it is a gap-filling project declared within the period (figures of Chongqing).
    pub infill_in_period: bool,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// A parking project the facility registry lists too (as a parking lot whose
    /// `source_record_id` is this project's id, when it completes in the period).
    pub in_registry: bool,
}

impl Project {
    /// Local day of its counted completion, if it completes: the first step of its final run
    /// of completions and acceptance (a completion withdrawn before it does not count, nor does
    /// a second completion report).
    pub fn completion_day(&self) -> Option<i32> {
        let done = |s: &Step| matches!(s.kind, StepKind::Completed | StepKind::Accepted);
        let last = self
            .steps
            .iter()
            .rposition(|s| s.kind == StepKind::Completed)?;
        let mut i = last;
        while i > 0 && done(&self.steps[i - 1]) {
            i -= 1;
        }
        Some(self.steps[i].day)
    }
}

/// A project under construction in a community: it draws hotline complaints.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// First local day of works.
    pub start: i32,
    /// Day after the last day of works.
    pub end: i32,
    /// Community index.
    pub community: usize,
    /// Project index in the district plan.
    pub project: usize,
    /// Hotline topic of its complaints.
    pub wc: WcCategory,
    /// Complaints a day.
    pub rate: f64,
}

/// The renovation programme of one district.
#[derive(Debug, Clone, Default)]
pub struct DistrictPlan {
    /// Projects with at least one step in or before the period that matters.
    pub projects: Vec<Project>,
    /// Works under way, sorted by start day.
    pub spans: Vec<Span>,
}

/// The renovation programme of the city: one plan per simulated district.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Plans in [`City::districts`] order.
    pub districts: Vec<DistrictPlan>,
}

/// What the planner needs to know about the run.
#[derive(Debug, Clone, Copy)]
pub struct PlanParams {
    /// The run's seed.
    pub seed: u64,
    /// Share of the city simulated.
    pub scale: f64,
    /// The period.
    pub period: Period,
}

impl Plan {
    /// Plans the programme of every district of `city`.
    pub fn build(city: &City, params: PlanParams) -> Self {
        let districts = city
            .districts
            .iter()
            .map(|d| plan_district(city.profile, d, params))
            .collect();
        Self { districts }
    }
}

/// The annual flow of `kpi` for district `d` at scale 1.0: its own figure, its population
/// share of a city figure, or Haidian's rate per resident times the district's activity.
pub fn district_flow(profile: &CityProfile, d: &District, kpi: FlowKpi, default: f64) -> f64 {
    if let Some(v) = profile.flow_target(kpi, Scope::District(profile_code(d))) {
        return v;
    }
    if let Some(v) = profile.flow_target(kpi, Scope::City) {
        return v * f64::from(d.profile.population) / profile.population() as f64;
    }
    default * f64::from(d.profile.population) * d.profile.activity() * profile.rate_factor
}

fn profile_code(d: &District) -> &'static str {
    d.profile.code
}

/// Splits a city-wide integer figure over districts by population, so the districts' parts
/// add up exactly; `None` when the figure is not city-wide.
pub fn city_share(profile: &CityProfile, d: &District, kpi: FlowKpi, total: f64) -> Option<u64> {
    profile.flow_target(kpi, Scope::City)?;
    let weights: Vec<f64> = profile
        .districts
        .iter()
        .map(|p| f64::from(p.population))
        .collect();
    Some(apportion(total.round().max(0.0) as u64, &weights)[d.index])
}

/// Seasonal weight of completions by month: works pause around the Spring Festival and rush
/// before year end.
fn completion_season(month: u32) -> f64 {
    [0.5, 0.4, 0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.3, 1.6][month as usize - 1]
}

fn seasonal_day(rng: &mut SimRng, lo: i32, hi: i32) -> i32 {
    loop {
        let day = int(rng, i64::from(lo), i64::from(hi)) as i32;
        if chance(rng, completion_season(clock::month(day)) / 1.6) {
            return day;
        }
    }
}

/// Draws one project's quantity in its unit.
fn draw_quantity(rng: &mut SimRng, kind: &Kind) -> f64 {
    match kind.ptype {
        P::ElevatorRetrofit => f64::from(*rng::choose(rng, &[1, 1, 1, 1, 1, 1, 1, 2, 2, 3])),
        P::AgingFriendlyRetrofit => rng::lognormal(rng, 70.0, 0.5).clamp(10.0, 300.0).round(),
        P::OldCompoundRenovation => int(rng, 3, 30) as f64,
        P::OverheadLinesBurial | P::RainSewageSeparation => int(rng, 200, 5000) as f64,
        P::PipeNetwork | P::HeatingNetwork | P::GasNetwork => {
            (uniform(rng, 0.3, 6.0) * 100.0).round() / 100.0
        }
        P::EvCharging => int(rng, 10, 80) as f64,
        P::ParkingFacility => int(rng, 40, 400) as f64,
        P::BarrierFree => int(rng, 3, 20) as f64,
        P::EnergySaving => int(rng, 2000, 30000) as f64,
        P::FacadeRoof => int(rng, 1000, 15000) as f64,
        P::PublicSpace => int(rng, 300, 5000) as f64,
        P::FacilityInfill => int(rng, 1, 3) as f64,
        _ => 1.0,
    }
}

/// Planned investment in yuan for `quantity` of `kind`.
fn draw_investment(rng: &mut SimRng, kind: &Kind, quantity: f64) -> f64 {
    let per_unit = match kind.ptype {
        P::ElevatorRetrofit => uniform(rng, 650_000.0, 900_000.0),
        P::AgingFriendlyRetrofit => uniform(rng, 6_000.0, 15_000.0),
        P::OldCompoundRenovation => uniform(rng, 800_000.0, 2_000_000.0),
        P::OverheadLinesBurial => uniform(rng, 400.0, 1_200.0),
        P::PipeNetwork => uniform(rng, 1_500_000.0, 3_500_000.0),
        P::RainSewageSeparation => uniform(rng, 1_000.0, 3_000.0),
        P::HeatingNetwork => uniform(rng, 2_000_000.0, 5_000_000.0),
        P::GasNetwork => uniform(rng, 1_000_000.0, 2_500_000.0),
        P::ParkingFacility => uniform(rng, 20_000.0, 150_000.0),
        P::EvCharging => uniform(rng, 8_000.0, 20_000.0),
        P::BarrierFree => uniform(rng, 20_000.0, 80_000.0),
        P::EnergySaving => uniform(rng, 150.0, 400.0),
        P::FacadeRoof => uniform(rng, 200.0, 600.0),
        P::PublicSpace => uniform(rng, 300.0, 1_000.0),
        P::FacilityInfill => uniform(rng, 800_000.0, 4_000_000.0),
        _ => uniform(rng, 200_000.0, 1_000_000.0),
    };
    (per_unit * quantity).round()
}

fn draw_households(rng: &mut SimRng, kind: &Kind, quantity: f64) -> i32 {
    let h = match kind.ptype {
        P::ElevatorRetrofit => quantity * uniform(rng, 12.0, 36.0),
        P::AgingFriendlyRetrofit => quantity,
        P::OldCompoundRenovation => quantity * uniform(rng, 24.0, 80.0),
        P::EnergySaving => quantity / 80.0,
        P::FacadeRoof => quantity / 70.0,
        P::EvCharging => uniform(rng, 50.0, 300.0),
        P::BarrierFree => uniform(rng, 50.0, 400.0),
        _ => uniform(rng, 300.0, 2_000.0),
    };
    h.round().max(1.0) as i32
}

/// An anchor: the day a project completes (or is declared, for infill) and its quantity.
struct Anchor {
    day: i32,
    quantity: f64,
    in_period: bool,
    cancelled: bool,
}

fn plan_district(profile: &'static CityProfile, d: &District, p: PlanParams) -> DistrictPlan {
    let mut rng = rng::rng(p.seed, Purpose::Renovation, d.index as u64);
    let from = p.period.from_day();
    let to = p.period.to_day();
    let years = p.period.years();
    let horizon_years = f64::from(HORIZON_DAYS) / 365.25;
    let residents_m = f64::from(d.profile.population) / 1e6;
    let mut projects = Vec::new();

    for kind in KINDS {
        if kind.ptype == P::HeatingNetwork && !profile.heating {
            continue;
        }
        // Annual flow at scale 1.0: quantity for calibrated types, projects for the others.
        let (annual, by_quantity) = match kind.ptype {
            P::ElevatorRetrofit => (
                district_flow(
                    profile,
                    d,
                    FlowKpi::ElevatorsCompleted,
                    haidian_rates::ELEVATORS,
                ),
                true,
            ),
            P::AgingFriendlyRetrofit => (
                district_flow(
                    profile,
                    d,
                    FlowKpi::AgeFriendlyHouseholds,
                    haidian_rates::AGE_FRIENDLY,
                ),
                true,
            ),
            P::FacilityInfill => (
                district_flow(
                    profile,
                    d,
                    FlowKpi::InfillProjectsDeclared,
                    haidian_rates::INFILL,
                ),
                false,
            ),
            _ => (
                kind.per_million * residents_m * d.profile.activity() * profile.rate_factor,
                false,
            ),
        };
        let annual = annual * p.scale;
        let mut anchors = Vec::new();
        let segments = [
            (from - HORIZON_DAYS, from - 1, horizon_years, false),
            (from, to, years, true),
            (to + 1, to + HORIZON_DAYS, horizon_years, false),
        ];
        for (lo, hi, len, in_period) in segments {
            if by_quantity {
                // Draw projects until their quantities add up to the target exactly.
                let target = if in_period {
                    (annual * len).round()
                } else {
                    rng::stochastic_round(&mut rng, annual * len) as f64
                };
                let mut sum = 0.0;
                while sum < target {
                    let q = draw_quantity(&mut rng, kind).min(target - sum);
                    sum += q;
                    let day = seasonal_day(&mut rng, lo, hi);
                    anchors.push(Anchor {
                        day,
                        quantity: q,
                        in_period,
                        cancelled: false,
                    });
                }
            } else {
                let city_total = profile.flow_target(FlowKpi::InfillProjectsDeclared, Scope::City);
                let n = match city_total {
                    // A city figure is split over districts exactly.
                    Some(total) if in_period && kind.ptype == P::FacilityInfill => city_share(
                        profile,
                        d,
                        FlowKpi::InfillProjectsDeclared,
                        total * p.scale * len,
                    )
                    .unwrap_or(0),
                    _ => rng::stochastic_round(&mut rng, annual * len),
                };
                for _ in 0..n {
                    let q = draw_quantity(&mut rng, kind);
                    let day = if kind.ptype == P::FacilityInfill {
                        int(&mut rng, i64::from(lo), i64::from(hi)) as i32
                    } else {
                        seasonal_day(&mut rng, lo, hi)
                    };
                    anchors.push(Anchor {
                        day,
                        quantity: q,
                        in_period,
                        cancelled: false,
                    });
                }
            }
            // About one project in seventeen is cancelled before completion.
            let cancels = rng::stochastic_round(
                &mut rng,
                anchors_rate(kind, annual, by_quantity) * len * 0.06,
            );
            for _ in 0..cancels {
                let q = draw_quantity(&mut rng, kind);
                let day = int(&mut rng, i64::from(lo), i64::from(hi)) as i32;
                anchors.push(Anchor {
                    day,
                    quantity: q,
                    in_period,
                    cancelled: true,
                });
            }
        }
        for a in anchors {
            if let Some(project) = plan_project(&mut rng, profile, d, kind, &a, p) {
                projects.push(project);
            }
        }
    }

    calibrate_infill(&mut rng, profile, d, &mut projects, p);
    finish(profile, d, projects, &mut rng, p)
}

/// Projects a year a quantity-calibrated flow amounts to.
fn anchors_rate(kind: &Kind, annual: f64, by_quantity: bool) -> f64 {
    if !by_quantity {
        return annual;
    }
    match kind.ptype {
        P::ElevatorRetrofit => annual / 1.4,
        _ => annual / 75.0,
    }
}

fn plan_project(
    rng: &mut SimRng,
    profile: &CityProfile,
    d: &District,
    kind: &Kind,
    a: &Anchor,
    p: PlanParams,
) -> Option<Project> {
    let from = p.period.from_day();
    let to = p.period.to_day();
    let build = (rng::lognormal(rng, kind.build_days, 0.3))
        .round()
        .max(20.0) as i32;
    // Three in ten projects overrun their planned duration.
    let overrun = if chance(rng, 0.3) {
        uniform(rng, 1.05, 1.6)
    } else {
        uniform(rng, 0.85, 1.0)
    };
    let actual = (f64::from(build) * overrun).round() as i32;
    let suspension = if !a.cancelled && chance(rng, 0.1) {
        Some((uniform(rng, 0.2, 0.7), int(rng, 15, 90) as i32))
    } else {
        None
    };
    let to_approve = int(rng, 20, 90) as i32;
    let to_start = int(rng, 15, 120) as i32;
    let to_accept = int(rng, 15, 60) as i32;
    let pause = suspension.map_or(0, |(_, len)| len);

    let declared;
    let started;
    let completed;
    if kind.ptype == P::FacilityInfill && !a.cancelled {
        declared = a.day;
        started = declared + to_approve + to_start;
        completed = started + actual + pause;
    } else {
        completed = a.day;
        started = completed - actual - pause;
        declared = started - to_start - to_approve;
    }
    let approved = declared + to_approve;

    let mut steps = Vec::new();
    let step = |day, kind, pct| Step {
        day,
        time: 0,
        kind,
        pct,
    };
    steps.push(step(declared, StepKind::Declared, 0.0));
    if a.cancelled {
        // Cancelled at the anchor day, from whichever stage the project had reached.
        let stage = rng::pick(rng, &[0.5, 0.3, 0.2]);
        let cancel = a.day;
        let declared = cancel - int(rng, 20, 200) as i32;
        steps[0].day = declared;
        let mut day = declared;
        if stage >= 1 {
            day += ((cancel - declared) as f64 * uniform(rng, 0.2, 0.5)) as i32;
            steps.push(step(day, StepKind::Approved, 0.0));
        }
        if stage >= 2 {
            day += ((cancel - day) as f64 * uniform(rng, 0.3, 0.7)) as i32;
            steps.push(step(day, StepKind::Started, 0.0));
            let pct = uniform(rng, 5.0, 40.0).round();
            steps.push(step(cancel, StepKind::Cancelled, pct));
        } else {
            steps.push(step(cancel.max(day + 1), StepKind::Cancelled, 0.0));
        }
    } else {
        steps.push(step(approved, StepKind::Approved, 0.0));
        steps.push(step(started, StepKind::Started, 0.0));
        let (pause_at, pause_end) = match suspension {
            Some((at, len)) => {
                let s = started + (f64::from(actual) * at) as i32;
                (s, s + len)
            }
            None => (i32::MAX, i32::MAX),
        };
        // Monthly progress reports while works are on; progress follows worked days.
        let worked = |day: i32| {
            let paused = if day >= pause_end {
                pause
            } else if day > pause_at {
                day - pause_at
            } else {
                0
            };
            f64::from(day - started - paused) / f64::from(actual.max(1))
        };
        let mut day = started + int(rng, 20, 35) as i32;
        let mut last = 0.0;
        let mut suspended_done = suspension.is_none();
        while day < completed - 5 {
            if !suspended_done && day >= pause_at {
                steps.push(step(pause_at, StepKind::Suspended, last));
                steps.push(step(pause_end, StepKind::Resumed, last));
                suspended_done = true;
                day = day.max(pause_end + int(rng, 10, 30) as i32);
                continue;
            }
            let pct = (100.0 * worked(day) * uniform(rng, 0.92, 1.04))
                .round()
                .max(last + 1.0)
                .min(99.0);
            if pct > last {
                steps.push(step(day, StepKind::Progress, pct));
                last = pct;
            }
            day += int(rng, 25, 35) as i32;
        }
        if !suspended_done {
            steps.push(step(pause_at, StepKind::Suspended, last));
            steps.push(step(pause_end, StepKind::Resumed, last));
        }
        // One completion in thirty is withdrawn for rework and reported again later.
        if suspension.is_none() && chance(rng, 0.033) {
            let first = completed - int(rng, 10, 25) as i32;
            if first > started + 1 {
                steps.retain(|s| s.day < first);
                steps.push(step(first, StepKind::Completed, 100.0));
                let back = (first + int(rng, 3, 8) as i32).min(completed - 1);
                steps.push(step(back, StepKind::Withdrawn, 100.0));
            }
        }
        steps.push(step(completed, StepKind::Completed, 100.0));
        // One in thirty reports its completion twice (a correction of the completion record).
        if chance(rng, 0.033) {
            let again = completed + int(rng, 0, 3) as i32;
            steps.push(step(again, StepKind::Completed, 100.0));
        }
        steps.push(step(completed + to_accept, StepKind::Accepted, 100.0));
    }
    // Steps keep their order even where rounding put two on one day.
    for i in 1..steps.len() {
        if steps[i].day < steps[i - 1].day {
            steps[i].day = steps[i - 1].day;
        }
    }

    let first = steps[0].day;
    let last = steps.last().map_or(first, |s| s.day);
    if first > to || last < from {
        return None;
    }
    // Completions anchored in the period must complete in it (calibration).
    debug_assert!(
        !a.in_period
            || a.cancelled
            || kind.ptype == P::FacilityInfill
            || (from..=to).contains(&completed)
    );

    let community = rng::int(rng, 0, d.communities.len() as i64 - 1) as usize;
    let c = &d.communities[community];
    let compound = int(rng, 0, c.compounds.len() as i64 - 1) as usize;
    let quantity = a.quantity;
    let households = draw_households(rng, kind, quantity);
    let invest_planned = draw_investment(rng, kind, quantity);
    let planned_start = if a.cancelled {
        steps[0].day + to_approve + to_start
    } else {
        started + int(rng, -20, 10) as i32
    };
    let built_year = (i32::from(c.built_year) - int(rng, 0, 20) as i32).clamp(1955, 2000) as i16;
    let mut project = Project {
        id: String::new(),
        parent: None,
        name: project_name(rng, kind.ptype, c, compound, quantity),
        ptype: kind.ptype,
        class: kind.class,
        community,
        compound: Some(compound),
        built_year: Some(built_year),
        buildings: match kind.ptype {
            P::ElevatorRetrofit => Some(1),
            P::OldCompoundRenovation => Some(quantity as i32),
            _ => Some(int(rng, 1, 20) as i32),
        },
        quantity,
        unit: kind.unit,
        households,
        elevators: (kind.ptype == P::ElevatorRetrofit).then_some(quantity as i32),
        invest_planned,
        cost_factor: uniform(rng, 0.9, 1.12),
        funding: kind.funding,
        wanyuan: chance(rng, profile.wanyuan_share),
        builder: int(rng, 0, profile.builders.len() as i64 - 1) as usize,
        consent: (kind.ptype == P::ElevatorRetrofit)
            .then(|| (uniform(rng, 66.7, 100.0) * 100.0).round() / 100.0),
        planned_start,
        planned_end: planned_start + build,
        infill_in_period: kind.ptype == P::FacilityInfill && a.in_period && !a.cancelled,
        steps,
        in_registry: kind.ptype == P::ParkingFacility && !a.cancelled && chance(rng, 0.5),
    };
    // The registry lists the lot once the project completes in the period; until it does, the
    // project's spaces count through the renovation stream.
    project.in_registry &= project
        .completion_day()
        .is_some_and(|d| (from..=to).contains(&d));
    Some(project)
}

fn project_name(
    rng: &mut SimRng,
    ptype: ProjectType,
    c: &crate::city::Community,
    compound: usize,
    quantity: f64,
) -> String {
    let cp = &c.compounds[compound];
    let cm = crate::names::short(&c.name);
    match ptype {
        P::ElevatorRetrofit => {
            let unit = int(rng, 1, 4);
            let building = int(rng, 1, 30);
            if quantity > 1.0 {
                format!("{cp}{building}号楼加装电梯({quantity}部)")
            } else {
                format!("{cp}{building}号楼{unit}单元加装电梯")
            }
        }
        P::AgingFriendlyRetrofit => format!("{cm}社区居家适老化改造({}户)", quantity),
        P::OldCompoundRenovation => format!("{cp}老旧小区综合整治"),
        P::OverheadLinesBurial => format!("{cp}架空线入地工程"),
        P::PipeNetwork => format!("{cp}供水管网改造"),
        P::RainSewageSeparation => format!("{cp}雨污分流改造"),
        P::HeatingNetwork => format!("{cp}供热管网改造"),
        P::GasNetwork => format!("{cp}燃气管网改造"),
        P::ParkingFacility => format!("{cm}社区立体停车设施建设"),
        P::EvCharging => format!("{cp}充电桩建设"),
        P::BarrierFree => format!("{cp}无障碍设施改造"),
        P::EnergySaving => format!("{cp}建筑节能改造"),
        P::FacadeRoof => format!("{cp}外立面及屋面改造"),
        P::PublicSpace => format!("{cm}社区口袋公园建设"),
        P::FacilityInfill => format!(
            "{cm}社区{}补短板项目",
            rng::choose(
                rng,
                &[
                    "养老服务设施",
                    "托育设施",
                    "综合服务设施",
                    "便民服务设施",
                    "文体设施"
                ]
            )
        ),
        _ => format!("{cm}社区微更新项目"),
    }
}

/// Completed investment share (0–1 of the final cost) after the last step sent in the period.
fn progress_at_end(project: &Project, end_day: i32) -> f64 {
    project
        .steps
        .iter()
        .rfind(|s| s.day <= end_day)
        .map_or(0.0, |s| s.pct / 100.0)
}

/// Chongqing's infill figures: the period's projects spread over exactly the published number
/// of communities, with investment at period end scaled to the published total.
fn calibrate_infill(
    rng: &mut SimRng,
    profile: &CityProfile,
    d: &District,
    projects: &mut [Project],
    p: PlanParams,
) {
    let years = p.period.years();
    let to = p.period.to_day();
    let mut idx: Vec<usize> = (0..projects.len())
        .filter(|&i| projects[i].infill_in_period)
        .collect();
    idx.sort_by_key(|&i| (projects[i].steps[0].day, i));
    if idx.is_empty() {
        return;
    }
    if let Some(total) = profile.flow_target(FlowKpi::InfillCommunities, Scope::City) {
        let want = city_share(
            profile,
            d,
            FlowKpi::InfillCommunities,
            total * p.scale * years,
        )
        .unwrap_or(0) as usize;
        let want = want.clamp(1, idx.len()).min(d.communities.len());
        // Distinct communities for the earliest projects (they will have started by the end).
        let mut pool: Vec<usize> = (0..d.communities.len()).collect();
        for i in 0..want {
            let j = int(rng, i as i64, pool.len() as i64 - 1) as usize;
            pool.swap(i, j);
        }
        let chosen = &pool[..want];
        for (n, &i) in idx.iter().enumerate() {
            let community = if n < want {
                chosen[n]
            } else {
                *rng::choose(rng, chosen)
            };
            // A project moved to another community takes one of its compounds and its name.
            let c = &d.communities[community];
            let compound = int(rng, 0, c.compounds.len() as i64 - 1) as usize;
            let pr = &mut projects[i];
            pr.community = community;
            pr.compound = Some(compound);
            pr.name = project_name(rng, pr.ptype, c, compound, pr.quantity);
        }
    }
    if let Some(total) = profile.flow_target(FlowKpi::InfillInvestmentYuan, Scope::City) {
        let weights: Vec<f64> = profile
            .districts
            .iter()
            .map(|x| f64::from(x.population))
            .collect();
        let target = apportion((total * p.scale * years / 100.0).round() as u64, &weights)[d.index]
            as f64
            * 100.0;
        let reached: f64 = idx
            .iter()
            .map(|&i| {
                let pr = &projects[i];
                pr.invest_planned * pr.cost_factor * progress_at_end(pr, to)
            })
            .sum();
        if reached > 0.0 {
            let f = target / reached;
            for &i in &idx {
                projects[i].invest_planned = (projects[i].invest_planned * f).round();
            }
        }
    }
}

/// Assigns ids, report times, parents and complaint spans.
fn finish(
    profile: &CityProfile,
    d: &District,
    mut projects: Vec<Project>,
    rng: &mut SimRng,
    p: PlanParams,
) -> DistrictPlan {
    let from = p.period.from_day();
    let end_ms = p.period.end_ms();
    let backfill_start = clock::day_start(from - BACKFILL_DAYS);
    projects.sort_by_key(|pr| (pr.steps[0].day, pr.community, pr.ptype.as_str()));
    let mut seq_per_year = std::collections::BTreeMap::<i32, u32>::new();
    for pr in &mut projects {
        let year = clock::year(pr.steps[0].day);
        let n = seq_per_year
            .entry(clock::year(pr.steps[0].day))
            .or_default();
        *n += 1;
        pr.id = format!("{}-{}-REN-{year}-{:05}", profile.prefix, d.profile.abbr, n);
        // Reports are sent during office hours, most the same day, some a few days late.
        let backfill_base =
            backfill_start + int(rng, 0, i64::from(BACKFILL_DAYS) * DAY_MS - HOUR_MS);
        let mut prev = i64::MIN;
        for (i, s) in pr.steps.iter_mut().enumerate() {
            let mut t = if s.day < from {
                backfill_base + i as i64 * 1000
            } else {
                let office =
                    clock::day_start(s.day) + 9 * HOUR_MS + int(rng, 0, 9 * 60) * MINUTE_MS;
                let late = if chance(rng, 0.3) {
                    int(rng, 1, 3) * DAY_MS
                } else {
                    0
                };
                if office + late >= end_ms && office < end_ms {
                    office
                } else {
                    office + late
                }
            };
            if t <= prev {
                t = prev + MINUTE_MS;
            }
            s.time = t;
            prev = t;
        }
    }
    // Some elevator retrofits are sub-projects of their compound's renovation.
    let parents: Vec<(usize, usize, String)> = projects
        .iter()
        .filter(|pr| pr.ptype == P::OldCompoundRenovation)
        .map(|pr| (pr.community, pr.compound.unwrap_or(0), pr.id.clone()))
        .collect();
    for pr in projects
        .iter_mut()
        .filter(|pr| pr.ptype == P::ElevatorRetrofit)
    {
        if let Some((_, _, id)) = parents
            .iter()
            .find(|(c, cp, _)| *c == pr.community && Some(*cp) == pr.compound)
        {
            pr.parent = Some(id.clone());
        }
    }
    let mut spans = Vec::new();
    for (i, pr) in projects.iter().enumerate() {
        let Some(kind) = KINDS.iter().find(|k| k.ptype == pr.ptype) else {
            continue;
        };
        let Some((wc, rate)) = kind.complaints else {
            continue;
        };
        let mut open: Option<i32> = None;
        for s in &pr.steps {
            match s.kind {
                StepKind::Started | StepKind::Resumed => open = Some(s.day),
                StepKind::Suspended | StepKind::Completed | StepKind::Cancelled => {
                    if let Some(start) = open.take()
                        && s.day > start
                    {
                        spans.push(Span {
                            start,
                            end: s.day,
                            community: pr.community,
                            project: i,
                            wc,
                            rate,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    spans.sort_by_key(|s| (s.start, s.project));
    DistrictPlan { projects, spans }
}

/// Emits the `renovation_progress` events of one district's plan.
pub struct RenovationGen {
    city: Arc<City>,
    plan: Arc<Plan>,
    district: usize,
    seed: u64,
    /// (time, project, step) of every event, sorted.
    events: Vec<(i64, u32, u16)>,
    cursor: usize,
    /// What the truth knows of each project from the events sent.
    seen: Vec<Seen>,
    buf: RenovationProgress,
    tallies: Vec<Tally>,
}

/// What the ground truth knows of a project from the events sent so far.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// Status after the last event sent.
    status: Option<ProjectStatus>,
    /// Completed investment carried forward (landed fen).
    invested: i64,
    /// Completed quantity carried forward (landed hundredths).
    quantity: i64,
    /// Local status date of the counted start.
    started: Option<i32>,
    /// Local status date of the counted completion standing, and its build days if counted.
    completed: Option<(i32, Option<i64>)>,
}

impl RenovationGen {
    /// The generator of district `district` (index in `city.districts`).
    pub fn new(
        city: Arc<City>,
        plan: Arc<Plan>,
        district: usize,
        seed: u64,
        period: Period,
    ) -> Self {
        let end_ms = period.end_ms();
        let mut events: Vec<(i64, u32, u16)> = plan.districts[district]
            .projects
            .iter()
            .enumerate()
            .flat_map(|(i, pr)| {
                pr.steps
                    .iter()
                    .enumerate()
                    .filter(move |(_, s)| s.time < end_ms)
                    .map(move |(j, s)| (s.time, i as u32, j as u16))
            })
            .collect();
        events.sort_unstable();
        let seen = vec![Seen::default(); plan.districts[district].projects.len()];
        let d = &city.districts[district];
        let buf = RenovationProgress {
            event_id: String::new(),
            event_type: RenovationEventType::Declared,
            schema_version: "1.0".into(),
            source_system: city.profile.renovation_source.into(),
            source_record_id: None,
            event_time: clock::event_time(0),
            ingest_time: clock::event_time(0),
            city_code: city.profile.city_code.into(),
            district_code: d.code.clone(),
            district_name: d.name.clone(),
            street_code: None,
            street_name: None,
            community_code: String::new(),
            community_name: None,
            event_date: None,
            project_id: String::new(),
            parent_project_id: None,
            project_name: String::new(),
            project_type: ProjectType::Other,
            renovation_class: None,
            compound_id: None,
            compound_name: None,
            compound_built_year: None,
            buildings_count: None,
            from_status: None,
            to_status: ProjectStatus::Declared,
            status_date: clock::date(0),
            planned_start_date: None,
            planned_end_date: None,
            quantity_planned: None,
            quantity_completed_cum: None,
            quantity_unit: None,
            households_benefited: None,
            residents_benefited: None,
            elevators_count: None,
            progress_pct: None,
            investment_planned_yuan: None,
            investment_completed_cum_yuan: None,
            funding_central_yuan: None,
            funding_local_yuan: None,
            funding_resident_yuan: None,
            funding_social_yuan: None,
            amount_unit_raw: None,
            implementing_unit: None,
            owner_consent_pct: None,
            remarks: None,
        };
        Self {
            city,
            plan,
            district,
            seed,
            events,
            cursor: 0,
            seen,
            buf,
            tallies: Vec::new(),
        }
    }

    fn materialise(&mut self, project: usize, step: usize, map: &TimeMap) {
        let d = &self.city.districts[self.district];
        let pr = &self.plan.districts[self.district].projects[project];
        let s = pr.steps[step];
        let c = &d.communities[pr.community];
        let b = &mut self.buf;
        let (event_type, from, to) = transition(pr, step);
        let time = map.ms(s.time);
        let uid = rng::hash(&[
            self.seed,
            3,
            self.city.districts[self.district].index as u64,
            project as u64,
            step as u64,
        ]);
        rng::write_uuid7(&mut b.event_id, time, uid, rng::mix64(uid));
        b.event_type = event_type;
        b.event_time = clock::event_time(time);
        let lag = 5 * MINUTE_MS + (rng::mix64(uid ^ 1) % (6 * HOUR_MS as u64)) as i64;
        b.ingest_time = clock::event_time(time + lag);
        b.event_date = Some(clock::date(clock::local_day(time)));
        let street = &d.streets[c.street];
        set_opt(&mut b.street_code, Some(&street.code));
        set_opt(&mut b.street_name, Some(&street.name));
        set(&mut b.community_code, &c.code);
        set_opt(&mut b.community_name, Some(&c.name));
        set(&mut b.project_id, &pr.id);
        set_opt(&mut b.parent_project_id, pr.parent.as_deref());
        set(&mut b.project_name, &pr.name);
        b.project_type = pr.ptype;
        b.renovation_class = Some(pr.class);
        match pr.compound {
            Some(cp) => {
                let _ = write!(
                    opt_buf(&mut b.compound_id),
                    "{}-{}-XQ-{:04}{:02}",
                    self.city.profile.prefix,
                    d.profile.abbr,
                    pr.community,
                    cp
                );
                set_opt(&mut b.compound_name, Some(&c.compounds[cp]));
            }
            None => {
                b.compound_id = None;
                b.compound_name = None;
            }
        }
        b.compound_built_year = pr.built_year;
        b.buildings_count = pr.buildings;
        // Some source systems leave the previous status out.
        b.from_status = from.filter(|_| !rng::hashed_chance(uid ^ 0xF5, 0.1));
        b.to_status = to;
        b.status_date = clock::date(map.day(s.day));
        b.planned_start_date = Some(clock::date(map.day(pr.planned_start)));
        b.planned_end_date = Some(clock::date(map.day(pr.planned_end)));
        b.quantity_planned = Some(Number(pr.quantity));
        // Progress reports sometimes leave a cumulative figure out (carried forward, not 0).
        let progress = s.kind == StepKind::Progress;
        let no_quantity = progress && rng::hashed_chance(uid ^ 0x51, 0.08);
        let no_investment = progress && rng::hashed_chance(uid ^ 0x52, 0.08);
        b.quantity_completed_cum = (!no_quantity).then(|| Number(quantity_done(pr, s.pct)));
        b.quantity_unit = Some(pr.unit);
        b.households_benefited = Some(pr.households);
        b.residents_benefited = Some((f64::from(pr.households) * 2.6).round() as i32);
        b.elevators_count = pr.elevators;
        let started = step_reached(pr, step, StepKind::Started);
        b.progress_pct = started.then_some(Number(s.pct));
        let amount = |yuan: f64| Number(money(yuan, pr.wanyuan));
        b.investment_planned_yuan = Some(amount(pr.invest_planned));
        b.investment_completed_cum_yuan = (!no_investment).then(|| Number(spent(pr, s.pct)));
        let approved = step_reached(pr, step, StepKind::Approved);
        let funds = |i: usize| {
            (approved && pr.funding[i] > 0.0).then(|| amount(pr.invest_planned * pr.funding[i]))
        };
        b.funding_central_yuan = funds(0);
        b.funding_local_yuan = funds(1);
        b.funding_resident_yuan = funds(2);
        b.funding_social_yuan = funds(3);
        b.amount_unit_raw = pr
            .wanyuan
            .then_some(AmountUnit::TenThousandYuan)
            .or_else(|| uid.is_multiple_of(3).then_some(AmountUnit::Yuan));
        set_opt(
            &mut b.implementing_unit,
            approved.then(|| self.city.profile.builders[pr.builder]),
        );
        b.owner_consent_pct = pr.consent.map(Number);
        b.remarks = None;
        match s.kind {
            StepKind::Suspended => set_opt(
                &mut b.remarks,
                Some(rng::choose_by(
                    uid,
                    &[
                        "冬季停工",
                        "居民协商暂停施工",
                        "资金拨付延迟暂停",
                        "配合重大活动暂停施工",
                    ],
                )),
            ),
            StepKind::Withdrawn => set_opt(&mut b.remarks, Some("完工验收不合格，撤回整改")),
            StepKind::Completed if step > 0 && pr.steps[step - 1].kind == StepKind::Completed => {
                set_opt(&mut b.remarks, Some("完工信息更正"))
            }
            StepKind::Cancelled => set_opt(
                &mut b.remarks,
                Some(rng::choose_by(
                    uid,
                    &[
                        "业主意见不统一，项目终止",
                        "资金未落实，项目终止",
                        "规划条件不满足，项目终止",
                    ],
                )),
            ),
            StepKind::Declared if uid.is_multiple_of(20) => {
                let _ = write!(
                    opt_buf(&mut b.remarks),
                    "联系人：{}工 1{}",
                    crate::names::surname(uid as usize % crate::names::SURNAME_COUNT),
                    3_000_000_000 + uid % 6_000_000_000
                );
            }
            _ => {}
        }

        // Ground truth, on the (emitted) status date (definitions: `truth::DEFINITIONS`).
        let day = map.day(s.day);
        let invested = (!no_investment).then(|| invested_fen(pr, s.pct));
        let quantity = (!no_quantity).then(|| landed_hundredths(quantity_done(pr, s.pct)));
        let seen = &mut self.seen[project];
        self.tallies.clear();
        tally(
            pr,
            s.kind,
            to,
            day,
            invested,
            quantity,
            seen,
            &mut self.tallies,
        );
    }
}

/// The truth's tallies of one event of `pr`: `invested` and `quantity` as sent (None when
/// left out), `seen` the project's state before it (updated).
#[allow(clippy::too_many_arguments)]
fn tally(
    pr: &Project,
    kind: StepKind,
    to: ProjectStatus,
    day: i32,
    invested: Option<i64>,
    quantity: Option<i64>,
    seen: &mut Seen,
    t: &mut Vec<Tally>,
) {
    use ProjectStatus as S;
    let mut push = |metric: Metric, day, value: i64| {
        // A distinct key (a community index) may be 0; an amount of 0 adds nothing.
        if value != 0 || metric.is_distinct() {
            t.push(Tally { metric, day, value });
        }
    };
    let was = *seen;
    seen.status = Some(to);
    match kind {
        StepKind::Declared => {
            push(Metric::ProjectsDeclared, day, 1);
            if pr.infill_in_period {
                push(Metric::InfillDeclared, day, 1);
            }
        }
        StepKind::Cancelled => push(Metric::ProjectsCancelled, day, 1),
        _ => {}
    }
    // K17/K18: the project leaves its previous status and enters the new one.
    if was.status != Some(to) {
        if let Some(before) = was.status {
            push(Metric::Status(status_index(before)), day, -1);
        }
        push(Metric::Status(status_index(to)), day, 1);
    }
    // K14/K21: the counted start is the first 'started' after a pre-start status.
    let pre_start = |x: Option<S>| matches!(x, Some(S::Declared | S::Approved));
    if to == S::Started && pre_start(was.status) {
        if let Some(old) = was.started
            && pr.ptype == P::ElevatorRetrofit
        {
            push(
                Metric::ElevatorsStarted,
                old,
                -i64::from(pr.elevators.unwrap_or(0)),
            );
        }
        seen.started = Some(day);
        if pr.ptype == P::ElevatorRetrofit {
            push(
                Metric::ElevatorsStarted,
                day,
                i64::from(pr.elevators.unwrap_or(0)),
            );
        }
    }
    // K13, K15, K16, K21: the counted completion is the first event of the final run of done
    // statuses; leaving that run withdraws it.
    let done = |x: Option<S>| matches!(x, Some(S::Completed | S::Accepted));
    let completion =
        |sign: i64, on: i32, build: Option<i64>, push: &mut dyn FnMut(Metric, i32, i64)| {
            push(Metric::ProjectsCompleted, on, sign);
            match pr.ptype {
                P::ElevatorRetrofit => push(
                    Metric::ElevatorsCompleted,
                    on,
                    sign * i64::from(pr.elevators.unwrap_or(0)),
                ),
                P::AgingFriendlyRetrofit => push(
                    Metric::AgeFriendlyHouseholds,
                    on,
                    sign * i64::from(pr.households),
                ),
                P::OldCompoundRenovation => {
                    push(
                        Metric::OldCompoundHouseholds,
                        on,
                        sign * i64::from(pr.households),
                    );
                    if let Some(cp) = pr.compound {
                        let key = (pr.community as u32) << 8 | cp as u32;
                        push(Metric::Keyed(keyed::COMPOUND_COMPLETION, key), on, sign);
                    }
                }
                _ => {}
            }
            if let Some(days) = build {
                push(Metric::BuildDays, on, sign * days);
                push(Metric::BuildProjects, on, sign);
            }
        };
    if done(Some(to)) && !done(was.status) {
        let build = seen
            .started
            .map(|start| i64::from(day - start))
            .filter(|&d| d >= 0);
        seen.completed = Some((day, build));
        completion(1, day, build, &mut push);
    } else if !done(Some(to))
        && let Some((on, build)) = was.completed
    {
        seen.completed = None;
        completion(-1, on, build, &mut push);
    }
    // K19, K20, K33 and the infill figures: the carried-forward completed investment.
    if let Some(now) = invested {
        seen.invested = now;
        let delta = now - was.invested;
        push(Metric::InvestmentFen, day, delta);
        push(
            Metric::Keyed(keyed::COMMUNITY_INVESTMENT, pr.community as u32),
            day,
            delta,
        );
        if was.invested <= 0 && now > 0 {
            push(Metric::InvestedCommunity, day, pr.community as i64);
        }
        if pr.infill_in_period {
            push(Metric::InfillInvestmentFen, day, delta);
            if was.invested <= 0 && now > 0 {
                push(Metric::InfillCommunity, day, pr.community as i64);
            }
        }
    }
    // K22 (network projects, by unit) and K07 (parking projects counted in 个 that the
    // registry does not list): the change of the carried-forward completed quantity.
    if let Some(now) = quantity {
        seen.quantity = now;
        let metric = if K22_TYPES.contains(&pr.ptype) {
            Some(Metric::Quantity(unit_index(pr.unit)))
        } else if pr.ptype == P::ParkingFacility && pr.unit == U::Piece && !pr.in_registry {
            Some(Metric::ParkingSpacesRenovation)
        } else {
            None
        };
        if let Some(metric) = metric {
            push(metric, day, now - was.quantity);
        }
    }
}

/// Index of `s` in [`ProjectStatus::ALL`].
fn status_index(s: ProjectStatus) -> u8 {
    ProjectStatus::ALL
        .iter()
        .position(|&x| x == s)
        .expect("every status is listed") as u8
}

/// Index of `u` in [`QuantityUnit::ALL`].
fn unit_index(u: QuantityUnit) -> u8 {
    QuantityUnit::ALL
        .iter()
        .position(|&x| x == u)
        .expect("every unit is listed") as u8
}

/// Project types whose completed quantities K22 sums by unit.
pub const K22_TYPES: [ProjectType; 3] = [
    P::OverheadLinesBurial,
    P::PipeNetwork,
    P::RainSewageSeparation,
];

/// The units of the [`K22_TYPES`] projects, in [`QuantityUnit::ALL`] order.
pub fn k22_units() -> Vec<QuantityUnit> {
    QuantityUnit::ALL
        .iter()
        .copied()
        .filter(|&u| {
            KINDS
                .iter()
                .any(|k| K22_TYPES.contains(&k.ptype) && k.unit == u)
        })
        .collect()
}

/// 累计完成量 of `pr` at progress `pct` (0–100): whole units round down, others to hundredths.
fn quantity_done(pr: &Project, pct: f64) -> f64 {
    let frac = pct / 100.0;
    let whole = matches!(
        pr.unit,
        U::Elevator | U::Household | U::Building | U::Piece | U::Site
    );
    if whole {
        (pr.quantity * frac).floor()
    } else {
        (pr.quantity * frac * 100.0).round() / 100.0
    }
}

/// 累计完成投资 of `pr` at progress `pct` (0–100), as the project reports it.
fn spent(pr: &Project, pct: f64) -> f64 {
    money(
        pr.invest_planned * pr.cost_factor * (pct / 100.0),
        pr.wanyuan,
    )
}

/// The landed completed investment (fen) of `pr` at progress `pct`.
fn invested_fen(pr: &Project, pct: f64) -> i64 {
    let unit = if pr.wanyuan {
        AmountUnit::TenThousandYuan
    } else {
        AmountUnit::Yuan
    };
    // The ingest's own conversion: reported amount × unit factor, rounded to fen.
    Yuan::from_f64(spent(pr, pct) * unit.yuan_factor()).map_or(0, |d| d.0 as i64)
}

/// The landed hundredths of a reported quantity.
fn landed_hundredths(v: f64) -> i64 {
    Decimal2::<14>::from_f64(v).map_or(0, |d| d.0 as i64)
}

/// An amount in yuan as the project reports it: 2 decimals in yuan or in 万元.
fn money(yuan: f64, wanyuan: bool) -> f64 {
    if wanyuan {
        (yuan / 100.0).round() / 100.0
    } else {
        (yuan * 100.0).round() / 100.0
    }
}

fn step_reached(pr: &Project, step: usize, kind: StepKind) -> bool {
    pr.steps[..=step].iter().any(|s| s.kind == kind)
}

/// Event type and statuses of step `step`.
fn transition(
    pr: &Project,
    step: usize,
) -> (RenovationEventType, Option<ProjectStatus>, ProjectStatus) {
    use ProjectStatus as S;
    use RenovationEventType as E;
    let prev = if step == 0 {
        None
    } else {
        Some(status_after(pr.steps[step - 1].kind))
    };
    match pr.steps[step].kind {
        StepKind::Declared => (E::Declared, None, S::Declared),
        StepKind::Approved => (E::Approved, prev, S::Approved),
        StepKind::Started | StepKind::Resumed => (E::Started, prev, S::Started),
        StepKind::Progress => (E::ProgressReported, Some(S::Started), S::Started),
        StepKind::Suspended => (E::Suspended, prev, S::Suspended),
        StepKind::Completed => (E::Completed, prev, S::Completed),
        StepKind::Accepted => (E::Accepted, prev, S::Accepted),
        StepKind::Cancelled => (E::Cancelled, prev, S::Cancelled),
        StepKind::Withdrawn => (E::ProgressReported, prev, S::Started),
    }
}

fn status_after(kind: StepKind) -> ProjectStatus {
    match kind {
        StepKind::Declared => ProjectStatus::Declared,
        StepKind::Approved => ProjectStatus::Approved,
        StepKind::Started | StepKind::Resumed | StepKind::Progress | StepKind::Withdrawn => {
            ProjectStatus::Started
        }
        StepKind::Suspended => ProjectStatus::Suspended,
        StepKind::Completed => ProjectStatus::Completed,
        StepKind::Accepted => ProjectStatus::Accepted,
        StepKind::Cancelled => ProjectStatus::Cancelled,
    }
}

impl Generator for RenovationGen {
    fn topic(&self) -> Topic {
        Topic::Renovation
    }

    fn pending_before(&mut self, until: i64) -> usize {
        self.events[self.cursor..].partition_point(|e| e.0 < until)
    }

    fn advance(&mut self, until: i64, map: &TimeMap, out: &mut Chunk) -> Result<(), SimError> {
        while let Some(&(time, project, step)) = self.events.get(self.cursor) {
            if time >= until {
                break;
            }
            self.cursor += 1;
            self.materialise(project as usize, usize::from(step), map);
            let dup = rng::hashed_chance(
                rng::hash(&[
                    self.seed,
                    0xD0,
                    self.city.districts[self.district].index as u64,
                    u64::from(project),
                    u64::from(step),
                ]),
                0.001,
            );
            out.push(
                map.ms(time),
                &self.plan.districts[self.district].projects[project as usize].id,
                &self.buf,
                &self.tallies,
                dup,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;
    use chrono::NaiveDate;

    fn params(scale: f64) -> PlanParams {
        PlanParams {
            seed: 7,
            scale,
            period: Period {
                from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
                to: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
            },
        }
    }

    #[test]
    fn haidian_completions_hit_targets_exactly() {
        let only = vec!["110108".to_owned()];
        let city = City::build(&profile::BEIJING, 1.0, 7, Some(&only)).unwrap();
        let p = params(1.0);
        let plan = Plan::build(&city, p);
        let (from, to) = (p.period.from_day(), p.period.to_day());
        let sum = |ptype: ProjectType, f: fn(&Project) -> f64| {
            plan.districts[0]
                .projects
                .iter()
                .filter(|pr| pr.ptype == ptype)
                .filter(|pr| {
                    pr.completion_day()
                        .is_some_and(|d| (from..=to).contains(&d))
                })
                .map(f)
                .sum::<f64>()
        };
        assert_eq!(
            sum(P::ElevatorRetrofit, |p| f64::from(p.elevators.unwrap())),
            280.0
        );
        assert_eq!(
            sum(P::AgingFriendlyRetrofit, |p| f64::from(p.households)),
            5410.0
        );
        for pr in &plan.districts[0].projects {
            assert!(
                pr.steps
                    .windows(2)
                    .all(|w| w[0].time < w[1].time && w[0].day <= w[1].day && w[0].pct <= w[1].pct),
                "{pr:?}"
            );
        }
    }
}
