//! The facility registry: a starting stock per community across the reference's facility types,
//! then openings, capacity changes, information updates, suspensions, closures and reopenings
//! over the period, and the generator of their `facility_change` events.
//!
//! The cases of real registry feeds are all there: the starting stock is loaded (`存量登记`,
//! historical `opened_date`, a few loaded while suspended) in the week before the period; one
//! new facility in five is registered while planned or under construction (in the loading week
//! with `存量登记`, or in the period with `在建登记`) and opens later (`竣工投用`, an update to
//! operating with its `opened_date`), some never within the period; one in seven is registered
//! weeks late (`补录`), and old facilities found by checks are registered late too (opened
//! before the registry began: stock); information updates and suspensions often leave the
//! capacity fields out; parking projects of the renovation programme completed in the period
//! appear as parking lots whose `source_record_id` is the project's id.
//!
//! Calibrated flows count openings exactly: the period's openings of a calibrated type are
//! counted out, and the capacity of new inclusive childcare centres (parking lots) is sized so
//! the period's additions (growth beyond each facility's high-water mark while operating) hit
//! the target. Calibrated stocks (operating facilities at the end) are made exact after
//! planning by registering more (or fewer) untouched starting facilities.

use std::fmt::Write as _;
use std::sync::Arc;

use civicpulse_core::event::Number;
use civicpulse_core::event::facility::{
    AspectCode, FacilityChange, FacilityEventType, FacilityOp, FacilityStatus, FacilityType,
    OperatorType,
};
use civicpulse_core::geo::{self, CoordSys};

use crate::SimError;
use crate::city::{City, District};
use crate::clock::{self, DAY_MS, HOUR_MS, MINUTE_MS, Period, TimeMap};
use crate::emit::{Chunk, Generator, Metric, Tally, Topic, keyed, set, set_opt};
use crate::names;
use crate::profile::{CityProfile, Figure, FlowKpi, Scope, StockKpi, haidian_rates};
use crate::renovation::{BACKFILL_DAYS, district_flow};
use crate::rng::{self, Purpose, SimRng, apportion, chance, int, uniform};

use FacilityType as F;

/// Capacity fields of a facility.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    /// 托位数.
    pub childcare: i32,
    /// 学位数.
    pub kg_places: i32,
    /// 班数.
    pub kg_classes: i32,
    /// 养老床位数.
    pub beds: i32,
    /// 日供餐能力.
    pub meals: i32,
    /// 车位数.
    pub parking: i32,
    /// 充电桩数.
    pub charging: i32,
    /// 电动自行车充电端口.
    pub ebike: i32,
    /// 其他容量.
    pub other: f64,
}

impl Capacity {
    fn minus(&self, o: &Capacity) -> Capacity {
        Capacity {
            childcare: self.childcare - o.childcare,
            kg_places: self.kg_places - o.kg_places,
            kg_classes: self.kg_classes - o.kg_classes,
            beds: self.beds - o.beds,
            meals: self.meals - o.meals,
            parking: self.parking - o.parking,
            charging: self.charging - o.charging,
            ebike: self.ebike - o.ebike,
            other: self.other - o.other,
        }
    }
}

// Which capacity fields a type reports.
const CHILDCARE: u16 = 1;
const KG: u16 = 2;
const BEDS: u16 = 4;
const MEALS: u16 = 8;
const PARKING: u16 = 16;
const CHARGING: u16 = 32;
const EBIKE: u16 = 64;
const OTHER: u16 = 128;

/// How a facility type behaves.
struct TypeInfo {
    aspect: AspectCode,
    /// Starting stock per community and per street.
    per_community: f64,
    per_street: f64,
    /// Creations per community per year (uncalibrated types).
    creations: f64,
    /// Share of facilities closing per year.
    closures: f64,
    /// Changes per facility per year.
    updates: f64,
    fields: u16,
    other_unit: Option<&'static str>,
}

fn info(t: FacilityType) -> TypeInfo {
    use AspectCode as A;
    let i = |aspect, per_community, per_street, creations, closures, updates, fields| TypeInfo {
        aspect,
        per_community,
        per_street,
        creations,
        closures,
        updates,
        fields,
        other_unit: None,
    };
    match t {
        F::CommunityServiceStation => i(A::BasicPublicService, 1.0, 0.0, 0.005, 0.002, 0.05, 0),
        F::Kindergarten => i(A::BasicPublicService, 0.55, 0.0, 0.01, 0.01, 0.05, KG),
        F::ChildcareCenter => i(
            A::BasicPublicService,
            0.35,
            0.0,
            0.03,
            0.02,
            0.15,
            CHILDCARE,
        ),
        F::ElderlyServiceCenter => i(
            A::BasicPublicService,
            0.0,
            0.7,
            0.0,
            0.005,
            0.1,
            BEDS | MEALS,
        ),
        F::ElderlyCareStation => i(
            A::BasicPublicService,
            0.35,
            0.0,
            0.0,
            0.015,
            0.1,
            BEDS | MEALS,
        ),
        F::ElderlyDayCare => i(A::BasicPublicService, 0.1, 0.0, 0.0, 0.01, 0.1, BEDS),
        F::MealAssistancePoint => i(A::BasicPublicService, 0.4, 0.0, 0.0, 0.03, 0.05, MEALS),
        F::CommunityCanteen => i(A::BasicPublicService, 0.08, 0.0, 0.0, 0.03, 0.05, MEALS),
        F::HealthStation => i(A::BasicPublicService, 0.5, 0.0, 0.01, 0.005, 0.03, 0),
        F::HealthCenter => i(A::BasicPublicService, 0.0, 1.0, 0.0, 0.002, 0.03, 0),
        F::Supermarket => i(A::ConvenienceCommerce, 0.6, 0.0, 0.04, 0.04, 0.03, 0),
        F::ConvenienceStore => i(A::ConvenienceCommerce, 2.5, 0.0, 0.15, 0.06, 0.02, 0),
        F::VegetableStore => i(A::ConvenienceCommerce, 0.6, 0.0, 0.04, 0.04, 0.02, 0),
        F::ParcelLocker => TypeInfo {
            other_unit: Some("格口"),
            ..i(A::ConvenienceCommerce, 3.0, 0.0, 0.3, 0.03, 0.05, OTHER)
        },
        F::ConvenienceBusiness => i(A::ConvenienceCommerce, 4.0, 0.0, 0.4, 0.08, 0.02, 0),
        F::ParkingLot => i(
            A::MunicipalInfra,
            1.2,
            0.0,
            0.0,
            0.01,
            0.08,
            PARKING | CHARGING,
        ),
        F::EvCharger => i(A::MunicipalInfra, 1.5, 0.0, 0.25, 0.01, 0.2, CHARGING),
        F::EbikeCharging => i(A::MunicipalInfra, 1.0, 0.0, 0.15, 0.02, 0.1, EBIKE),
        F::PublicActivitySpace => i(A::PublicSpace, 1.0, 0.0, 0.05, 0.005, 0.02, 0),
        F::FitnessSpace => i(A::PublicSpace, 0.5, 0.0, 0.05, 0.01, 0.02, 0),
        F::PublicGreenSpace => i(A::PublicSpace, 0.7, 0.0, 0.04, 0.002, 0.01, 0),
        F::CulturalCenter => i(A::Governance, 0.45, 0.0, 0.02, 0.005, 0.02, 0),
        F::DeliberationHall => i(A::Governance, 0.2, 0.0, 0.03, 0.005, 0.02, 0),
        F::PropertyServiceRoom => i(A::PropertyMgmt, 0.8, 0.0, 0.02, 0.01, 0.01, 0),
        F::WasteSortingPoint => TypeInfo {
            other_unit: Some("桶"),
            ..i(A::MunicipalInfra, 3.0, 0.0, 0.1, 0.02, 0.03, OTHER)
        },
        F::PublicToilet => i(A::MunicipalInfra, 0.6, 0.0, 0.01, 0.005, 0.01, 0),
        F::Other => TypeInfo {
            other_unit: Some("处"),
            ..i(A::Governance, 0.2, 0.0, 0.02, 0.02, 0.01, OTHER)
        },
    }
}

