//! What the simulator knows about each city: district populations and street counts, map
//! centroids, source-system names, and the published figures it is calibrated to
//! (`published-figures.md`).
//!
//! Populations are the 2020 census (万人, rounded); street counts are the number of streets and
//! towns per district, approximately. Annual rates of districts without a published figure
//! are Haidian's 2024 rates per resident times a fixed per-district activity factor.

use civicpulse_core::event::facility::FacilityType;
use civicpulse_core::geo::CoordSys;

/// Static facts about one district.
#[derive(Debug, Clone, Copy)]
pub struct DistrictProfile {
    /// GB/T 2260 code.
    pub code: &'static str,
    /// Residents (2020 census) at scale 1.0.
    pub population: u32,
    /// Streets and towns at scale 1.0.
    pub streets: u16,
    /// Approximate centre, WGS84 longitude.
    pub lng: f64,
    /// Approximate centre, WGS84 latitude.
    pub lat: f64,
    /// Pinyin initials used in ids, e.g. `HD`.
    pub abbr: &'static str,
}

/// A headline KPI a published figure is stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlowKpi {
    /// K13: elevators of elevator retrofits completed.
    ElevatorsCompleted,
    /// K15: households of age-friendly retrofits completed.
    AgeFriendlyHouseholds,
    /// K01: elderly service centres created.
    ElderlyServiceCentres,
    /// K02: elderly care stations (and day-care centres) created.
    ElderlyCareStations,
    /// K03: meal-assistance points (and community canteens) created.
    MealPoints,
    /// K04: net inclusive childcare places added.
    InclusiveChildcarePlaces,
    /// K07 (facility part): net parking spaces of parking lots added.
    ParkingSpaces,
    /// K17-style: facility gap-filling (`facility_infill`) projects declared.
    InfillProjectsDeclared,
    /// K19: completed investment (yuan) at period end of infill projects declared in the period.
    InfillInvestmentYuan,
    /// K20: distinct communities with investment from those projects.
    InfillCommunities,
    /// K29: community-months without a hotline request (complaint, help, report), per year
    /// of whole months.
    ZeroRequestCommunityMonths,
}

/// The stock a published figure counts, as of the end of the period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StockKpi {
    /// K08a: facilities of these types.
    Types(&'static [FacilityType]),
    /// K08: all facilities.
    All,
    /// K06: charging points of EV charging facilities.
    ChargingPoints,
}

/// A figure about the communities reference (not about events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunityKpi {
    /// K31: communities on the digital platform.
    OnPlatform,
    /// K32: communities assessed (latest assessment as of the period end).
    Assessed,
    /// K32: communities whose latest assessment passed (complete communities).
    Complete,
}

/// How a city assesses its communities (K32's reference file).
#[derive(Debug, Clone, Copy)]
pub struct Assessment {
    /// `framework` of the assessment rows.
    pub framework: &'static str,
    /// Communities assessed at scale 1.0.
    pub checked: f64,
    /// Of those, communities whose latest assessment passed.
    pub passed: f64,
    /// Score (0–100) from which an assessment passes.
    pub pass_score: f64,
}

/// Where a figure applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One district, by code.
    District(&'static str),
    /// The whole simulated city (split over districts by population).
    City,
}

/// A published figure: a flow per year or a stock at period end.
#[derive(Debug, Clone, Copy)]
pub enum Figure {
    /// A flow, per year.
    Flow(FlowKpi, f64),
    /// A stock at the end of the period.
    Stock(StockKpi, f64),
    /// A stock that should be at least this large (reported, not enforced).
    StockAtLeast(StockKpi, f64),
    /// A count of the communities reference at the end of the period.
    Communities(CommunityKpi, f64),
}

/// One published figure the simulation reproduces.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// What the source says, for the calibration table.
    pub label: &'static str,
    /// Where it applies.
    pub scope: Scope,
    /// The figure.
    pub figure: Figure,
}