/// Index of `t` in [`FacilityType::ALL`]: the per-type stock metric.
pub fn type_index(t: FacilityType) -> u8 {
    FacilityType::ALL
        .iter()
        .position(|&x| x == t)
        .expect("every type is listed") as u8
}

/// A facility of the registry.
#[derive(Debug, Clone)]
pub struct Facility {
    /// 设施编号 (assigned when the plan is final).
    pub id: String,
    /// 设施类型.
    pub ftype: FacilityType,
    /// Community index in the district.
    pub community: usize,
    /// 设施名称.
    pub name: String,
    /// 设施子类.
    pub subtype: Option<&'static str>,
    /// 运营主体类型.
    pub operator: OperatorType,
    /// 是否普惠.
    pub inclusive: Option<bool>,
    /// 是否嵌入式.
    pub embedded: Option<bool>,
    /// 建筑面积.
    pub floor: Option<f64>,
    /// 用地面积.
    pub land: Option<f64>,
    /// 地址.
    pub address: String,
    /// Raw coordinates (in the registry's coordinate system).
    pub lng: f64,
    /// Raw latitude.
    pub lat: f64,
    /// Whether it was in the starting stock.
    pub baseline: bool,
    /// 源系统记录号: the renovation project it was built by (parking lots), if any.
    pub source_record: Option<String>,
    /// Whether it serves its community's 15-minute life circle rather than the 5-minute one.
    pub circle15: bool,
    /// Opening day (historical for the starting stock).
    pub opened: Option<i32>,
}

/// A change of a facility.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    /// Simulated instant.
    pub time: i64,
    /// Facility index.
    pub facility: u32,
    /// 操作.
    pub op: FacilityOp,
    /// 运营状态 after the change.
    pub status: FacilityStatus,
    /// Capacities after the change.
    pub cap: Capacity,
    /// Capacity deltas.
    pub delta: Capacity,
    /// 开业日期 after the change.
    pub opened: Option<i32>,
    /// 关闭日期 after the change.
    pub closed: Option<i32>,
    /// 变更原因.
    pub reason: &'static str,
    /// The event leaves every capacity and area field out (NULL: carried forward).
    pub no_capacity: bool,
}

/// How a facility enters the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Starting stock: operating since its opening day, loaded (存量登记) in the week before
    /// the period.
    Stock,
    /// Registered on its opening day (新建).
    New,
    /// Registered while planned or under construction on `registered` (in the loading week,
    /// with 存量登记, when that is before the period); opens on its opening day if that is in
    /// the period.
    Building {
        /// Registration day.
        registered: i32,
        /// Planned rather than under construction.
        planned: bool,
    },
    /// Registered late (补录) on `registered`, weeks after its opening day.
    Late {
        /// Registration day.
        registered: i32,
    },
}

/// The facility registry of one district.
#[derive(Debug, Clone, Default)]
pub struct DistrictRegistry {
    /// Facilities.
    pub facilities: Vec<Facility>,
    /// Changes, sorted by time.
    pub changes: Vec<Change>,
}

/// A facility while planning, with its capacity and changes.
struct Draft {
    f: Facility,
    cap: Capacity,
    created: i32,
    changes: Vec<Change>,
    /// Calibrated creations get no later changes, so their sizes set the period's sum.
    frozen: bool,
}

/// Plans the registry of district `d`; `projects` are its renovation projects (parking projects
/// completed in the period are registered as parking lots too).
pub fn plan(
    profile: &'static CityProfile,
    d: &District,
    seed: u64,
    scale: f64,
    period: Period,
    projects: &[crate::renovation::Project],
) -> DistrictRegistry {
    let mut rng = rng::rng(seed, Purpose::Facility, d.index as u64);
    let years = period.years();
    let from = period.from_day();
    let to = period.to_day();
    let n_comm = d.communities.len() as f64;
    let n_street = d.streets.len() as f64;
    let ctx = Ctx {
        profile,
        d,
        from,
        to,
    };

    // Creations in the period: calibrated counts, or natural rates.
    let count = |rng: &mut SimRng, kpi: FlowKpi, default: f64| {
        let annual = district_flow(profile, d, kpi, default) * scale * years;
        // Exact at scale 1.0; random rounding keeps small scales unbiased.
        if annual >= 1.0 {
            annual.round() as u64
        } else {
            rng::stochastic_round(rng, annual)
        }
    };
    let mut creations: Vec<(FacilityType, u64)> = Vec::new();
    let centres = count(
        &mut rng,
        FlowKpi::ElderlyServiceCentres,
        haidian_rates::SERVICE_CENTRES,
    );
    creations.push((F::ElderlyServiceCenter, centres));
    let stations = count(
        &mut rng,
        FlowKpi::ElderlyCareStations,
        haidian_rates::CARE_STATIONS,
    );
    let day_care = (0..stations).filter(|_| chance(&mut rng, 0.15)).count() as u64;
    creations.push((F::ElderlyCareStation, stations - day_care));
    creations.push((F::ElderlyDayCare, day_care));
    let meals = count(&mut rng, FlowKpi::MealPoints, haidian_rates::MEAL_POINTS);
    let canteens = (0..meals).filter(|_| chance(&mut rng, 0.12)).count() as u64;
    creations.push((F::MealAssistancePoint, meals - canteens));
    creations.push((F::CommunityCanteen, canteens));
    for &t in FacilityType::ALL {
        let r = info(t).creations;
        if r > 0.0 && !matches!(t, F::ParkingLot) {
            creations.push((t, rng::stochastic_round(&mut rng, r * n_comm * years)));
        }
    }

    // Starting stock: natural counts, then the stock figures of the city.
    let natural: Vec<f64> = FacilityType::ALL
        .iter()
        .map(|&t| {
            let i = info(t);
            (i.per_community * n_comm + i.per_street * n_street) * profile.stock_factor
        })
        .collect();
    let mut base: Vec<u64> = natural
        .iter()
        .map(|&x| rng::stochastic_round(&mut rng, x))
        .collect();
    let created_of = |t: FacilityType| {
        creations
            .iter()
            .filter(|c| c.0 == t)
            .map(|c| c.1)
            .sum::<u64>()
    };
    let stock_targets = stock_targets(profile, d, scale);
    let mut calibrated = vec![false; FacilityType::ALL.len()];
    for (kpi, target) in &stock_targets {
        if let StockKpi::Types(types) = kpi {
            let weights: Vec<f64> = types
                .iter()
                .map(|&t| natural[type_index(t) as usize].max(0.01))
                .collect();
            let created: u64 = types.iter().map(|&t| created_of(t)).sum();
            let want = target.saturating_sub(created);
            for (t, n) in types.iter().zip(apportion(want, &weights)) {
                base[type_index(*t) as usize] = n;
                calibrated[type_index(*t) as usize] = true;
            }
        }
    }
    if let Some((_, total)) = stock_targets.iter().find(|(k, _)| *k == StockKpi::All) {
        let fixed: u64 = (0..base.len())
            .filter(|&i| calibrated[i])
            .map(|i| base[i] + created_of(FacilityType::ALL[i]))
            .sum();
        let free_created: u64 = (0..base.len())
            .filter(|&i| !calibrated[i])
            .map(|i| created_of(FacilityType::ALL[i]))
            .sum();
        let want = total.saturating_sub(fixed + free_created);
        let weights: Vec<f64> = (0..base.len())
            .map(|i| if calibrated[i] { 0.0 } else { natural[i] })
            .collect();
        for (i, n) in apportion(want, &weights).into_iter().enumerate() {
            if !calibrated[i] {
                base[i] = n;
            }
        }
    }

    let mut drafts: Vec<Draft> = Vec::new();
    let mut stock_total = 0u64;
    for (i, &n) in base.iter().enumerate() {
        let t = FacilityType::ALL[i];
        stock_total += n;
        for _ in 0..n {
            let community = pick_community(&mut rng, d);
            let opened = from - int(&mut rng, 200, 7000) as i32;
            let draft = ctx.new_facility(&mut rng, t, community, None, Mode::Stock, opened);
            drafts.push(draft);
        }
    }
    for &(t, n) in &creations {
        let frozen = matches!(
            t,
            F::ElderlyServiceCenter
                | F::ElderlyCareStation
                | F::ElderlyDayCare
                | F::MealAssistancePoint
                | F::CommunityCanteen
        );
        for _ in 0..n {
            let community = pick_community(&mut rng, d);
            let day = int(&mut rng, i64::from(from), i64::from(to)) as i32;
            let mode = ctx.new_mode(&mut rng, day);
            let mut draft = ctx.new_facility(&mut rng, t, community, None, mode, day);
            draft.frozen = frozen;
            drafts.push(draft);
        }
        // The pipeline: registered under construction late in the period, opening after it
        // (registrations, not openings: never counted as new in the period).
        if frozen {
            for _ in 0..rng::stochastic_round(&mut rng, n as f64 * 0.15) {
                let community = pick_community(&mut rng, d);
                let registered = (to - int(&mut rng, 0, 120) as i32).max(from);
                let day = to + int(&mut rng, 30, 200) as i32;
                let planned = chance(&mut rng, 0.3);
                let mode = Mode::Building {
                    registered,
                    planned,
                };
                let mut draft = ctx.new_facility(&mut rng, t, community, None, mode, day);
                draft.frozen = true;
                drafts.push(draft);
            }
        }
    }
    // Old facilities found by checks and registered late (补录): opened before the registry
    // began, so stock, not new.
    let old = rng::stochastic_round(&mut rng, stock_total as f64 * 0.01 * years);
    for _ in 0..old {
        let i = rng::pick(&mut rng, &natural);
        let t = FacilityType::ALL[i];
        let community = pick_community(&mut rng, d);
        let registered = int(&mut rng, i64::from(from), i64::from(to)) as i32;
        let day = from - int(&mut rng, 200, 5000) as i32;
        let mode = Mode::Late { registered };
        drafts.push(ctx.new_facility(&mut rng, t, community, None, mode, day));
    }
    // Parking projects completed in the period that the registry lists too (K07 de-duplication:
    // the lot's source_record_id is the project's id).
    for pr in projects.iter().filter(|pr| pr.in_registry) {
        let Some(done) = pr.completion_day() else {
            continue;
        };
        if !(from..=to).contains(&done) {
            continue;
        }
        let mut draft =
            ctx.new_facility(&mut rng, F::ParkingLot, pr.community, None, Mode::New, done);
        let spaces = pr.quantity.round() as i32;
        for c in &mut draft.changes {
            c.cap.parking = spaces;
        }
        draft.changes[0].delta.parking = spaces;
        draft.cap.parking = spaces;
        draft.f.source_record = Some(pr.id.clone());
        draft.f.land = Some(f64::from(spaces) * 25.0);
        draft.frozen = true;
        drafts.push(draft);
    }
    // Changes of every facility over the period.
    for draft in &mut drafts {
        ctx.lifecycle(&mut rng, draft, years);
    }
    // Sized creations: inclusive childcare places and parking spaces.
    let places = district_flow(
        profile,
        d,
        FlowKpi::InclusiveChildcarePlaces,
        haidian_rates::CHILDCARE_PLACES,
    ) * scale
        * years;
    ctx.sized_creations(
        &mut rng,
        &mut drafts,
        F::ChildcareCenter,
        places.round() as i64,
        60.0,
        |c| c.childcare,
        |c, v| c.childcare = v,
    );
    let spaces =
        district_flow(profile, d, FlowKpi::ParkingSpaces, haidian_rates::PARKING) * scale * years;
    ctx.sized_creations(
        &mut rng,
        &mut drafts,
        F::ParkingLot,
        spaces.round() as i64,
        120.0,
        |c| c.parking,
        |c, v| c.parking = v,
    );

    // Exact stock figures: add or drop untouched starting facilities.
    for (kpi, target) in &stock_targets {
        match kpi {
            StockKpi::Types(types) => fix_count(&ctx, &mut rng, &mut drafts, types, *target),
            StockKpi::All => {
                let all: Vec<FacilityType> = (0..base.len())
                    .filter(|&i| !calibrated[i])
                    .map(|i| FacilityType::ALL[i])
                    .collect();
                let fixed: u64 = stock_targets
                    .iter()
                    .filter_map(|(k, v)| matches!(k, StockKpi::Types(_)).then_some(*v))
                    .sum();
                fix_count(
                    &ctx,
                    &mut rng,
                    &mut drafts,
                    &all,
                    target.saturating_sub(fixed),
                );
            }
            StockKpi::ChargingPoints => fix_charging(&mut drafts, *target as i64),
        }
    }
    ctx.finish(&mut rng, drafts)
}

/// Stock figures of district `d` at scale: (what, count at period end).
fn stock_targets(profile: &CityProfile, d: &District, scale: f64) -> Vec<(StockKpi, u64)> {
    let weights: Vec<f64> = profile
        .districts
        .iter()
        .map(|p| f64::from(p.population))
        .collect();
    profile
        .targets
        .iter()
        .filter_map(|t| {
            let Figure::Stock(kpi, v) = t.figure else {
                return None;
            };
            let n = match t.scope {
                Scope::District(code) if code == d.profile.code => (v * scale).round() as u64,
                Scope::District(_) => return None,
                Scope::City => apportion((v * scale).round() as u64, &weights)[d.index],
            };
            Some((kpi, n))
        })
        .collect()
}

fn pick_community(rng: &mut SimRng, d: &District) -> usize {
    int(rng, 0, d.communities.len() as i64 - 1) as usize
}

/// Whether a facility is operating at the end of the period.
fn open_at_end(draft: &Draft) -> bool {
    draft
        .changes
        .last()
        .is_some_and(|c| c.status == FacilityStatus::Operating)
}

fn fix_count(
    ctx: &Ctx,
    rng: &mut SimRng,
    drafts: &mut Vec<Draft>,
    types: &[FacilityType],
    target: u64,
) {
    let current = drafts
        .iter()
        .filter(|x| types.contains(&x.f.ftype) && open_at_end(x))
        .count() as u64;
    if current < target {
        let weights: Vec<f64> = types
            .iter()
            .map(|&t| {
                let i = info(t);
                i.per_community + i.per_street + 0.01
            })
            .collect();
        for _ in current..target {
            let t = types[rng::pick(rng, &weights)];
            let community = pick_community(rng, ctx.d);
            let day = ctx.from - int(rng, 200, 7000) as i32;
            drafts.push(ctx.new_facility(rng, t, community, None, Mode::Stock, day));
        }
    } else {
        let mut excess = current - target;
        // Drop the last untouched starting facilities of these types.
        let mut i = drafts.len();
        while excess > 0 && i > 0 {
            i -= 1;
            let x = &drafts[i];
            if x.f.baseline && types.contains(&x.f.ftype) && x.changes.len() == 1 && open_at_end(x)
            {
                drafts.remove(i);
                excess -= 1;
            }
        }
    }
}