/// Static facts about one city.
#[derive(Debug, Clone, Copy)]
pub struct CityProfile {
    /// Name accepted by `--city`.
    pub key: &'static str,
    /// City code in events (province level for Beijing and Chongqing).
    pub city_code: &'static str,
    /// Chinese name with its suffix, e.g. `北京市`.
    pub name_zh: &'static str,
    /// Id prefix, e.g. `BJ`.
    pub prefix: &'static str,
    /// Districts simulated.
    pub districts: &'static [DistrictProfile],
    /// Residents' committee communities at scale 1.0.
    pub communities: u32,
    /// Hotline requests per resident per year.
    pub hotline_per_resident: f64,
    /// Whether the city has central heating (heating complaints in winter).
    pub heating: bool,
    /// `source_system` of hotline events.
    pub hotline_source: &'static str,
    /// `source_system` of facility events.
    pub facility_source: &'static str,
    /// `source_system` of renovation events.
    pub renovation_source: &'static str,
    /// Coordinate system facility registries report in.
    pub facility_coords: CoordSys,
    /// Share of renovation projects reported in 万元.
    pub wanyuan_share: f64,
    /// Multiplier on Haidian's per-resident rates for districts without a figure.
    pub rate_factor: f64,
    /// Multiplier on the per-community facility stock.
    pub stock_factor: f64,
    /// Published figures.
    pub targets: &'static [Target],
    /// Utility companies hotline tickets about heating, water and gas go to.
    pub utilities: &'static [&'static str],
    /// Construction companies implementing renovation projects.
    pub builders: &'static [&'static str],
    /// Functional zones: (district code, zone name, share of the district's streets it
    /// administers; the last streets by code).
    pub zones: &'static [(&'static str, &'static str, f64)],
    /// Shares of residents aged 60+ and under three (2020 census, city level).
    pub age_shares: (f64, f64),
    /// Districts with a published count of communities on their digital platform.
    pub platform_figures: &'static [(&'static str, u32)],
    /// Share of the other communities on a digital platform.
    pub platform_share: f64,
    /// The community assessment.
    pub assessment: Assessment,
}

/// Haidian's 2024 published figures per resident (3,133,000 residents): the default rates.
pub mod haidian_rates {
    /// Haidian's residents.
    pub const RESIDENTS: f64 = 3_133_000.0;
    /// Elevators added per resident per year.
    pub const ELEVATORS: f64 = 280.0 / RESIDENTS;
    /// Age-friendly households per resident per year.
    pub const AGE_FRIENDLY: f64 = 5_410.0 / RESIDENTS;
    /// Elderly service centres per resident per year.
    pub const SERVICE_CENTRES: f64 = 15.0 / RESIDENTS;
    /// Elderly care stations per resident per year.
    pub const CARE_STATIONS: f64 = 25.0 / RESIDENTS;
    /// Meal points per resident per year.
    pub const MEAL_POINTS: f64 = 72.0 / RESIDENTS;
    /// Inclusive childcare places per resident per year.
    pub const CHILDCARE_PLACES: f64 = 4_334.0 / RESIDENTS;
    /// Parking spaces per resident per year (Chongqing's 63,000 over three years).
    pub const PARKING: f64 = 21_000.0 / 10_345_000.0;
    /// Infill projects per resident per year.
    pub const INFILL: f64 = 1.0e-5;
}

const fn d(
    code: &'static str,
    population: u32,
    streets: u16,
    lng: f64,
    lat: f64,
    abbr: &'static str,
) -> DistrictProfile {
    DistrictProfile {
        code,
        population,
        streets,
        lng,
        lat,
        abbr,
    }
}

const BEIJING_DISTRICTS: &[DistrictProfile] = &[
    d("110101", 709_000, 17, 116.416, 39.928, "DC"),
    d("110102", 1_106_000, 15, 116.366, 39.912, "XC"),
    d("110105", 3_452_000, 43, 116.443, 39.921, "CY"),
    d("110106", 2_019_000, 26, 116.287, 39.858, "FT"),
    d("110107", 568_000, 9, 116.223, 39.906, "SJS"),
    d("110108", 3_133_000, 29, 116.298, 39.959, "HD"),
    d("110109", 393_000, 13, 116.102, 39.940, "MTG"),
    d("110111", 1_313_000, 28, 116.143, 39.748, "FS"),
    d("110112", 1_840_000, 22, 116.657, 39.909, "TZ"),
    d("110113", 1_324_000, 25, 116.654, 40.130, "SY"),
    d("110114", 2_269_000, 22, 116.231, 40.221, "CP"),
    d("110115", 1_994_000, 22, 116.341, 39.727, "DX"),
    d("110116", 441_000, 16, 116.632, 40.316, "HR"),
    d("110117", 457_000, 18, 117.121, 40.140, "PG"),
    d("110118", 528_000, 20, 116.843, 40.377, "MY"),
    d("110119", 346_000, 15, 115.975, 40.457, "YQ"),
];