fn fix_charging(drafts: &mut [Draft], target: i64) {
    let end: i64 = drafts
        .iter()
        .filter(|x| x.f.ftype == F::EvCharger && open_at_end(x))
        .filter_map(|x| x.changes.last())
        .map(|c| i64::from(c.cap.charging))
        .sum();
    let mut diff = target - end;
    let untouched: Vec<usize> = (0..drafts.len())
        .filter(|&i| {
            drafts[i].f.ftype == F::EvCharger
                && drafts[i].f.baseline
                && drafts[i].changes.len() == 1
                && open_at_end(&drafts[i])
        })
        .collect();
    if untouched.is_empty() {
        return;
    }
    // Spread the difference evenly, keeping at least two points per facility.
    for (k, &i) in untouched.iter().enumerate() {
        let left = (untouched.len() - k) as i64;
        let share = diff / left;
        let c = &mut drafts[i].changes[0];
        let new = (i64::from(c.cap.charging) + share).max(2);
        diff -= new - i64::from(c.cap.charging);
        c.cap.charging = new as i32;
        c.delta.charging = new as i32;
        drafts[i].cap.charging = new as i32;
    }
    // What the floor of two points left over goes to the largest.
    if diff != 0
        && let Some(&i) = untouched
            .iter()
            .max_by_key(|&&i| (drafts[i].cap.charging, std::cmp::Reverse(i)))
    {
        let new = (i64::from(drafts[i].cap.charging) + diff).max(2) as i32;
        let c = &mut drafts[i].changes[0];
        c.cap.charging = new;
        c.delta.charging = new;
        drafts[i].cap.charging = new;
    }
}

struct Ctx<'a> {
    profile: &'static CityProfile,
    d: &'a District,
    from: i32,
    to: i32,
}

impl Ctx<'_> {
    fn office_time(&self, rng: &mut SimRng, day: i32) -> i64 {
        clock::day_start(day) + 9 * HOUR_MS + int(rng, 0, 9 * 60) * MINUTE_MS
    }

    /// A new facility of type `t` created (or, for the starting stock, opened) on `day`.
    fn new_facility(
        &self,
        rng: &mut SimRng,
        t: FacilityType,
        community: usize,
        inclusive: Option<bool>,
        mode: Mode,
        day: i32,
    ) -> Draft {
        let baseline = mode == Mode::Stock;
        let c = &self.d.communities[community];
        let street = &self.d.streets[c.street];
        let cm = names::short(&c.name);
        let compound = rng::choose(rng, &c.compounds).clone();
        let inclusive = inclusive.or(match t {
            F::ChildcareCenter => Some(chance(rng, 0.7)),
            F::Kindergarten => Some(chance(rng, 0.7)),
            F::ElderlyServiceCenter
            | F::ElderlyCareStation
            | F::ElderlyDayCare
            | F::MealAssistancePoint
            | F::CommunityCanteen => Some(chance(rng, 0.8)),
            _ => None,
        });
        let embedded = matches!(
            t,
            F::ChildcareCenter | F::ElderlyCareStation | F::ElderlyDayCare | F::MealAssistancePoint
        )
        .then(|| chance(rng, 0.6));
        let (name, subtype) = facility_name(
            rng,
            t,
            cm,
            names::short(&street.name),
            &compound,
            inclusive == Some(true),
        );
        let operator = operator(rng, t);
        let mut cap = Capacity::default();
        let (mut floor, mut land) = (None, None);
        let lognorm = |rng: &mut SimRng, m: f64, s: f64, lo: f64, hi: f64| {
            rng::lognormal(rng, m, s).clamp(lo, hi).round()
        };
        match t {
            F::CommunityServiceStation => floor = Some(uniform(rng, 600.0, 1000.0)),
            F::ChildcareCenter => {
                cap.childcare = (lognorm(rng, 60.0, 0.4, 20.0, 200.0) / 5.0).round() as i32 * 5;
                floor = Some(f64::from(cap.childcare) * uniform(rng, 5.0, 9.0) + 60.0);
            }
            F::Kindergarten => {
                cap.kg_classes = int(rng, 6, 12) as i32;
                cap.kg_places = cap.kg_classes * int(rng, 25, 30) as i32;
                floor = Some(uniform(rng, 2200.0, 4500.0));
                land = Some(uniform(rng, 3500.0, 7000.0));
            }
            F::ElderlyServiceCenter => {
                cap.beds = int(rng, 20, 120) as i32;
                cap.meals = int(rng, 100, 400) as i32;
                floor = Some(uniform(rng, 800.0, 3000.0));
            }
            F::ElderlyCareStation => {
                cap.beds = if chance(rng, 0.5) {
                    0
                } else {
                    int(rng, 4, 20) as i32
                };
                cap.meals = int(rng, 30, 150) as i32;
                floor = Some(uniform(rng, 150.0, 600.0));
            }
            F::ElderlyDayCare => {
                cap.beds = int(rng, 10, 40) as i32;
                floor = Some(uniform(rng, 350.0, 750.0));
            }
            F::MealAssistancePoint => {
                cap.meals = int(rng, 50, 300) as i32;
                floor = Some(uniform(rng, 50.0, 300.0));
            }
            F::CommunityCanteen => {
                cap.meals = int(rng, 200, 1000) as i32;
                floor = Some(uniform(rng, 200.0, 800.0));
            }
            F::HealthStation => floor = Some(uniform(rng, 120.0, 270.0)),
            F::HealthCenter => floor = Some(uniform(rng, 1000.0, 4000.0)),
            F::Supermarket => floor = Some(uniform(rng, 300.0, 3000.0)),
            F::ConvenienceStore => floor = Some(uniform(rng, 50.0, 200.0)),
            F::VegetableStore => floor = Some(uniform(rng, 100.0, 800.0)),
            F::ParcelLocker => cap.other = int(rng, 60, 400) as f64,
            F::ConvenienceBusiness => floor = Some(uniform(rng, 20.0, 200.0)),
            F::ParkingLot => {
                cap.parking = lognorm(rng, 120.0, 0.6, 20.0, 800.0) as i32;
                cap.charging = if chance(rng, 0.3) {
                    (f64::from(cap.parking) * uniform(rng, 0.05, 0.2)).round() as i32
                } else {
                    0
                };
                land = Some(f64::from(cap.parking) * 25.0);
            }
            F::EvCharger => cap.charging = lognorm(rng, 40.0, 0.7, 2.0, 300.0) as i32,
            F::EbikeCharging => cap.ebike = int(rng, 10, 120) as i32,
            F::PublicActivitySpace => land = Some(uniform(rng, 150.0, 3000.0)),
            F::FitnessSpace => floor = Some(uniform(rng, 100.0, 800.0)),
            F::PublicGreenSpace => land = Some(uniform(rng, 400.0, 10000.0)),
            F::CulturalCenter => floor = Some(uniform(rng, 250.0, 1200.0)),
            F::DeliberationHall => floor = Some(uniform(rng, 30.0, 150.0)),
            F::PropertyServiceRoom => floor = Some(uniform(rng, 50.0, 300.0)),
            F::WasteSortingPoint => cap.other = int(rng, 4, 12) as f64,
            F::PublicToilet => floor = Some(uniform(rng, 30.0, 80.0)),
            F::Other => cap.other = 1.0,
        }
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        let wgs = (
            c.lng + rng::normal(rng) * 0.004,
            c.lat + rng::normal(rng) * 0.003,
        );
        let (lng, lat) = raw_coords(self.profile.facility_coords, wgs);
        let address = format!(
            "{}{}{}{}{}号",
            self.profile.name_zh,
            self.d.name,
            street.name,
            names::road(rng),
            int(rng, 1, 300)
        );
        let f = Facility {
            id: String::new(),
            ftype: t,
            community,
            name,
            subtype,
            operator,
            inclusive,
            embedded,
            floor: floor.map(round2),
            land: land.map(round2),
            address,
            lng: (lng * 1e6).round() / 1e6,
            lat: (lat * 1e6).round() / 1e6,
            baseline,
            source_record: None,
            // Street-level facilities, and some larger ones, serve a 15-minute circle.
            circle15: serves_circle15(t)
                || (matches!(
                    t,
                    F::CommunityServiceStation
                        | F::CulturalCenter
                        | F::FitnessSpace
                        | F::Supermarket
                ) && chance(rng, 0.25)),
            opened: Some(day),
        };
        let loading = |rng: &mut SimRng| {
            clock::day_start(self.from - BACKFILL_DAYS)
                + int(rng, 0, i64::from(BACKFILL_DAYS) * DAY_MS - 1000) / 1000 * 1000
        };
        let change = |time, status, opened, reason| Change {
            time,
            facility: 0,
            op: FacilityOp::Create,
            status,
            cap,
            delta: cap,
            opened,
            closed: None,
            reason,
            no_capacity: false,
        };
        let mut changes = Vec::new();
        let mut opened = Some(day);
        match mode {
            Mode::Stock => {
                // A few are loaded while suspended (stock, but not operating).
                let status = if chance(rng, 0.01) {
                    FacilityStatus::Suspended
                } else {
                    FacilityStatus::Operating
                };
                changes.push(change(loading(rng), status, Some(day), "存量登记"));
            }
            Mode::New => {
                changes.push(change(
                    self.office_time(rng, day),
                    FacilityStatus::Operating,
                    Some(day),
                    "新建",
                ));
            }
            Mode::Late { registered } => {
                changes.push(change(
                    self.office_time(rng, registered),
                    FacilityStatus::Operating,
                    Some(day),
                    "补录",
                ));
            }
            Mode::Building {
                registered,
                planned,
            } => {
                let status = if planned {
                    FacilityStatus::Planned
                } else {
                    FacilityStatus::UnderConstruction
                };
                let (time, reason) = if registered < self.from {
                    (loading(rng), "存量登记")
                } else {
                    (self.office_time(rng, registered), "在建登记")
                };
                let mut first = change(time, status, None, reason);
                first.delta = Capacity::default();
                changes.push(first);
                opened = None;
                if day <= self.to {
                    // The opening is reported on the day or a few days later.
                    let late = if chance(rng, 0.3) {
                        int(rng, 1, 7) as i32
                    } else {
                        0
                    };
                    let report = (day + late).min(self.to);
                    let time = self
                        .office_time(rng, report)
                        .max(changes[0].time + MINUTE_MS);
                    opened = Some(day);
                    changes.push(Change {
                        op: FacilityOp::Update,
                        delta: cap,
                        ..change(time, FacilityStatus::Operating, Some(day), "竣工投用")
                    });
                }
            }
        }
        let created = changes
            .last()
            .map_or(day, |c| clock::local_day(c.time).max(day));
        Draft {
            f: Facility { opened, ..f },
            cap,
            created,
            changes,
            frozen: false,
        }
    }

    /// How a facility opening on `day` in the period enters the registry: most the day they
    /// open, one in five registered while being built, one in seven weeks late (补录).
    fn new_mode(&self, rng: &mut SimRng, day: i32) -> Mode {
        let r = rng::unit(rng);
        if r < 0.2 {
            Mode::Building {
                registered: day - int(rng, 30, 240) as i32,
                planned: chance(rng, 0.3),
            }
        } else if r < 0.35 {
            let registered = day + int(rng, 14, 60) as i32;
            if registered <= self.to {
                Mode::Late { registered }
            } else {
                Mode::New
            }
        } else {
            Mode::New
        }
    }

    /// Capacity changes, information updates, a suspension or a closure (and maybe a
    /// resumption or reopening) over the period.
    fn lifecycle(&self, rng: &mut SimRng, draft: &mut Draft, years: f64) {
        if draft.frozen {
            return;
        }
        let Some(last) = draft.changes.last().copied() else {
            return;
        };
        if last.status != FacilityStatus::Operating {
            return;
        }
        let i = info(draft.f.ftype);
        let start = draft.created.max(self.from) + 1;
        if start > self.to {
            return;
        }
        let day_in = |rng: &mut SimRng| int(rng, i64::from(start), i64::from(self.to)) as i32;
        // (day, is a capacity change) of the updates.
        let mut days: Vec<(i32, bool)> = Vec::new();
        for _ in 0..rng::poisson(rng, i.updates * years) {
            days.push((day_in(rng), true));
        }
        for _ in 0..rng::poisson(rng, 0.05 * years) {
            days.push((day_in(rng), false));
        }
        days.sort_unstable();
        let close = chance(rng, i.closures * years).then(|| day_in(rng));
        let suspend = (close.is_none() && chance(rng, 0.03 * years)).then(|| day_in(rng));
        let stop = close.or(suspend).unwrap_or(i32::MAX);
        let mut cap = draft.cap;
        let mut last_day = clock::local_day(last.time);
        let opened = last.opened;
        let update = |time, cap, delta, reason| Change {
            time,
            facility: 0,
            op: FacilityOp::Update,
            status: FacilityStatus::Operating,
            cap,
            delta,
            opened,
            closed: None,
            reason,
            no_capacity: false,
        };
        for (day, capacity) in days {
            if day >= stop || day <= last_day {
                continue;
            }
            let time = self.office_time(rng, day);
            last_day = day;
            if !capacity {
                // Address, operator or contact changes: many registries leave the capacity
                // fields empty on such updates.
                let mut c = update(time, cap, Capacity::default(), "信息变更");
                c.no_capacity = chance(rng, 0.6);
                draft.changes.push(c);
                continue;
            }
            let mut new = cap;
            let reason = if i.fields & CHILDCARE != 0 {
                new.childcare = (cap.childcare
                    + if chance(rng, 0.8) {
                        int(rng, 5, 30)
                    } else {
                        -int(rng, 5, 20)
                    } as i32)
                    .max(10);
                if new.childcare > cap.childcare {
                    "扩容"
                } else {
                    "缩减"
                }
            } else if i.fields & PARKING != 0 {
                new.parking = (cap.parking
                    + if chance(rng, 0.8) {
                        int(rng, 10, 80)
                    } else {
                        -int(rng, 5, 30)
                    } as i32)
                    .max(10);
                if chance(rng, 0.3) {
                    new.charging = cap.charging + int(rng, 2, 10) as i32;
                }
                if new.parking > cap.parking {
                    "扩容"
                } else {
                    "缩减"
                }
            } else if i.fields & CHARGING != 0 {
                new.charging = (cap.charging
                    + if chance(rng, 0.9) {
                        int(rng, 2, 20)
                    } else {
                        -int(rng, 1, 5)
                    } as i32)
                    .max(2);
                "扩容"
            } else if i.fields & BEDS != 0 {
                new.beds = (cap.beds + int(rng, -5, 15) as i32).max(0);
                "床位调整"
            } else {
                "信息变更"
            };
            draft
                .changes
                .push(update(time, new, new.minus(&cap), reason));
            cap = new;
        }
        if let Some(day) = suspend
            && day > last_day
        {
            let mut c = update(
                self.office_time(rng, day),
                cap,
                Capacity::default(),
                "暂停营业",
            );
            c.status = FacilityStatus::Suspended;
            c.no_capacity = chance(rng, 0.5);
            draft.changes.push(c);
            let back = day + int(rng, 20, 150) as i32;
            if chance(rng, 0.7) && back <= self.to {
                let c = update(
                    self.office_time(rng, back),
                    cap,
                    Capacity::default(),
                    "恢复营业",
                );
                draft.changes.push(c);
            }
        }
        if let Some(day) = close
            && day > last_day
        {
            let zero = Capacity {
                kg_classes: cap.kg_classes,
                other: cap.other,
                ..Capacity::default()
            };
            draft.changes.push(Change {
                time: self.office_time(rng, day),
                facility: 0,
                op: FacilityOp::Close,
                status: FacilityStatus::Closed,
                cap: zero,
                delta: zero.minus(&cap),
                opened,
                closed: Some(day),
                reason: rng::choose_copy(rng, &["撤并", "关停", "租约到期", "经营不善关闭"]),
                no_capacity: false,
            });
            // A quarter reopen after a few months (the registry keeps the opening date).
            let back = day + int(rng, 30, 200) as i32;
            if chance(rng, 0.25) && back <= self.to {
                draft.changes.push(Change {
                    time: self.office_time(rng, back),
                    facility: 0,
                    op: FacilityOp::Reopen,
                    status: FacilityStatus::Operating,
                    cap,
                    delta: cap.minus(&zero),
                    opened,
                    closed: None,
                    reason: "重新开放",
                    no_capacity: false,
                });
            }
        }
    }

    /// New facilities of type `t` whose sizes make the period's net change of `get` equal
    /// `target` (inclusive childcare centres for childcare places).
    #[allow(clippy::too_many_arguments)]
    fn sized_creations(
        &self,
        rng: &mut SimRng,
        drafts: &mut Vec<Draft>,
        t: FacilityType,
        target: i64,
        mean: f64,
        get: fn(&Capacity) -> i32,
        put: fn(&mut Capacity, i32),
    ) {
        let counts =
            |x: &Draft| x.f.ftype == t && (t != F::ChildcareCenter || x.f.inclusive == Some(true));
        let existing: i64 = drafts
            .iter()
            .filter(|x| counts(x))
            .map(|x| self.additions(x, get))
            .sum();
        let rest = target - existing;
        if rest <= 0 {
            return;
        }
        let n = ((rest as f64 / mean).round() as i64).clamp(1, (rest / 10).max(1));
        let raw: Vec<f64> = (0..n).map(|_| rng::lognormal(rng, mean, 0.4)).collect();
        let parts = apportion(rest as u64, &raw);
        for part in parts {
            let community = pick_community(rng, self.d);
            let day = int(rng, i64::from(self.from), i64::from(self.to)) as i32;
            let inclusive = (t == F::ChildcareCenter).then_some(true);
            let mode = self.new_mode(rng, day);
            let mut draft = self.new_facility(rng, t, community, inclusive, mode, day);
            put(&mut draft.cap, part as i32);
            for c in &mut draft.changes {
                put(&mut c.cap, part as i32);
            }
            put(&mut draft.changes[0].delta, part as i32);
            if t == F::ChildcareCenter {
                draft.f.floor = Some((part as f64 * uniform(rng, 5.0, 9.0) + 60.0).round());
            }
            draft.frozen = true;
            drafts.push(draft);
        }
    }

    /// The period's additions of capacity `get` of a planned facility, as K04 counts them:
    /// growth beyond the facility's highest earlier capacity while operating, the opening's
    /// dated by the opening date and left out for stock facilities.
    fn additions(&self, x: &Draft, get: fn(&Capacity) -> i32) -> i64 {
        let Some(first) = x.changes.first() else {
            return 0;
        };
        let loaded = first.reason == "存量登记"
            && !matches!(
                first.status,
                FacilityStatus::Planned | FacilityStatus::UnderConstruction
            );
        let (mut hwm, mut opened, mut sum) = (0i64, false, 0i64);
        for c in &x.changes {
            let operating = c.status == FacilityStatus::Operating;
            let a = if operating { i64::from(get(&c.cap)) } else { 0 };
            let add = (a - hwm).max(0);
            hwm = hwm.max(a);
            let day = clock::local_day(c.time);
            let (day, stock) = if operating && !opened {
                opened = true;
                let on = c.opened.unwrap_or(day);
                (on, loaded || on < self.from - BACKFILL_DAYS)
            } else {
                (day, false)
            };
            if !stock && (self.from..=self.to).contains(&day) {
                sum += add;
            }
        }
        sum
    }

    /// Assigns ids and sorts the changes by time.
    fn finish(&self, _rng: &mut SimRng, drafts: Vec<Draft>) -> DistrictRegistry {
        let mut facilities = Vec::with_capacity(drafts.len());
        let mut changes = Vec::new();
        // Baseline facilities first, as the registry numbered them.
        let mut order: Vec<usize> = (0..drafts.len()).collect();
        order.sort_by_key(|&i| (!drafts[i].f.baseline, drafts[i].changes[0].time, i));
        for (n, &i) in order.iter().enumerate() {
            let mut f = drafts[i].f.clone();
            f.id = format!(
                "{}-{}-FAC-{:06}",
                self.profile.prefix,
                self.d.profile.abbr,
                n + 1
            );
            for c in &drafts[i].changes {
                changes.push(Change {
                    facility: n as u32,
                    ..*c
                });
            }
            facilities.push(f);
        }
        changes.sort_by_key(|c| (c.time, c.facility));
        DistrictRegistry {
            facilities,
            changes,
        }
    }
}