const CHONGQING_DISTRICTS: &[DistrictProfile] = &[
    d("500103", 589_000, 11, 106.569, 29.553, "YZ"),
    d("500104", 421_000, 8, 106.483, 29.484, "DDK"),
    d("500105", 926_000, 12, 106.574, 29.606, "JB"),
    d("500106", 1_479_000, 26, 106.456, 29.541, "SPB"),
    d("500107", 1_527_000, 19, 106.511, 29.502, "JLP"),
    d("500108", 1_198_000, 15, 106.644, 29.500, "NA"),
    d("500109", 834_000, 17, 106.396, 29.805, "BB"),
    d("500112", 2_192_000, 30, 106.631, 29.718, "YB"),
    d("500113", 1_179_000, 23, 106.540, 29.402, "BN"),
];

const HANGZHOU_DISTRICTS: &[DistrictProfile] = &[
    d("330102", 1_323_000, 14, 120.171, 30.250, "SC"),
    d("330105", 1_184_000, 18, 120.142, 30.319, "GS"),
    d("330106", 1_143_000, 12, 120.130, 30.259, "XH"),
    d("330108", 504_000, 3, 120.212, 30.208, "BJ"),
    d("330109", 2_011_000, 22, 120.264, 30.185, "XS"),
    d("330110", 1_226_000, 12, 119.979, 30.273, "YH"),
    d("330111", 835_000, 24, 119.960, 30.049, "FY"),
    d("330112", 641_000, 18, 119.725, 30.234, "LA"),
    d("330113", 1_176_000, 8, 120.299, 30.419, "LP"),
    d("330114", 769_000, 7, 120.493, 30.322, "QT"),
    d("330122", 455_000, 14, 119.691, 29.797, "TL"),
    d("330127", 329_000, 23, 119.042, 29.609, "CA"),
    d("330182", 442_000, 16, 119.281, 29.475, "JD"),
];

const HEALTH: &[FacilityType] = &[FacilityType::HealthCenter, FacilityType::HealthStation];
const ELDERLY_CHILD_CULTURE_SPORT: &[FacilityType] = &[
    FacilityType::ElderlyServiceCenter,
    FacilityType::ElderlyCareStation,
    FacilityType::ElderlyDayCare,
    FacilityType::MealAssistancePoint,
    FacilityType::CommunityCanteen,
    FacilityType::ChildcareCenter,
    FacilityType::Kindergarten,
    FacilityType::CulturalCenter,
    FacilityType::FitnessSpace,
    FacilityType::PublicActivitySpace,
];

const BEIJING_TARGETS: &[Target] = &[
    Target {
        label: "海淀 2024 老楼加装电梯 280部",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::ElevatorsCompleted, 280.0),
    },
    Target {
        label: "海淀 2024 普惠性托位 4334个",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::InclusiveChildcarePlaces, 4334.0),
    },
    Target {
        label: "海淀 2024 适老化改造 5410户",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::AgeFriendlyHouseholds, 5410.0),
    },
    Target {
        label: "海淀 2024 新建养老服务中心 15家",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::ElderlyServiceCentres, 15.0),
    },
    Target {
        label: "海淀 2024 养老驿站 25家",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::ElderlyCareStations, 25.0),
    },
    Target {
        label: "海淀 2024 养老助餐点 72家",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::MealPoints, 72.0),
    },
    Target {
        label: "海淀 2024 零诉求社区 312个次",
        scope: Scope::District("110108"),
        figure: Figure::Flow(FlowKpi::ZeroRequestCommunityMonths, 312.0),
    },
    Target {
        label: "海淀 充电桩 4.5万个",
        scope: Scope::District("110108"),
        figure: Figure::Stock(StockKpi::ChargingPoints, 45_000.0),
    },
    Target {
        label: "海淀 社区会客议事厅 122",
        scope: Scope::District("110108"),
        figure: Figure::Stock(StockKpi::Types(&[FacilityType::DeliberationHall]), 122.0),
    },
    Target {
        label: "海淀 掌上海淀 覆盖社区 327",
        scope: Scope::District("110108"),
        figure: Figure::Communities(CommunityKpi::OnPlatform, 327.0),
    },
];