fn raw_coords(sys: CoordSys, (lng, lat): (f64, f64)) -> (f64, f64) {
    match sys {
        CoordSys::Wgs84 | CoordSys::Cgcs2000 => (lng, lat),
        CoordSys::Gcj02 => geo::wgs84_to_gcj02(lng, lat),
        CoordSys::Bd09 => {
            let (g, t) = geo::wgs84_to_gcj02(lng, lat);
            geo::gcj02_to_bd09(g, t)
        }
    }
}

fn operator(rng: &mut SimRng, t: FacilityType) -> OperatorType {
    use OperatorType as O;
    let pick = |rng: &mut SimRng, options: &[(O, f64)]| {
        let weights: Vec<f64> = options.iter().map(|o| o.1).collect();
        options[rng::pick(rng, &weights)].0
    };
    match t {
        F::CommunityServiceStation | F::DeliberationHall => {
            pick(rng, &[(O::Community, 0.7), (O::Government, 0.3)])
        }
        F::Kindergarten => pick(
            rng,
            &[
                (O::PublicInstitution, 0.5),
                (O::Private, 0.4),
                (O::PublicPrivate, 0.1),
            ],
        ),
        F::ChildcareCenter => pick(
            rng,
            &[
                (O::Private, 0.5),
                (O::PublicPrivate, 0.4),
                (O::PublicInstitution, 0.1),
            ],
        ),
        F::ElderlyServiceCenter | F::ElderlyCareStation | F::ElderlyDayCare => pick(
            rng,
            &[
                (O::PublicPrivate, 0.5),
                (O::Private, 0.3),
                (O::Community, 0.2),
            ],
        ),
        F::MealAssistancePoint | F::CommunityCanteen => pick(
            rng,
            &[
                (O::Private, 0.4),
                (O::Community, 0.4),
                (O::PublicPrivate, 0.2),
            ],
        ),
        F::HealthStation | F::HealthCenter => O::PublicInstitution,
        F::ParkingLot | F::EvCharger => pick(rng, &[(O::Soe, 0.45), (O::Private, 0.55)]),
        F::EbikeCharging => pick(rng, &[(O::Private, 0.6), (O::Community, 0.4)]),
        F::PublicActivitySpace
        | F::PublicGreenSpace
        | F::CulturalCenter
        | F::FitnessSpace
        | F::WasteSortingPoint
        | F::PublicToilet => pick(rng, &[(O::Government, 0.6), (O::Community, 0.4)]),
        F::Other => O::Community,
        _ => O::Private,
    }
}

fn facility_name(
    rng: &mut SimRng,
    t: FacilityType,
    community: &str,
    street: &str,
    compound: &str,
    inclusive: bool,
) -> (String, Option<&'static str>) {
    let stem = names::stem(rng);
    match t {
        F::CommunityServiceStation => {
            (format!("{community}社区党群服务中心"), Some("党群服务中心"))
        }
        F::Kindergarten => (format!("{stem}幼儿园"), None),
        F::ChildcareCenter => {
            let sub = *rng::choose(
                rng,
                &[
                    "嵌入式托育点",
                    "托育中心",
                    "社区托育点",
                    "婴幼儿照护服务驿站",
                ],
            );
            let label = if inclusive {
                "普惠托育园"
            } else {
                "托育中心"
            };
            (format!("{community}{label}"), Some(sub))
        }
        F::ElderlyServiceCenter => (
            format!("{street}街道养老服务中心"),
            Some("区域养老服务中心"),
        ),
        F::ElderlyCareStation => (
            format!("{community}社区养老服务驿站"),
            Some("社区养老服务驿站"),
        ),
        F::ElderlyDayCare => (format!("{community}日间照料中心"), None),
        F::MealAssistancePoint => (format!("{community}老年助餐点"), Some("养老助餐点")),
        F::CommunityCanteen => (format!("{community}社区食堂"), None),
        F::HealthStation => (format!("{community}社区卫生服务站"), None),
        F::HealthCenter => (format!("{street}社区卫生服务中心"), None),
        F::Supermarket => (
            format!(
                "{}超市({community}店)",
                rng::choose(rng, &["物美", "华联", "永辉", "盒马", "家乐福", "京客隆"])
            ),
            None,
        ),
        F::ConvenienceStore => (
            format!(
                "{}便利店({community}店)",
                rng::choose(
                    rng,
                    &["便利蜂", "好邻居", "罗森", "全家", "美宜佳", "7-Eleven"]
                )
            ),
            None,
        ),
        F::VegetableStore => (format!("{stem}菜市场"), None),
        F::ParcelLocker => {
            let brand = *rng::choose(rng, &["丰巢智能柜", "菜鸟驿站", "京东自提柜"]);
            (format!("{compound}{brand}"), Some(brand))
        }
        F::ConvenienceBusiness => {
            let sub = *rng::choose(rng, &["理发", "洗衣", "药店", "维修", "家政", "早餐"]);
            (format!("{stem}{sub}店"), Some(sub))
        }
        F::ParkingLot => (format!("{compound}停车场"), None),
        F::EvCharger => (format!("{compound}充电站"), None),
        F::EbikeCharging => (format!("{compound}电动自行车充电棚"), None),
        F::PublicActivitySpace => (format!("{community}文体活动广场"), None),
        F::FitnessSpace => (format!("{community}百姓健身房"), Some("百姓健身房")),
        F::PublicGreenSpace => (format!("{stem}口袋公园"), Some("口袋公园")),
        F::CulturalCenter => (format!("{community}文化活动中心"), None),
        F::DeliberationHall => (format!("{community}议事厅"), Some("社区会客议事厅")),
        F::PropertyServiceRoom => (format!("{compound}物业服务用房"), None),
        F::WasteSortingPoint => (format!("{compound}垃圾分类驿站"), None),
        F::PublicToilet => (format!("{stem}公共厕所"), None),
        F::Other => (format!("{community}便民服务点"), None),
    }
}

/// What the ground truth knows of a facility from the events sent so far.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// Its first event loaded it as existing stock (存量登记, not planned or being built).
    loaded: bool,
    /// Its opening (first operating event) was sent.
    opened: bool,
    /// Operating after the last event sent.
    operating: bool,
    /// Capacities carried forward.
    cap: Capacity,
    /// Floor area carried forward (hundredths of m²).
    floor: i64,
    /// Highest available inclusive childcare places, parking spaces and charging points so far.
    hwm: [i64; 3],
}

/// K09's basic groups of a facility type.
pub fn basic_group(t: FacilityType) -> Option<u8> {
    match t {
        F::CommunityServiceStation => Some(0),
        F::Kindergarten => Some(1),
        F::ChildcareCenter => Some(2),
        F::ElderlyCareStation | F::ElderlyDayCare => Some(3),
        F::HealthStation => Some(4),
        _ => None,
    }
}

/// Whether every facility of type `t` serves a 15-minute circle (street-level facilities)
/// rather than its community's 5-minute circle.
pub fn serves_circle15(t: FacilityType) -> bool {
    info(t).per_street > 0.0
}

/// Emits the `facility_change` events of one district's registry.
pub struct FacilityGen {
    city: Arc<City>,
    registry: DistrictRegistry,
    district: usize,
    seed: u64,
    cursor: usize,
    versions: Vec<u16>,
    seen: Vec<Seen>,
    /// Local day of the district's first event sent: the registry's start.
    registry_start: Option<i32>,
    buf: FacilityChange,
    tallies: Vec<Tally>,
}

impl FacilityGen {
    /// The generator of district `district` (index in `city.districts`).
    pub fn new(
        city: Arc<City>,
        plan_: Arc<crate::renovation::Plan>,
        district: usize,
        seed: u64,
        scale: f64,
        period: Period,
    ) -> Self {
        let d = &city.districts[district];
        let projects = &plan_.districts[district].projects;
        let registry = plan(city.profile, d, seed, scale, period, projects);
        let buf = FacilityChange {
            event_id: String::new(),
            event_type: FacilityEventType::Created,
            schema_version: "1.0".into(),
            source_system: city.profile.facility_source.into(),
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
            facility_id: String::new(),
            facility_version: 0,
            op: FacilityOp::Create,
            aspect_code: AspectCode::BasicPublicService,
            facility_type: F::Other,
            facility_subtype: None,
            facility_name: String::new(),
            operator_type: None,
            is_inclusive: None,
            is_embedded: None,
            status: FacilityStatus::Operating,
            opened_date: None,
            closed_date: None,
            floor_area_m2: None,
            land_area_m2: None,
            childcare_places: None,
            childcare_places_delta: None,
            kindergarten_places: None,
            kindergarten_classes: None,
            elderly_beds: None,
            elderly_beds_delta: None,
            meal_capacity_per_day: None,
            parking_spaces: None,
            parking_spaces_delta: None,
            charging_points: None,
            charging_points_delta: None,
            ebike_charging_ports: None,
            other_capacity_value: None,
            other_capacity_unit: None,
            address: None,
            lng: None,
            lat: None,
            coord_sys_raw: None,
            life_circle_id: None,
            change_reason: None,
        };
        let versions = vec![0; registry.facilities.len()];
        let seen = vec![Seen::default(); registry.facilities.len()];
        Self {
            city,
            registry,
            district,
            seed,
            cursor: 0,
            versions,
            seen,
            registry_start: None,
            buf,
            tallies: Vec::new(),
        }
    }

    /// The planned registry.
    pub fn registry(&self) -> &DistrictRegistry {
        &self.registry
    }