const CHONGQING_TARGETS: &[Target] = &[
    Target {
        label: "重庆 2023–2025 新增停车位 6.3万个",
        scope: Scope::City,
        figure: Figure::Flow(FlowKpi::ParkingSpaces, 63_000.0 / 3.0),
    },
    Target {
        label: "重庆 2023–2025 加装电梯 6800余部",
        scope: Scope::City,
        figure: Figure::Flow(FlowKpi::ElevatorsCompleted, 6_800.0 / 3.0),
    },
    Target {
        label: "重庆 2024 完整社区项目 395个 (facility_infill 申报)",
        scope: Scope::City,
        figure: Figure::Flow(FlowKpi::InfillProjectsDeclared, 395.0),
    },
    Target {
        label: "重庆 2024 投资进社区 9.15亿元",
        scope: Scope::City,
        figure: Figure::Flow(FlowKpi::InfillInvestmentYuan, 915_000_000.0),
    },
    Target {
        label: "重庆 2024 投资覆盖社区 108个",
        scope: Scope::City,
        figure: Figure::Flow(FlowKpi::InfillCommunities, 108.0),
    },
    Target {
        label: "重庆 一张图服务设施 8.6万+",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::All, 86_000.0),
    },
    Target {
        label: "重庆 社区养老/托育/文化/体育设施 1万+",
        scope: Scope::City,
        figure: Figure::StockAtLeast(StockKpi::Types(ELDERLY_CHILD_CULTURE_SPORT), 10_000.0),
    },
];

const HANGZHOU_TARGETS: &[Target] = &[
    Target {
        label: "杭州 设施记录 3.5万",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::All, 35_000.0),
    },
    Target {
        label: "杭州 社区综合服务站 368",
        scope: Scope::City,
        figure: Figure::Stock(
            StockKpi::Types(&[FacilityType::CommunityServiceStation]),
            368.0,
        ),
    },
    Target {
        label: "杭州 养老服务中心 377",
        scope: Scope::City,
        figure: Figure::Stock(
            StockKpi::Types(&[FacilityType::ElderlyServiceCenter]),
            377.0,
        ),
    },
    Target {
        label: "杭州 文化服务中心 844",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::Types(&[FacilityType::CulturalCenter]), 844.0),
    },
    Target {
        label: "杭州 社区卫生服务中心(站) 225",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::Types(HEALTH), 225.0),
    },
    Target {
        label: "杭州 婴幼儿照护服务驿站 340",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::Types(&[FacilityType::ChildcareCenter]), 340.0),
    },
    Target {
        label: "杭州 百姓健身房 361",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::Types(&[FacilityType::FitnessSpace]), 361.0),
    },
    Target {
        label: "杭州 社区食堂 230",
        scope: Scope::City,
        figure: Figure::Stock(StockKpi::Types(&[FacilityType::CommunityCanteen]), 230.0),
    },
    Target {
        label: "杭州 社区体检 1260个",
        scope: Scope::City,
        figure: Figure::Communities(CommunityKpi::Assessed, 1260.0),
    },
    Target {
        label: "杭州 完整社区 438个",
        scope: Scope::City,
        figure: Figure::Communities(CommunityKpi::Complete, 438.0),
    },
    Target {
        label: "杭州 每年新增补短板项目 100个 (facility_infill 申报)",
        scope: Scope::City,
        figure: Figure::Flow(FlowKpi::InfillProjectsDeclared, 100.0),
    },
];

/// Beijing: 16 districts, ~20 M hotline requests a year.
pub const BEIJING: CityProfile = CityProfile {
    key: "beijing",
    city_code: "110000",
    name_zh: "北京市",
    prefix: "BJ",
    districts: BEIJING_DISTRICTS,
    communities: 4_200,
    // 20 M requests a year over 21.89 M residents.
    hotline_per_resident: 20_000_000.0 / 21_893_000.0,
    heating: true,
    hotline_source: "bj12345",
    facility_source: "bj_mca_registry",
    renovation_source: "bj_renovation_mis",
    facility_coords: CoordSys::Gcj02,
    wanyuan_share: 0.2,
    rate_factor: 1.0,
    stock_factor: 1.0,
    targets: BEIJING_TARGETS,
    utilities: &[
        "北京市热力集团",
        "北京自来水集团",
        "北京燃气集团",
        "国网北京电力",
    ],
    builders: &[
        "北京城建集团",
        "北京住总集团",
        "北京建工集团",
        "北京市政路桥",
        "北京城市更新公司",
    ],
    // 北京经济技术开发区 (亦庄) administers towns of 大兴 and 通州.
    zones: &[
        ("110115", "北京经济技术开发区", 0.15),
        ("110112", "北京经济技术开发区", 0.1),
    ],
    age_shares: (0.196, 0.022),
    platform_figures: &[("110108", 327)],
    platform_share: 0.4,
    // Not published: the 2020 standard's 20 items, a third of communities checked.
    assessment: Assessment {
        framework: "mohurd_2020_20items",
        checked: 1_400.0,
        passed: 520.0,
        pass_score: 80.0,
    },
};