    fn materialise(&mut self, index: usize, map: &TimeMap) {
        let ch = self.registry.changes[index];
        let f = &self.registry.facilities[ch.facility as usize];
        let d = &self.city.districts[self.district];
        let c = &d.communities[f.community];
        let street = &d.streets[c.street];
        let version = {
            let v = &mut self.versions[ch.facility as usize];
            *v += 1;
            *v
        };
        let b = &mut self.buf;
        let time = map.ms(ch.time);
        let uid = rng::hash(&[
            self.seed,
            2,
            self.city.districts[self.district].index as u64,
            u64::from(ch.facility),
            u64::from(version),
        ]);
        rng::write_uuid7(&mut b.event_id, time, uid, rng::mix64(uid));
        b.event_type = match ch.op {
            FacilityOp::Create => FacilityEventType::Created,
            FacilityOp::Update => FacilityEventType::Updated,
            FacilityOp::Close => FacilityEventType::Closed,
            FacilityOp::Reopen => FacilityEventType::Reopened,
        };
        b.event_time = clock::event_time(time);
        let lag = 10 * MINUTE_MS + (rng::mix64(uid ^ 7) % DAY_MS as u64) as i64;
        b.ingest_time = clock::event_time(time + lag);
        let day = clock::local_day(time);
        b.event_date = Some(clock::date(day));
        set_opt(&mut b.street_code, Some(&street.code));
        set_opt(&mut b.street_name, Some(&street.name));
        set(&mut b.community_code, &c.code);
        set_opt(&mut b.community_name, Some(&c.name));
        set(&mut b.facility_id, &f.id);
        b.facility_version = i32::from(version);
        b.op = ch.op;
        let ti = info(f.ftype);
        b.aspect_code = ti.aspect;
        b.facility_type = f.ftype;
        set_opt(&mut b.facility_subtype, f.subtype);
        set(&mut b.facility_name, &f.name);
        b.operator_type = Some(f.operator);
        b.is_inclusive = f.inclusive;
        b.is_embedded = f.embedded;
        b.status = ch.status;
        b.opened_date = ch.opened.map(|x| clock::date(map.day(x)));
        // Some registrations of new facilities leave the opening date out (it is the day).
        if ch.reason == "新建" && rng::hashed_chance(uid ^ 0x0D, 0.05) {
            b.opened_date = None;
        }
        b.closed_date = ch.closed.map(|x| clock::date(map.day(x)));
        let has = |bit: u16| ti.fields & bit != 0 && !ch.no_capacity;
        let area = |x: Option<f64>| x.filter(|_| !ch.no_capacity).map(Number);
        b.floor_area_m2 = area(f.floor);
        b.land_area_m2 = area(f.land);
        b.childcare_places = has(CHILDCARE).then_some(ch.cap.childcare);
        b.childcare_places_delta = has(CHILDCARE).then_some(ch.delta.childcare);
        b.kindergarten_places = has(KG).then_some(ch.cap.kg_places);
        b.kindergarten_classes = has(KG).then_some(ch.cap.kg_classes);
        b.elderly_beds = has(BEDS).then_some(ch.cap.beds);
        b.elderly_beds_delta = has(BEDS).then_some(ch.delta.beds);
        b.meal_capacity_per_day = has(MEALS).then_some(ch.cap.meals);
        b.parking_spaces = has(PARKING).then_some(ch.cap.parking);
        b.parking_spaces_delta = has(PARKING).then_some(ch.delta.parking);
        b.charging_points = has(CHARGING).then_some(ch.cap.charging);
        b.charging_points_delta = has(CHARGING).then_some(ch.delta.charging);
        b.ebike_charging_ports = has(EBIKE).then_some(ch.cap.ebike);
        b.other_capacity_value = has(OTHER).then_some(Number(ch.cap.other));
        b.other_capacity_unit = ti.other_unit.filter(|_| has(OTHER)).map(str::to_owned);
        set_opt(&mut b.address, Some(&f.address));
        b.lng = Some(f.lng);
        b.lat = Some(f.lat);
        b.coord_sys_raw = Some(self.city.profile.facility_coords);
        set_opt(&mut b.source_record_id, f.source_record.as_deref());
        // The facility serves its community's 5-minute circle, or for street-level facilities
        // its 15-minute circle (`life_circles.csv`).
        let id = crate::emit::opt_buf(&mut b.life_circle_id);
        let (prefix, abbr) = (self.city.profile.prefix, d.profile.abbr);
        let circle15 = f.circle15;
        let _ = if circle15 {
            write!(id, "{prefix}-{abbr}-15MIN-{:04}", c.circle15)
        } else {
            write!(id, "{prefix}-{abbr}-5MIN-{:04}", c.circle5)
        };
        set_opt(&mut b.change_reason, Some(ch.reason));

        // Ground truth (definitions: `truth::DEFINITIONS`).
        let registry_start = *self.registry_start.get_or_insert(day);
        let seen = &mut self.seen[ch.facility as usize];
        let first = version == 1;
        if first {
            seen.loaded = ch.reason == "存量登记"
                && !matches!(
                    ch.status,
                    FacilityStatus::Planned | FacilityStatus::UnderConstruction
                );
        }
        let was = *seen;
        if !ch.no_capacity {
            seen.cap = ch.cap;
            seen.floor = f.floor.map_or(0, |x| (x * 100.0).round() as i64);
        }
        let operating = ch.status == FacilityStatus::Operating;
        seen.operating = operating;
        let opening = operating && !was.opened;
        let mut counted_on = day;
        let mut stock_load = false;
        if opening {
            seen.opened = true;
            counted_on = b.opened_date.map_or(day, clock::day_of);
            stock_load = seen.loaded || counted_on < registry_start;
        }
        let now = *seen;
        self.tallies.clear();
        let t = &mut self.tallies;
        let mut push = |metric, day, value: i64| {
            if value != 0 {
                t.push(Tally { metric, day, value });
            }
        };
        match ch.op {
            FacilityOp::Create => push(Metric::FacilitiesCreated, day, 1),
            FacilityOp::Close => push(Metric::FacilitiesClosed, day, 1),
            _ => {}
        }
        if opening && !stock_load {
            let opened = match f.ftype {
                F::ElderlyServiceCenter => Some(Metric::ServiceCentresOpened),
                F::ElderlyCareStation | F::ElderlyDayCare => Some(Metric::CareStationsOpened),
                F::MealAssistancePoint | F::CommunityCanteen => Some(Metric::MealPointsOpened),
                _ => None,
            };
            if let Some(metric) = opened {
                push(metric, counted_on, 1);
            }
            if f.ftype == F::CommunityCanteen {
                push(Metric::CanteensOpened, counted_on, 1);
            }
        }
        // Additions (K04, K07, K06 flow): growth beyond the high-water mark while operating.
        let inclusive = f.inclusive == Some(true);
        let available = [
            if operating && inclusive && f.ftype == F::ChildcareCenter {
                i64::from(now.cap.childcare)
            } else {
                0
            },
            if operating && has_field(ti.fields, PARKING) {
                i64::from(now.cap.parking)
            } else {
                0
            },
            if operating && has_field(ti.fields, CHARGING) {
                i64::from(now.cap.charging)
            } else {
                0
            },
        ];
        let metrics = [
            Metric::InclusiveChildcarePlaces,
            Metric::ParkingSpaces,
            Metric::ChargingPoints,
        ];
        for k in 0..3 {
            let add = (available[k] - was.hwm[k]).max(0);
            seen.hwm[k] = was.hwm[k].max(available[k]);
            if !(opening && stock_load) {
                push(metrics[k], counted_on, add);
            }
        }
        // Stocks at the event date: operating facilities and their carried-forward capacities.
        let on = |s: &Seen| i64::from(s.operating);
        push(Metric::Stock(type_index(f.ftype)), day, on(&now) - on(&was));
        if f.ftype == F::EvCharger {
            push(
                Metric::ChargingPointsStock,
                day,
                on(&now) * i64::from(now.cap.charging) - on(&was) * i64::from(was.cap.charging),
            );
        }
        if f.ftype == F::ChildcareCenter {
            push(
                Metric::ChildcarePlacesStock,
                day,
                on(&now) * i64::from(now.cap.childcare) - on(&was) * i64::from(was.cap.childcare),
            );
        }
        let community = f.community as u32;
        if let Some(g) = basic_group(f.ftype) {
            push(
                Metric::Keyed(keyed::BASIC + g, community),
                day,
                on(&now) - on(&was),
            );
        }
        if f.ftype == F::CommunityServiceStation {
            push(
                Metric::Keyed(keyed::STATION_FLOOR, community),
                day,
                on(&now) * now.floor - on(&was) * was.floor,
            );
        }
        let (kind, circle) = if circle15 {
            (keyed::CIRCLE15, c.circle15)
        } else {
            (keyed::CIRCLE5, c.circle5)
        };
        push(
            Metric::Keyed(kind, circle << 8 | u32::from(type_index(f.ftype))),
            day,
            on(&now) - on(&was),
        );
    }
}

fn has_field(fields: u16, bit: u16) -> bool {
    fields & bit != 0
}

impl Generator for FacilityGen {
    fn topic(&self) -> Topic {
        Topic::Facility
    }

    fn pending_before(&mut self, until: i64) -> usize {
        self.registry.changes[self.cursor..].partition_point(|c| c.time < until)
    }

    fn advance(&mut self, until: i64, map: &TimeMap, out: &mut Chunk) -> Result<(), SimError> {
        while let Some(ch) = self.registry.changes.get(self.cursor) {
            if ch.time >= until {
                break;
            }
            let (time, facility) = (ch.time, ch.facility);
            self.materialise(self.cursor, map);
            self.cursor += 1;
            let version = self.versions[facility as usize];
            let dup = rng::hashed_chance(
                rng::hash(&[
                    self.seed,
                    0xD1,
                    self.city.districts[self.district].index as u64,
                    u64::from(facility),
                    u64::from(version),
                ]),
                0.001,
            );
            out.push(
                map.ms(time),
                &self.registry.facilities[facility as usize].id,
                &self.buf,
                &self.tallies,
                dup,
            )?;
        }
        Ok(())
    }
}