/// Chongqing: the nine central districts, 1,953 communities.
pub const CHONGQING: CityProfile = CityProfile {
    key: "chongqing",
    city_code: "500000",
    name_zh: "重庆市",
    prefix: "CQ",
    districts: CHONGQING_DISTRICTS,
    communities: 1_953,
    hotline_per_resident: 20_000_000.0 / 21_893_000.0,
    heating: false,
    hotline_source: "cq12345",
    facility_source: "cq_wanzheng_map",
    renovation_source: "cq_wanzheng_project",
    facility_coords: CoordSys::Cgcs2000,
    wanyuan_share: 0.7,
    rate_factor: 0.8,
    stock_factor: 1.0,
    targets: CHONGQING_TARGETS,
    utilities: &["重庆燃气集团", "重庆水务集团", "国网重庆电力"],
    builders: &[
        "重庆建工集团",
        "重庆城建控股",
        "重庆市政集团",
        "渝中城市更新公司",
    ],
    // 两江新区 administers streets of 江北, 渝北 and 北碚.
    zones: &[
        ("500105", "两江新区", 0.2),
        ("500112", "两江新区", 0.35),
        ("500109", "两江新区", 0.15),
    ],
    age_shares: (0.219, 0.025),
    platform_figures: &[],
    platform_share: 0.55,
    // 54 scoring points (not published: how many were checked and passed).
    assessment: Assessment {
        framework: "cq_2024_54pts",
        checked: 600.0,
        passed: 210.0,
        pass_score: 80.0,
    },
};

/// Hangzhou: 13 districts and counties.
pub const HANGZHOU: CityProfile = CityProfile {
    key: "hangzhou",
    city_code: "330100",
    name_zh: "杭州市",
    prefix: "HZ",
    districts: HANGZHOU_DISTRICTS,
    communities: 2_100,
    hotline_per_resident: 20_000_000.0 / 21_893_000.0,
    heating: false,
    hotline_source: "hz12345",
    facility_source: "hz_shequ_tijian",
    renovation_source: "hz_weigai",
    facility_coords: CoordSys::Bd09,
    wanyuan_share: 0.4,
    rate_factor: 0.8,
    stock_factor: 1.0,
    targets: HANGZHOU_TARGETS,
    utilities: &["杭州市水务集团", "杭州燃气集团", "国网杭州供电"],
    builders: &[
        "杭州城建集团",
        "浙江建工集团",
        "杭州市政集团",
        "杭州城市更新公司",
    ],
    // 西湖风景名胜区 administers streets of 西湖区.
    zones: &[("330106", "西湖风景名胜区", 0.15)],
    age_shares: (0.169, 0.024),
    platform_figures: &[],
    platform_share: 0.5,
    // 1,260 communities health-checked, 438 complete (published).
    assessment: Assessment {
        framework: "hz_tijian_20items",
        checked: 1_260.0,
        passed: 438.0,
        pass_score: 80.0,
    },
};

/// Every city, in `--city` order.
pub const CITIES: &[&CityProfile] = &[&BEIJING, &CHONGQING, &HANGZHOU];

/// The city named `name` (`beijing`, `chongqing`, `hangzhou`, case-insensitive).
pub fn city(name: &str) -> Option<&'static CityProfile> {
    CITIES
        .iter()
        .copied()
        .find(|c| c.key.eq_ignore_ascii_case(name))
}

impl CityProfile {
    /// The annual flow target of `kpi` for the whole scope `scope`, if published.
    pub fn flow_target(&self, kpi: FlowKpi, scope: Scope) -> Option<f64> {
        self.targets.iter().find_map(|t| match t.figure {
            Figure::Flow(k, v) if k == kpi && t.scope == scope => Some(v),
            _ => None,
        })
    }

    /// Total residents at scale 1.0.
    pub fn population(&self) -> u64 {
        self.districts.iter().map(|d| u64::from(d.population)).sum()
    }
}

impl DistrictProfile {
    /// A fixed activity factor in `[0.7, 1.3]` that varies rates between districts without a
    /// published figure (stable across seeds: it is part of the city, not of the run).
    pub fn activity(&self) -> f64 {
        let h = crate::rng::mix64(self.code.parse::<u64>().unwrap_or(0));
        0.7 + 0.6 * ((h >> 11) as f64 / (1u64 << 53) as f64)
    }
}
