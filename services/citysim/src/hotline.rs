//! 12345 hotline tickets: arrivals by community population, season, weekday and hour of day,
//! extra complaints where renovation works are under way, and each ticket's lifecycle
//! (created → dispatched → accepted → [returned → re-dispatched] → caller contacted → closed →
//! surveyed → [reopened → … → surveyed again] → archived), one `hotline_ticket` event per step
//! carrying the ticket's full snapshot.
//!
//! A ticket's whole life is decided when it arrives; the generator keeps only tickets still
//! alive and a heap of their next steps, so memory stays bounded at any scale.
//!
//! The stream carries what real 12345 exports carry: archives days or weeks after the survey,
//! reopened tickets surveyed again (or not), invalid return visits (some with answers), tickets
//! dispatched without a due time, intakes without a community that the dispatch locates, a few
//! tickets naming their street and community without codes, resends, sources that do not bump
//! `ticket_version` on every step (ties broken by `event_time`), proactive items, and a few
//! quiet communities (campus and institutional compounds whose residents call their own unit)
//! that make Haidian's published zero-request community-months (K29).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use chrono::Datelike;

use civicpulse_core::event::hotline::{
    Channel, HandlingResult, HandlingUnitLevel, HotlineEventType, HotlineTicket, IntakeDisposition,
    RequestType, Satisfaction, TicketNature, TicketStatus, WcCategory,
};
use civicpulse_core::geo::{self, CoordSys};

use crate::SimError;
use crate::city::City;
use crate::clock::{self, DAY_MS, HOUR_MS, MINUTE_MS, Period, TimeMap};
use crate::emit::{Chunk, Generator, Metric, Tally, Topic, opt_buf, set, set_opt};
use crate::names;
use crate::renovation::Plan;
use crate::rng::{self, Cumulative, Purpose, SimRng, chance, int};

/// A request category: the source's three-level classification and its mapping to the
/// complete-community topics of §2.5.
struct Category {
    wc: Option<WcCategory>,
    l1: &'static str,
    l2: &'static str,
    /// (三级分类, title, tags).
    items: &'static [(&'static str, &'static str, &'static [&'static str])],
    weight: f64,
    /// Request-type weights: consult, help, complaint, report, suggestion.
    request: [f64; 5],
    /// Share of emergency/sensitive tickets (heating, water, fire safety).
    emergency: f64,
    /// District department handling it.
    department: &'static str,
}

const COMPLAINT: [f64; 5] = [0.15, 0.2, 0.55, 0.05, 0.05];
const SERVICE: [f64; 5] = [0.45, 0.3, 0.15, 0.0, 0.1];
const ENQUIRY: [f64; 5] = [0.5, 0.2, 0.2, 0.05, 0.05];

const CATEGORIES: &[Category] = &[
    Category {
        wc: Some(WcCategory::PropertyMgmt),
        l1: "城乡建设",
        l2: "物业管理",
        items: &[
            (
                "物业服务质量",
                "小区物业服务差，公共区域无人打扫",
                &["物业服务"],
            ),
            ("物业费", "物业费收费标准不透明", &["物业费"]),
            ("公共收益", "小区公共收益去向不明", &["公共收益"]),
            ("物业撤场/无物业", "老旧小区无物业管理", &["无物业"]),
            ("业委会", "业委会成立困难", &["业委会"]),
        ],
        weight: 12.0,
        request: COMPLAINT,
        emergency: 0.0,
        department: "住房和城乡建设委员会",
    },
    Category {
        wc: Some(WcCategory::Parking),
        l1: "城市管理",
        l2: "停车管理",
        items: &[
            ("小区停车难", "小区停车位不足，停车难", &["停车难"]),
            ("私装地锁", "有人私装地锁占用公共车位", &["地锁"]),
            ("占用消防通道", "车辆占用消防通道", &["消防通道"]),
            ("停车收费", "小区停车收费不合理", &["停车收费"]),
        ],
        weight: 6.0,
        request: COMPLAINT,
        emergency: 0.02,
        department: "城市管理委员会",
    },
    Category {
        wc: Some(WcCategory::Charging),
        l1: "城乡建设",
        l2: "充电设施",
        items: &[
            (
                "电动汽车充电桩安装难",
                "申请安装电动汽车充电桩被物业拒绝",
                &["充电桩"],
            ),
            (
                "飞线充电",
                "楼道内电动自行车飞线充电",
                &["飞线充电", "消防安全"],
            ),
            (
                "电动自行车充电",
                "小区缺少电动自行车充电设施",
                &["充电设施"],
            ),
        ],
        weight: 2.0,
        request: COMPLAINT,
        emergency: 0.15,
        department: "城市管理委员会",
    },
    Category {
        wc: Some(WcCategory::OldCompoundRenovation),
        l1: "城乡建设",
        l2: "老旧小区改造",
        items: &[
            ("改造进度", "老旧小区改造进度缓慢", &["老旧小区改造"]),
            ("施工扰民", "改造施工噪音扰民", &["施工扰民"]),
            ("改造质量", "改造后外墙出现裂缝", &["改造质量"]),
            ("外立面/屋面漏水", "顶楼屋面漏水", &["屋面漏水"]),
        ],
        weight: 2.0,
        request: COMPLAINT,
        emergency: 0.0,
        department: "住房和城乡建设委员会",
    },
    Category {
        wc: Some(WcCategory::ElevatorRetrofit),
        l1: "城乡建设",
        l2: "住房",
        items: &[
            (
                "老楼加装电梯",
                "老楼加装电梯施工进度慢",
                &["加装电梯", "施工进度"],
            ),
            (
                "低层住户反对",
                "加装电梯低层住户反对",
                &["加装电梯", "低层反对"],
            ),
            (
                "费用分摊",
                "加装电梯费用分摊有争议",
                &["加装电梯", "费用分摊"],
            ),
            (
                "电梯维保",
                "加装电梯故障维保不及时",
                &["加装电梯", "电梯维保"],
            ),
        ],
        weight: 1.0,
        request: COMPLAINT,
        emergency: 0.0,
        department: "住房和城乡建设委员会",
    },
    Category {
        wc: Some(WcCategory::AgingFriendly),
        l1: "民政服务",
        l2: "适老化改造",
        items: &[
            ("坡道扶手", "单元门口缺少无障碍坡道", &["无障碍"]),
            ("居家适老化", "申请居家适老化改造", &["适老化"]),
        ],
        weight: 0.7,
        request: SERVICE,
        emergency: 0.0,
        department: "民政局",
    },
    Category {
        wc: Some(WcCategory::Noise),
        l1: "生态环境",
        l2: "噪声污染",
        items: &[
            ("施工噪声", "夜间施工噪声扰民", &["施工噪声"]),
            ("商业噪声", "底商噪声扰民", &["商业噪声"]),
            ("邻里噪声", "楼上住户噪声扰民", &["邻里噪声"]),
            ("广场舞", "广场舞音响声音过大", &["广场舞"]),
        ],
        weight: 6.0,
        request: COMPLAINT,
        emergency: 0.0,
        department: "生态环境局",
    },
    Category {
        wc: Some(WcCategory::Heating),
        l1: "城乡建设",
        l2: "供暖",
        items: &[
            (
                "不热",
                "家中暖气不热，室温低于18度",
                &["供暖", "室温不达标"],
            ),
            ("停暖", "小区突然停暖", &["供暖", "停暖"]),
            ("收费", "供暖费收费问题", &["供暖费"]),
        ],
        weight: 0.3,
        request: [0.1, 0.45, 0.4, 0.0, 0.05],
        emergency: 0.6,
        department: "城市管理委员会",
    },
    Category {
        wc: Some(WcCategory::Utilities),
        l1: "城乡建设",
        l2: "水电气",
        items: &[
            ("停水", "小区突然停水", &["停水"]),
            ("水质", "自来水发黄", &["水质"]),
            ("管网老化", "小区供水管网老化经常爆管", &["管网老化"]),
            ("雨污混流", "雨污管道混接污水外溢", &["雨污混流"]),
            ("停电", "小区停电", &["停电"]),
            ("燃气", "楼道有燃气异味", &["燃气", "消防安全"]),
        ],
        weight: 6.0,
        request: [0.15, 0.45, 0.35, 0.0, 0.05],
        emergency: 0.3,
        department: "水务局",
    },
    Category {
        wc: Some(WcCategory::OverheadLines),
        l1: "城市管理",
        l2: "架空线",
        items: &[
            ("飞线", "小区内飞线杂乱", &["飞线"]),
            ("线缆杂乱", "楼外通信线缆杂乱垂落", &["线缆杂乱"]),
        ],
        weight: 0.8,
        request: COMPLAINT,
        emergency: 0.05,
        department: "城市管理委员会",
    },
    Category {
        wc: Some(WcCategory::Sanitation),
        l1: "城市管理",
        l2: "环境卫生",
        items: &[
            ("垃圾分类", "垃圾分类桶站设置不合理", &["垃圾分类"]),
            ("清运不及时", "垃圾清运不及时，气味难闻", &["垃圾清运"]),
        ],
        weight: 5.0,
        request: COMPLAINT,
        emergency: 0.0,
        department: "城市管理委员会",
    },
    Category {
        wc: Some(WcCategory::IllegalConstruction),
        l1: "城市管理",
        l2: "违法建设",
        items: &[
            ("私搭乱建", "一层住户私搭乱建", &["违建"]),
            ("群租", "小区内存在群租房", &["群租"]),
        ],
        weight: 3.0,
        request: [0.05, 0.05, 0.3, 0.55, 0.05],
        emergency: 0.0,
        department: "城市管理综合行政执法局",
    },
    Category {
        wc: Some(WcCategory::ElderlyServices),
        l1: "民政服务",
        l2: "养老服务",
        items: &[
            ("助餐", "社区老年餐桌供餐不足", &["助餐"]),
            ("驿站服务", "养老驿站服务项目少", &["养老驿站"]),
            ("床位", "养老床位难申请", &["养老床位"]),
        ],
        weight: 1.5,
        request: SERVICE,
        emergency: 0.0,
        department: "民政局",
    },
    Category {
        wc: Some(WcCategory::Childcare),
        l1: "教育",
        l2: "托育入园",
        items: &[
            ("托位不足", "附近普惠托育机构托位不足", &["托育"]),
            ("收费", "托育机构收费过高", &["托育收费"]),
            ("入园难", "孩子入园难", &["入园"]),
        ],
        weight: 1.0,
        request: SERVICE,
        emergency: 0.0,
        department: "教育委员会",
    },
    Category {
        wc: Some(WcCategory::PublicSpace),
        l1: "城市管理",
        l2: "公共空间",
        items: &[
            ("健身器材", "小区健身器材损坏", &["健身器材"]),
            ("活动场地", "社区缺少老年人活动场地", &["活动场地"]),
            ("绿地", "小区绿地被占用", &["绿化"]),
        ],
        weight: 2.0,
        request: COMPLAINT,
        emergency: 0.0,
        department: "园林绿化局",
    },
    Category {
        wc: None,
        l1: "交通管理",
        l2: "道路交通",
        items: &[
            ("信号灯", "路口信号灯配时不合理", &[]),
            ("公交线路", "公交线路调整后出行不便", &[]),
        ],
        weight: 8.0,
        request: ENQUIRY,
        emergency: 0.0,
        department: "交通委员会",
    },
    Category {
        wc: None,
        l1: "市场监管",
        l2: "消费维权",
        items: &[
            ("预付卡", "健身房预付卡退费难", &[]),
            ("食品安全", "餐馆卫生条件差", &[]),
        ],
        weight: 9.0,
        request: [0.2, 0.1, 0.5, 0.15, 0.05],
        emergency: 0.0,
        department: "市场监督管理局",
    },
    Category {
        wc: None,
        l1: "劳动和社会保障",
        l2: "劳动保障",
        items: &[("欠薪", "公司拖欠工资", &[]), ("社保", "社保缴费咨询", &[])],
        weight: 8.0,
        request: ENQUIRY,
        emergency: 0.0,
        department: "人力资源和社会保障局",
    },
    Category {
        wc: None,
        l1: "医疗卫生",
        l2: "医疗服务",
        items: &[
            ("挂号", "医院挂号难", &[]),
            ("医保", "医保报销政策咨询", &[]),
        ],
        weight: 6.0,
        request: ENQUIRY,
        emergency: 0.0,
        department: "卫生健康委员会",
    },
    Category {
        wc: None,
        l1: "教育",
        l2: "教育管理",
        items: &[
            ("学籍", "转学学籍咨询", &[]),
            ("校外培训", "校外培训机构退费难", &[]),
        ],
        weight: 4.0,
        request: ENQUIRY,
        emergency: 0.0,
        department: "教育委员会",
    },
    Category {
        wc: None,
        l1: "公共安全",
        l2: "消防安全",
        items: &[("消防隐患", "商铺存在消防安全隐患", &[])],
        weight: 3.0,
        request: [0.1, 0.1, 0.3, 0.45, 0.05],
        emergency: 0.5,
        department: "消防救援支队",
    },
    Category {
        wc: None,
        l1: "住房保障",
        l2: "住房政策",
        items: &[
            ("公租房", "公租房申请咨询", &[]),
            ("房产证", "房产证办理问题", &[]),
        ],
        weight: 5.0,
        request: ENQUIRY,
        emergency: 0.0,
        department: "住房和城乡建设委员会",
    },
    Category {
        wc: None,
        l1: "政务服务",
        l2: "办事咨询",
        items: &[
            ("证件办理", "身份证办理咨询", &[]),
            ("户籍", "户口迁移咨询", &[]),
        ],
        weight: 4.0,
        request: [0.8, 0.1, 0.05, 0.0, 0.05],
        emergency: 0.0,
        department: "政务服务管理局",
    },
];

/// Hour-of-day profile of incoming requests.
const HOURLY: [f64; 24] = [
    0.2, 0.12, 0.08, 0.06, 0.06, 0.1, 0.3, 0.6, 1.2, 1.8, 1.9, 1.7, 1.1, 1.3, 1.6, 1.6, 1.5, 1.3,
    1.0, 0.9, 0.8, 0.6, 0.4, 0.3,
];
/// Month profile (July–August peak, Spring Festival dip), mean 1.
const MONTHLY: [f64; 12] = [
    0.97, 0.86, 1.0, 0.95, 0.95, 1.05, 1.15, 1.15, 1.0, 0.9, 0.97, 1.05,
];
/// Weekday profile, Monday first.
const WEEKDAY: [f64; 7] = [1.12, 1.06, 1.04, 1.04, 1.02, 0.86, 0.86];

/// Share of a district's communities that are quiet: campus and institutional compounds (高校,
/// 科研院所, 部队大院) whose residents take their problems to their unit, not to 12345. Haidian
/// published 312 zero-request community-months for 2024 (26 a month); its ~600 communities at
/// scale 1 have 27 quiet ones (the others receive dozens of requests a month and are never
/// zero), each without an in-scope request in about 98 % of months.
pub const QUIET_SHARE: f64 = 0.045;
/// Tickets of any kind a quiet community sends a month.
const QUIET_PER_MONTH: f64 = 0.05;
/// Share of dispatched tickets sent without a `due_time` (transferred ones: [`NO_DUE_TRANSFERRED`]).
const NO_DUE: f64 = 0.02;
/// Share of transferred tickets sent without a `due_time`.
const NO_DUE_TRANSFERRED: f64 = 0.5;
/// Share of located, dispatched tickets whose intake has no community (the dispatch has it).
const INTAKE_UNLOCATED: f64 = 0.1;
/// Share of located tickets (outside quiet communities) naming street and community without
/// codes, as some 12345 exports do.
const NAMES_ONLY: f64 = 0.01;
/// Share of tickets from a source that bumps `ticket_version` only when the handling state
/// changes: contact and archive events repeat the previous version.
const COARSE_VERSIONS: f64 = 0.08;
/// Share of events sent twice (an upstream resend: same event_id and bytes).
const RESEND: f64 = 0.004;

/// A lifecycle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Created,
    Dispatched,
    Accepted,
    Returned,
    Contacted,
    Closed(HandlingResult),
    /// Survey outcome: valid visit, contacted, resolved, satisfaction.
    Surveyed(Option<(bool, bool, bool, Satisfaction)>),
    Reopened,
    Archived,
}

#[derive(Debug, Clone, Copy)]
struct Step {
    time: i64,
    kind: Kind,
}

/// The contribution of a ticket's last valid survey to the three rates: (local day of the
/// survey, contacted, resolved, satisfaction).
type Contribution = (i32, bool, bool, Satisfaction);

/// A live ticket: everything decided at arrival.
struct Ticket {
    uid: u64,
    /// Texts rendered once per ticket (see [`Part`]), so events only copy them.
    text: String,
    parts: [(u16, u16); Part::COUNT],
    community: usize,
    /// Whether the event names the community (and its street).
    located: bool,
    street_known: bool,
    /// The intake event carries no street or community; the dispatch does.
    intake_unlocated: bool,
    /// Street and community are sent by name only, without codes.
    names_only: bool,
    /// Contact and archive events repeat the previous `ticket_version`.
    coarse_versions: bool,
    category: u8,
    item: u8,
    channel: Channel,
    request: RequestType,
    nature: TicketNature,
    disposition: IntakeDisposition,
    emergency: bool,
    proactive: bool,
    level: HandlingUnitLevel,
    phone: bool,
    caller: bool,
    compound: u16,
    coords: Option<(CoordSys, f64, f64)>,
    project: Option<u32>,
    /// `due_time`, when the ticket has one.
    due: Option<i64>,
    steps: Vec<Step>,
    /// The last valid survey sent (K25–K28).
    contribution: Option<Contribution>,
    /// Whether a closure was sent (K30 counts the first).
    closed: bool,
    /// Whether an event with the community's code was sent (K29 counts the first).
    community_sent: bool,
}

/// The texts of a ticket, in [`Ticket::text`].
#[derive(Debug, Clone, Copy)]
enum Part {
    Id,
    Content,
    Location,
    Unit,
    Phone,
    Caller,
}

impl Part {
    const COUNT: usize = 6;
}

impl Ticket {
    fn part(&self, p: Part) -> &str {
        let (a, b) = self.parts[p as usize];
        &self.text[usize::from(a)..usize::from(b)]
    }
}

/// Appends `v` in decimal, zero-padded to `width`.
fn push_num(s: &mut String, v: u64, width: usize) {
    let digits = v.checked_ilog10().map_or(1, |d| d as usize + 1);
    for _ in digits..width {
        s.push('0');
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&buf[i..]).expect("ASCII digits"));
}

/// Per-district service quality: probabilities behind the three rates.
#[derive(Debug, Clone, Copy)]
struct Quality {
    contact: f64,
    resolve: f64,
    /// Share of proactive items (主动治理, K35).
    proactive: f64,
}

/// Emits the `hotline_ticket` events of one district.
pub struct HotlineGen {
    city: Arc<City>,
    plan: Arc<Plan>,
    district: usize,
    seed: u64,
    rng: SimRng,
    next_day: i32,
    end_day: i32,
    end_ms: i64,
    per_day: f64,
    communities: Cumulative,
    hours: Cumulative,
    categories: [Cumulative; 3],
    span_cursor: usize,
    quality: Quality,
    /// Quiet communities ([`QUIET_SHARE`]), by index.
    quiet: Vec<bool>,
    /// (community, first day of month) already tallied for K29.
    requested: HashSet<(u32, i32)>,
    tickets: Vec<Option<Ticket>>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u64, u32)>>,
    next_uid: u64,
    buf: HotlineTicket,
    tallies: Vec<Tally>,
    date_cache: (i32, chrono::NaiveDate),
}

impl HotlineGen {
    /// The generator of district `district` (index in `city.districts`), for tickets received
    /// in `period`.
    pub fn new(
        city: Arc<City>,
        plan: Arc<Plan>,
        district: usize,
        seed: u64,
        period: Period,
    ) -> Self {
        let d = &city.districts[district];
        let profile = city.profile;
        let rng = rng::rng(seed, Purpose::Hotline, d.index as u64);
        // Service quality varies by district but not by seed: it is part of the city.
        let q = rng::mix64(d.profile.code.parse::<u64>().unwrap_or(0) ^ 0x5EED);
        let u = |shift: u32| ((q >> shift) & 0xFFFF) as f64 / 65_536.0;
        let quality = Quality {
            contact: 0.955 + 0.035 * u(0),
            resolve: 0.86 + 0.09 * u(16),
            proactive: 0.02 + 0.03 * u(32),
        };
        let per_day = d.population() as f64 * profile.hotline_per_resident / 365.25;
        let quiet = quiet_communities(seed, d.index, d.communities.len());
        // Quiet communities send their trickle on their own; the rest share the volume.
        let communities = Cumulative::new(
            d.communities
                .iter()
                .zip(&quiet)
                .map(|(c, &q)| if q { 0.0 } else { f64::from(c.population) }),
        );
        let hours = Cumulative::new(HOURLY);
        let season = |heating: bool, summer: bool| {
            Cumulative::new(CATEGORIES.iter().map(|c| {
                let mut w = c.weight;
                match c.wc {
                    Some(WcCategory::Heating) if heating && profile.heating => w += 14.0,
                    Some(WcCategory::Noise) if summer => w += 2.0,
                    Some(WcCategory::Utilities) if summer => w += 1.0,
                    Some(WcCategory::Sanitation) if summer => w += 1.5,
                    Some(WcCategory::Childcare) if summer => w += 0.8,
                    _ => {}
                }
                w
            }))
        };
        let buf = HotlineTicket {
            event_id: String::new(),
            event_type: HotlineEventType::Created,
            schema_version: "1.0".into(),
            source_system: profile.hotline_source.into(),
            source_record_id: None,
            event_time: clock::event_time(0),
            ingest_time: clock::event_time(0),
            city_code: profile.city_code.into(),
            district_code: d.code.clone(),
            district_name: d.name.clone(),
            street_code: None,
            street_name: None,
            community_code: None,
            community_name: None,
            event_date: None,
            ticket_id: String::new(),
            ticket_version: 0,
            channel: Channel::Phone,
            request_type: RequestType::Complaint,
            category_l1: String::new(),
            category_l2: None,
            category_l3: None,
            wc_category: None,
            tags: None,
            title: None,
            content: None,
            ticket_nature: None,
            is_emergency_sensitive: None,
            intake_disposition: IntakeDisposition::Dispatched,
            caller_phone: None,
            caller_name: None,
            compound_name: None,
            location_text: None,
            lng: None,
            lat: None,
            coord_sys_raw: None,
            handling_unit: None,
            handling_unit_level: None,
            received_time: clock::event_time(0),
            dispatched_time: None,
            accepted_time: None,
            contacted_time: None,
            due_time: None,
            closed_time: None,
            status: TicketStatus::Received,
            return_count: None,
            reopen_count: None,
            handling_result: None,
            reply_text: None,
            is_valid_visit: None,
            contacted: None,
            resolved: None,
            satisfaction: None,
            is_proactive: None,
            related_project_id: None,
            related_facility_id: None,
        };
        Self {
            city,
            plan,
            district,
            seed,
            rng,
            next_day: period.from_day(),
            end_day: period.to_day(),
            end_ms: period.end_ms(),
            per_day,
            communities,
            hours,
            categories: [
                season(false, false),
                season(true, false),
                season(false, true),
            ],
            span_cursor: 0,
            quality,
            quiet,
            requested: HashSet::new(),
            tickets: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            next_uid: 0,
            buf,
            tallies: Vec::new(),
            date_cache: (0, clock::date(0)),
        }
    }

    /// Expected tickets a year at this district's size.
    pub fn tickets_per_year(&self) -> f64 {
        self.per_day * 365.25
    }

    /// Creates the tickets received on the next day.
    fn spawn_day(&mut self) {
        let day = self.next_day;
        self.next_day += 1;
        let month = clock::month(day) as usize;
        let doy = clock::day_of_year(day);
        // Heating season: 15 November to 15 March.
        let heating = !(74..319).contains(&doy);
        let summer = (6..=8).contains(&month);
        let season = if heating {
            1
        } else if summer {
            2
        } else {
            0
        };
        let lambda = self.per_day * MONTHLY[month - 1] * WEEKDAY[clock::weekday(day) as usize];
        let n = rng::poisson(&mut self.rng, lambda);
        let mut seq = 0u32;
        for _ in 0..n {
            let community = self.communities.sample(&mut self.rng);
            let category = self.categories[season].sample(&mut self.rng);
            self.create(day, seq, community, category, None);
            seq += 1;
        }
        for community in 0..self.quiet.len() {
            if !self.quiet[community] {
                continue;
            }
            for _ in 0..rng::poisson(&mut self.rng, QUIET_PER_MONTH * 12.0 / 365.25) {
                let category = self.categories[season].sample(&mut self.rng);
                self.create(day, seq, community, category, None);
                seq += 1;
            }
        }
        // Works under way draw complaints from their community (not from quiet ones: their
        // residents complain to their unit).
        let plan = Arc::clone(&self.plan);
        let spans = &plan.districts[self.district].spans;
        while self.span_cursor < spans.len() && spans[self.span_cursor].end <= day {
            self.span_cursor += 1;
        }
        for span in spans[self.span_cursor..]
            .iter()
            .take_while(|s| s.start <= day)
        {
            if span.end <= day || self.quiet[span.community] {
                continue;
            }
            for _ in 0..rng::poisson(&mut self.rng, span.rate) {
                let category = CATEGORIES
                    .iter()
                    .position(|c| c.wc == Some(span.wc))
                    .unwrap_or(0);
                self.create(
                    day,
                    seq,
                    span.community,
                    category,
                    Some(span.project as u32),
                );
                seq += 1;
            }
        }
    }

    /// Decides a whole ticket and schedules its first step.
    fn create(
        &mut self,
        day: i32,
        seq: u32,
        community: usize,
        category: usize,
        project: Option<u32>,
    ) {
        let r = &mut self.rng;
        let cat = &CATEGORIES[category];
        let hour = self.hours.sample(r) as i64;
        let received = clock::day_start(day) + hour * HOUR_MS + int(r, 0, 3599) * 1000;
        let item = int(r, 0, cat.items.len() as i64 - 1) as u8;
        let request = [
            RequestType::Consult,
            RequestType::Help,
            RequestType::Complaint,
            RequestType::Report,
            RequestType::Suggestion,
        ][rng::pick(r, &cat.request)];
        let proactive = chance(r, self.quality.proactive);
        let channel = if proactive {
            Channel::Inspector
        } else {
            [
                Channel::Phone,
                Channel::Wechat,
                Channel::App,
                Channel::Web,
                Channel::Inspector,
                Channel::ProvinceTransfer,
                Channel::Email,
                Channel::Rating,
                Channel::Video,
                Channel::Other,
            ][rng::pick(r, &[70.0, 10.0, 8.0, 5.0, 3.0, 1.5, 0.5, 1.0, 0.5, 0.5])]
        };
        let emergency = chance(r, cat.emergency);
        let nature = if emergency {
            TicketNature::Urgent
        } else {
            [
                TicketNature::Normal,
                TicketNature::Key,
                TicketNature::Supervised,
            ][rng::pick(r, &[0.93, 0.05, 0.02])]
        };
        let disposition = if request == RequestType::Consult && chance(r, 0.6) {
            IntakeDisposition::AnsweredDirectly
        } else {
            [
                IntakeDisposition::Dispatched,
                IntakeDisposition::Transferred,
                IntakeDisposition::Invalid,
            ][rng::pick(r, &[0.95, 0.03, 0.02])]
        };
        let located = if cat.wc.is_some() {
            chance(r, 0.9)
        } else {
            chance(r, 0.55)
        };
        let street_known = located || chance(r, 0.5);
        let routed = matches!(
            disposition,
            IntakeDisposition::Dispatched | IntakeDisposition::Transferred
        );
        let intake_unlocated = located && routed && chance(r, INTAKE_UNLOCATED);
        let names_only =
            located && !intake_unlocated && !self.quiet[community] && chance(r, NAMES_ONLY);
        let coarse_versions = chance(r, COARSE_VERSIONS);
        let no_due = match disposition {
            IntakeDisposition::Dispatched => chance(r, NO_DUE),
            IntakeDisposition::Transferred => chance(r, NO_DUE_TRANSFERRED),
            _ => true,
        };
        let level = if cat.wc == Some(WcCategory::Heating)
            || (cat.wc == Some(WcCategory::Utilities) && chance(r, 0.6))
        {
            HandlingUnitLevel::Soe
        } else if disposition == IntakeDisposition::Transferred {
            HandlingUnitLevel::MunicipalDept
        } else if !street_known {
            HandlingUnitLevel::District
        } else {
            [
                HandlingUnitLevel::Street,
                HandlingUnitLevel::District,
                HandlingUnitLevel::PropertyCompany,
                HandlingUnitLevel::Community,
                HandlingUnitLevel::MunicipalDept,
                HandlingUnitLevel::PlatformCompany,
            ][rng::pick(
                r,
                &[
                    0.55,
                    0.15,
                    if cat.wc.is_some() { 0.12 } else { 0.0 },
                    0.1,
                    0.05,
                    if cat.wc.is_none() { 0.03 } else { 0.0 },
                ],
            )]
        };
        let c = &self.city.districts[self.district].communities[community];
        let (population, compounds, c_lng, c_lat) = (c.population, c.compounds.len(), c.lng, c.lat);
        let anonymous = proactive || chance(r, 0.06);
        let phone = (!anonymous).then(|| {
            // Callers come from a pool per community, so some call again.
            let caller = int(r, 0, i64::from(population / 2));
            let h = rng::hash(&[
                self.seed,
                self.city.districts[self.district].index as u64,
                community as u64,
                caller as u64,
            ]);
            const PREFIXES: [u64; 16] = [
                130, 131, 132, 135, 136, 137, 138, 139, 150, 151, 158, 166, 177, 186, 188, 199,
            ];
            PREFIXES[(h % 16) as usize] * 100_000_000 + (h >> 8) % 100_000_000
        });
        let caller = (phone.is_some() && chance(r, 0.4)).then(|| {
            (
                int(r, 0, names::SURNAME_COUNT as i64 - 1) as u8,
                chance(r, 0.5),
            )
        });
        let coords = chance(r, 0.6).then(|| {
            let lng = c_lng + rng::normal(r) * 0.003;
            let lat = c_lat + rng::normal(r) * 0.002;
            if chance(r, 0.85) {
                let (g, t) = geo::wgs84_to_gcj02(lng, lat);
                (CoordSys::Gcj02, round6(g), round6(t))
            } else {
                let (g, t) = geo::wgs84_to_gcj02(lng, lat);
                let (b, u) = geo::gcj02_to_bd09(g, t);
                (CoordSys::Bd09, round6(b), round6(u))
            }
        });
        let due = (!no_due).then(|| {
            received
                + if emergency {
                    DAY_MS
                } else if matches!(request, RequestType::Consult | RequestType::Help) {
                    3 * DAY_MS
                } else {
                    15 * DAY_MS
                }
        });
        let steps = self.lifecycle(received, request, disposition, emergency, phone.is_some());
        let r = &mut self.rng;
        let phone_style = int(r, 0, 9);
        let compound = int(r, 0, compounds as i64 - 1) as usize;
        let building = int(r, 1, 30) as u64;
        let content_phone = chance(r, 0.05);
        let uid = self.next_uid;

        // Everything textual is rendered once here; events copy the pieces.
        let d = &self.city.districts[self.district];
        let c = &d.communities[community];
        let street = &d.streets[c.street];
        let (title, cp) = (cat.items[usize::from(item)].1, &c.compounds[compound]);
        let mut text = String::with_capacity(256);
        let mut parts = [(0u16, 0u16); Part::COUNT];
        let mut mark = |text: &mut String, part: Part, start: usize| {
            parts[part as usize] = (start as u16, text.len() as u16)
        };
        let at = text.len();
        let date = clock::date(day);
        text.push_str("GD");
        push_num(&mut text, u64::from(date.year_ce().1), 4);
        push_num(&mut text, u64::from(date.month()), 2);
        push_num(&mut text, u64::from(date.day()), 2);
        push_num(&mut text, (d.index % 100) as u64, 2);
        push_num(&mut text, u64::from(seq % 1_000_000), 6);
        mark(&mut text, Part::Id, at);
        let at = text.len();
        text.push_str("市民反映：");
        if located {
            text.push_str(cp);
            push_num(&mut text, building, 0);
            text.push_str("号楼");
        }
        text.push_str(title);
        text.push('。');
        text.push_str(rng::choose_by(
            uid,
            &[
                "希望相关部门尽快处理。",
                "已多次反映未解决。",
                "请尽快协调解决。",
                "希望给予答复。",
            ],
        ));
        if content_phone && let Some(p) = phone {
            text.push_str("联系电话");
            push_num(&mut text, p, 0);
            text.push('。');
        }
        mark(&mut text, Part::Content, at);
        let at = text.len();
        if located {
            push_num(&mut text, building, 0);
            text.push_str("号楼");
            text.push_str(rng::choose_by(
                uid ^ 3,
                &["东侧", "西侧", "南侧", "北侧", "楼下", "单元门口", "地下室"],
            ));
        }
        mark(&mut text, Part::Location, at);
        let at = text.len();
        let profile = self.city.profile;
        match level {
            HandlingUnitLevel::Street if street_known => text.push_str(&street.name),
            HandlingUnitLevel::Street | HandlingUnitLevel::District => {
                text.push_str(&d.name);
                text.push_str(cat.department);
            }
            HandlingUnitLevel::PropertyCompany => {
                text.push_str(cp);
                text.push_str("物业服务中心");
            }
            HandlingUnitLevel::Community => {
                text.push_str(&c.name);
                text.push_str("居委会");
            }
            HandlingUnitLevel::Soe => text.push_str(rng::choose_by(uid, profile.utilities)),
            HandlingUnitLevel::MunicipalDept => {
                text.push_str(profile.name_zh);
                text.push_str(cat.department);
            }
            HandlingUnitLevel::PlatformCompany => {
                text.push_str(rng::choose_by(uid, &["美团", "京东", "滴滴出行", "饿了么"]))
            }
        }
        mark(&mut text, Part::Unit, at);
        let at = text.len();
        if let Some(p) = phone {
            match phone_style {
                0 => {
                    text.push_str("+86 ");
                    push_num(&mut text, p / 100_000_000, 3);
                    text.push('-');
                    push_num(&mut text, p / 10_000 % 10_000, 4);
                    text.push('-');
                    push_num(&mut text, p % 10_000, 4);
                }
                1 => {
                    text.push_str("0086");
                    push_num(&mut text, p, 0);
                }
                _ => push_num(&mut text, p, 0),
            }
        }
        mark(&mut text, Part::Phone, at);
        let at = text.len();
        if let Some((surname, male)) = caller {
            text.push_str(names::surname(usize::from(surname)));
            text.push_str(if male { "先生" } else { "女士" });
        }
        mark(&mut text, Part::Caller, at);
        let ticket = Ticket {
            uid,
            text,
            parts,
            community,
            located,
            street_known,
            intake_unlocated,
            names_only,
            coarse_versions,
            category: category as u8,
            item,
            channel,
            request,
            nature,
            disposition,
            emergency,
            proactive,
            level,
            phone: phone.is_some(),
            caller: caller.is_some(),
            compound: compound as u16,
            coords,
            project,
            due,
            steps,
            contribution: None,
            closed: false,
            community_sent: false,
        };
        self.next_uid += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.tickets[s as usize] = Some(ticket);
                s
            }
            None => {
                self.tickets.push(Some(ticket));
                (self.tickets.len() - 1) as u32
            }
        };
        self.heap
            .push(Reverse((received, (self.next_uid - 1) << 8, slot)));
    }

    /// The ticket's steps with their times.
    fn lifecycle(
        &mut self,
        received: i64,
        request: RequestType,
        disposition: IntakeDisposition,
        emergency: bool,
        reachable: bool,
    ) -> Vec<Step> {
        let q = self.quality;
        let r = &mut self.rng;
        let mut steps = Vec::with_capacity(8);
        let mut t = received;
        let push = |steps: &mut Vec<Step>, time: i64, kind| {
            // Steps of a ticket are at least a minute apart, so versions follow time.
            let time = match steps.last() {
                Some(s) if time <= s.time => s.time + MINUTE_MS,
                _ => time,
            };
            steps.push(Step { time, kind });
            time
        };
        t = push(&mut steps, t, Kind::Created);
        let minutes = |r: &mut SimRng, median: f64, sigma: f64| {
            (rng::lognormal(r, median, sigma) * MINUTE_MS as f64) as i64 / 1000 * 1000
        };
        match disposition {
            IntakeDisposition::Invalid => {
                push(&mut steps, t + int(r, 1, 48) * HOUR_MS, Kind::Archived);
                return steps;
            }
            IntakeDisposition::AnsweredDirectly => {
                let result = if chance(r, 0.8) {
                    HandlingResult::Explained
                } else {
                    HandlingResult::Resolved
                };
                t = push(
                    &mut steps,
                    t + int(r, 2, 15) * MINUTE_MS,
                    Kind::Closed(result),
                );
                if reachable && chance(r, 0.35) {
                    let resolved = chance(r, 0.96);
                    let outcome = survey_outcome(r, true, resolved);
                    t = push(
                        &mut steps,
                        daytime(t + int(r, 20, 60) * HOUR_MS),
                        Kind::Surveyed(outcome),
                    );
                    if chance(r, 0.5) {
                        push(
                            &mut steps,
                            daytime(t + int(r, 5, 15) * DAY_MS),
                            Kind::Archived,
                        );
                    }
                }
                return steps;
            }
            _ => {}
        }
        let speed = if emergency { 0.3 } else { 1.0 };
        t = push(
            &mut steps,
            t + minutes(r, 25.0 * speed, 0.8).clamp(2 * MINUTE_MS, 12 * HOUR_MS),
            Kind::Dispatched,
        );
        t = push(
            &mut steps,
            t + minutes(r, 40.0 * speed, 1.0).clamp(MINUTE_MS, 24 * HOUR_MS),
            Kind::Accepted,
        );
        if chance(r, 0.05) {
            t = push(&mut steps, t + int(r, 1, 8) * HOUR_MS, Kind::Returned);
            t = push(&mut steps, t + minutes(r, 90.0, 0.6), Kind::Dispatched);
            t = push(&mut steps, t + minutes(r, 40.0, 1.0), Kind::Accepted);
        }
        let contacted = chance(r, q.contact);
        if contacted {
            let wait = if emergency {
                minutes(r, 30.0, 0.6)
            } else {
                minutes(r, 180.0, 0.9)
            };
            t = push(
                &mut steps,
                if emergency {
                    t + wait
                } else {
                    daytime(t + wait)
                },
                Kind::Contacted,
            );
        }
        let handling = if emergency {
            minutes(r, 8.0 * 60.0, 0.6)
        } else if matches!(request, RequestType::Consult | RequestType::Help) {
            minutes(r, 1.5 * 1440.0, 0.6)
        } else {
            minutes(r, 4.0 * 1440.0, 0.6)
        };
        let resolved = chance(r, q.resolve);
        t = push(
            &mut steps,
            daytime(t + handling),
            Kind::Closed(result_for(r, resolved)),
        );
        if !reachable {
            push(
                &mut steps,
                daytime(t + int(r, 5, 15) * DAY_MS),
                Kind::Archived,
            );
            return steps;
        }
        let Some(outcome) = survey_attempt(r, contacted, resolved) else {
            return steps;
        };
        t = push(
            &mut steps,
            daytime(t + int(r, 20, 72) * HOUR_MS),
            Kind::Surveyed(outcome),
        );
        let unhappy = matches!(outcome, Some((_, _, false, Satisfaction::Dissatisfied)));
        if (unhappy && chance(r, 0.35)) || chance(r, 0.01) {
            t = push(&mut steps, t + int(r, 2, 48) * HOUR_MS, Kind::Reopened);
            if contacted {
                t = push(
                    &mut steps,
                    daytime(t + minutes(r, 240.0, 0.8)),
                    Kind::Contacted,
                );
            }
            let resolved = chance(r, q.resolve.max(0.9));
            t = push(
                &mut steps,
                daytime(t + minutes(r, 3.0 * 1440.0, 0.6)),
                Kind::Closed(result_for(r, resolved)),
            );
            // Surveyed again like the first time: valid, invalid or not at all (the ticket
            // then stays at its earlier valid survey).
            if let Some(outcome) = survey_attempt(r, contacted, resolved) {
                t = push(
                    &mut steps,
                    daytime(t + int(r, 20, 72) * HOUR_MS),
                    Kind::Surveyed(outcome),
                );
            }
        }
        if chance(r, 0.55) {
            push(
                &mut steps,
                daytime(t + int(r, 5, 15) * DAY_MS),
                Kind::Archived,
            );
        }
        steps
    }

    /// Fills the reusable event with step `k` of `ticket` and returns the tallies.
    fn materialise(&mut self, slot: usize, k: usize, map: &TimeMap) {
        let ticket = self.tickets[slot]
            .as_mut()
            .expect("scheduled ticket is alive");
        let d = &self.city.districts[self.district];
        let c = &d.communities[ticket.community];
        let street = &d.streets[c.street];
        let cat = &CATEGORIES[usize::from(ticket.category)];
        let (l3, title, tags) = cat.items[usize::from(ticket.item)];
        let step = ticket.steps[k];
        let b = &mut self.buf;
        let time = map.ms(step.time);
        let uid = rng::hash(&[
            self.seed,
            4,
            self.city.districts[self.district].index as u64,
            ticket.uid,
            k as u64,
        ]);
        rng::write_uuid7(&mut b.event_id, time, uid, rng::mix64(uid));
        b.event_type = match step.kind {
            Kind::Created => HotlineEventType::Created,
            Kind::Dispatched => HotlineEventType::Dispatched,
            Kind::Accepted => HotlineEventType::Accepted,
            Kind::Returned => HotlineEventType::Returned,
            Kind::Contacted => HotlineEventType::CallerContacted,
            Kind::Closed(_) => HotlineEventType::Closed,
            Kind::Surveyed(_) => HotlineEventType::Surveyed,
            Kind::Reopened => HotlineEventType::Reopened,
            Kind::Archived => HotlineEventType::Archived,
        };
        b.event_time = clock::event_time(time);
        b.ingest_time = clock::event_time(time + 1000 + (uid % 120_000) as i64 / 1000 * 1000);
        let day = clock::local_day(time);
        if self.date_cache.0 != day {
            self.date_cache = (day, clock::date(day));
        }
        b.event_date = Some(self.date_cache.1);
        // An intake without a place: the dispatch locates the ticket.
        let placed = !(k == 0 && ticket.intake_unlocated);
        let codes = !ticket.names_only;
        if ticket.street_known && placed {
            set_opt(&mut b.street_code, codes.then_some(street.code.as_str()));
            set_opt(&mut b.street_name, Some(&street.name));
        } else {
            b.street_code = None;
            b.street_name = None;
        }
        let community_sent = ticket.located && placed && codes;
        if ticket.located && placed {
            set_opt(&mut b.community_code, codes.then_some(c.code.as_str()));
            set_opt(&mut b.community_name, Some(&c.name));
        } else {
            b.community_code = None;
            b.community_name = None;
        }
        set(&mut b.ticket_id, ticket.part(Part::Id));
        b.channel = ticket.channel;
        b.request_type = ticket.request;
        set(&mut b.category_l1, cat.l1);
        set_opt(&mut b.category_l2, Some(cat.l2));
        set_opt(&mut b.category_l3, Some(l3));
        b.wc_category = cat.wc;
        if tags.is_empty() {
            b.tags = None;
        } else {
            let v = b.tags.get_or_insert_with(Vec::new);
            v.truncate(tags.len());
            for (i, tag) in tags.iter().enumerate() {
                match v.get_mut(i) {
                    Some(s) => set(s, tag),
                    None => v.push((*tag).to_owned()),
                }
            }
        }
        set_opt(&mut b.title, Some(title));
        let compound = &c.compounds[usize::from(ticket.compound)];
        set_opt(&mut b.content, Some(ticket.part(Part::Content)));
        b.ticket_nature = Some(ticket.nature);
        b.is_emergency_sensitive = Some(ticket.emergency);
        b.intake_disposition = ticket.disposition;
        set_opt(
            &mut b.caller_phone,
            ticket.phone.then(|| ticket.part(Part::Phone)),
        );
        set_opt(
            &mut b.caller_name,
            ticket.caller.then(|| ticket.part(Part::Caller)),
        );
        if ticket.located {
            set_opt(&mut b.compound_name, Some(compound));
            set_opt(&mut b.location_text, Some(ticket.part(Part::Location)));
        } else {
            b.compound_name = None;
            b.location_text = None;
        }
        match ticket.coords {
            Some((sys, lng, lat)) => {
                b.lng = Some(lng);
                b.lat = Some(lat);
                b.coord_sys_raw = Some(sys);
            }
            None => {
                b.lng = None;
                b.lat = None;
                b.coord_sys_raw = None;
            }
        }
        let unit = ticket.part(Part::Unit);
        let dispatched = ticket.disposition != IntakeDisposition::AnsweredDirectly
            && ticket.disposition != IntakeDisposition::Invalid;
        set_opt(&mut b.handling_unit, dispatched.then_some(unit));
        b.handling_unit_level = dispatched.then_some(ticket.level);
        b.received_time = clock::event_time(map.ms(ticket.steps[0].time));
        b.due_time = ticket.due.map(|due| clock::event_time(map.ms(due)));
        b.is_proactive = Some(ticket.proactive);
        set_opt(
            &mut b.related_project_id,
            ticket.project.map(|p| {
                self.plan.districts[self.district].projects[p as usize]
                    .id
                    .as_str()
            }),
        );
        b.related_facility_id = None;

        // The snapshot as of step k.
        let (mut dispatched_t, mut accepted_t, mut contacted_t, mut closed_t) =
            (None, None, None, None);
        let (mut returns, mut reopens) = (0, 0);
        let mut result = None;
        let mut survey: Option<Option<(bool, bool, bool, Satisfaction)>> = None;
        let mut version = 0;
        for s in &ticket.steps[..=k] {
            if !(ticket.coarse_versions && matches!(s.kind, Kind::Contacted | Kind::Archived)) {
                version += 1;
            }
            match s.kind {
                Kind::Dispatched => dispatched_t = Some(s.time),
                Kind::Accepted => accepted_t = Some(s.time),
                Kind::Returned => returns += 1,
                Kind::Contacted => {
                    if contacted_t.is_none() {
                        contacted_t = Some(s.time);
                    }
                }
                Kind::Closed(r) => {
                    closed_t = Some(s.time);
                    result = Some(r);
                }
                Kind::Surveyed(o) => survey = Some(o),
                Kind::Reopened => {
                    reopens += 1;
                    closed_t = None;
                    result = None;
                    survey = None;
                }
                Kind::Created | Kind::Archived => {}
            }
        }
        b.ticket_version = version;
        b.dispatched_time = dispatched_t.map(|t| clock::event_time(map.ms(t)));
        b.accepted_time = accepted_t.map(|t| clock::event_time(map.ms(t)));
        b.contacted_time = contacted_t.map(|t| clock::event_time(map.ms(t)));
        b.closed_time = closed_t.map(|t| clock::event_time(map.ms(t)));
        b.status = match step.kind {
            Kind::Created => TicketStatus::Received,
            Kind::Dispatched => TicketStatus::Dispatched,
            Kind::Accepted => TicketStatus::Accepted,
            Kind::Returned => TicketStatus::Returned,
            Kind::Contacted => TicketStatus::InProgress,
            Kind::Closed(_) => TicketStatus::Closed,
            Kind::Surveyed(_) => TicketStatus::Surveyed,
            Kind::Reopened => TicketStatus::Reopened,
            Kind::Archived => TicketStatus::Archived,
        };
        b.return_count = Some(returns);
        b.reopen_count = Some(reopens);
        b.handling_result = result;
        match result {
            Some(r) => {
                let s = opt_buf(&mut b.reply_text);
                let u = if dispatched { unit } else { "热线" };
                let (before, after) = match r {
                    HandlingResult::Resolved => ("经", "核实处理，问题已解决，已向市民反馈。"),
                    HandlingResult::Partially => ("", "已协调处理部分问题，剩余问题持续跟进。"),
                    HandlingResult::Explained => ("", "已就相关政策向市民做好解释说明。"),
                    HandlingResult::Unresolvable => {
                        ("经核实，该问题暂不具备解决条件，", "已向市民说明情况。")
                    }
                };
                s.push_str(before);
                s.push_str(u);
                s.push_str(after);
            }
            None => b.reply_text = None,
        }
        match survey {
            Some(Some((valid, contacted, resolved, sat))) => {
                b.is_valid_visit = Some(valid);
                b.contacted = Some(contacted);
                b.resolved = Some(resolved);
                b.satisfaction = Some(sat);
            }
            Some(None) => {
                b.is_valid_visit = Some(false);
                b.contacted = None;
                b.resolved = None;
                b.satisfaction = None;
            }
            None => {
                b.is_valid_visit = None;
                b.contacted = None;
                b.resolved = None;
                b.satisfaction = None;
            }
        }

        // Ground truth (the definitions of /work/notes/defs-hotline.md, in the truth file):
        // K23/K24/K35 on the intake, by the date of received_time (= its event time).
        self.tallies.clear();
        let t = &mut self.tallies;
        let mut push = |metric, day, value| t.push(Tally { metric, day, value });
        if k == 0 {
            push(Metric::TicketsReceived, day, 1);
            if cat.wc.is_some() {
                push(Metric::TicketsReceivedWc, day, 1);
            }
            if ticket.proactive {
                push(Metric::ProactiveReceived, day, 1);
            }
        }
        // K29: the first event with the community's code (the intake, else the dispatch)
        // places an in-scope request in the community and the month it was received.
        if community_sent && !ticket.community_sent {
            ticket.community_sent = true;
            if matches!(
                ticket.request,
                RequestType::Complaint | RequestType::Help | RequestType::Report
            ) {
                let received = clock::local_day(map.ms(ticket.steps[0].time));
                let month = month_start(received);
                if self.requested.insert((ticket.community as u32, month)) {
                    push(Metric::RequestCommunity, month, ticket.community as i64);
                }
            }
        }
        match step.kind {
            // K25–K28: a ticket counts once, at its last valid survey, with that survey's
            // answers; a valid survey after a reopen moves it there.
            Kind::Surveyed(Some((true, contacted, resolved, sat))) => {
                let now = (day, contacted, resolved, sat);
                for (sign, contribution) in [(-1, ticket.contribution), (1, Some(now))] {
                    let Some((day, contacted, resolved, sat)) = contribution else {
                        continue;
                    };
                    push(Metric::ValidVisits, day, sign);
                    if contacted {
                        push(Metric::Contacted, day, sign);
                    }
                    if resolved {
                        push(Metric::Resolved, day, sign);
                    }
                    match sat {
                        Satisfaction::Satisfied => push(Metric::Satisfied, day, sign),
                        Satisfaction::Basic => push(Metric::BasicSatisfied, day, sign),
                        Satisfaction::Dissatisfied => {}
                    }
                }
                ticket.contribution = Some(now);
            }
            // K30: the first closure, by the date of its closed_time (= its event time); on
            // time against its due_time, outside the on-time denominator without one.
            Kind::Closed(_) if !ticket.closed => {
                ticket.closed = true;
                push(Metric::Closed, day, 1);
                match ticket.due {
                    None => push(Metric::ClosedNoDue, day, 1),
                    Some(due) if time <= map.ms(due) => push(Metric::ClosedOnTime, day, 1),
                    Some(_) => {}
                }
            }
            // K30 reopen_rate: reopen events by their date.
            Kind::Reopened => push(Metric::Reopened, day, 1),
            _ => {}
        }
    }
}

/// The first local day of the month of local day `day`.
pub fn month_start(day: i32) -> i32 {
    day - clock::date(day).day0() as i32
}

/// The quiet communities of a district of `n` (by index): the [`QUIET_SHARE`] (rounded) with
/// the smallest hashes of seed, district and index.
fn quiet_communities(seed: u64, district: usize, n: usize) -> Vec<bool> {
    let q = (QUIET_SHARE * n as f64).round() as usize;
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| (rng::hash(&[seed, 0x51E7, district as u64, i as u64]), i))
        .collect();
    order.sort_unstable();
    let mut quiet = vec![false; n];
    for &(_, i) in &order[..q.min(n)] {
        quiet[i] = true;
    }
    quiet
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Moves an instant in the night (21:00–08:00) to the next morning (08:00–10:00).
fn daytime(t: i64) -> i64 {
    let hour = clock::local_hour(t);
    if (8..21).contains(&hour) {
        return t;
    }
    let day = clock::local_day(t) + i32::from(hour >= 21);
    // The minute within the morning is hashed from the instant: no random draw needed.
    clock::day_start(day) + 8 * HOUR_MS + (rng::mix64(t as u64) % 7200) as i64 * 1000
}

fn result_for(r: &mut SimRng, resolved: bool) -> HandlingResult {
    use HandlingResult as H;
    if resolved {
        [H::Resolved, H::Explained, H::Partially][rng::pick(r, &[0.9, 0.07, 0.03])]
    } else {
        [H::Partially, H::Explained, H::Unresolvable][rng::pick(r, &[0.35, 0.35, 0.3])]
    }
}

/// A follow-up call after closure: `None` when none is made (6 %), else the survey's
/// outcome: valid answers (82 %) or an invalid visit (12 %: the caller was not reached, or
/// answered but the visit did not count — then some answers are recorded all the same).
#[allow(clippy::option_option)]
fn survey_attempt(
    r: &mut SimRng,
    contacted: bool,
    resolved: bool,
) -> Option<Option<(bool, bool, bool, Satisfaction)>> {
    match rng::pick(r, &[0.82, 0.12, 0.06]) {
        0 => Some(survey_outcome(r, contacted, resolved)),
        1 if chance(r, 0.3) => {
            Some(survey_outcome(r, contacted, resolved).map(|(_, c, s, sat)| (false, c, s, sat)))
        }
        1 => Some(None),
        _ => None,
    }
}

/// A valid follow-up call's answers.
fn survey_outcome(
    r: &mut SimRng,
    contacted: bool,
    resolved: bool,
) -> Option<(bool, bool, bool, Satisfaction)> {
    let sat = if resolved {
        [
            Satisfaction::Satisfied,
            Satisfaction::Basic,
            Satisfaction::Dissatisfied,
        ][rng::pick(r, &[0.93, 0.05, 0.02])]
    } else {
        [
            Satisfaction::Satisfied,
            Satisfaction::Basic,
            Satisfaction::Dissatisfied,
        ][rng::pick(r, &[0.35, 0.25, 0.4])]
    };
    Some((true, contacted, resolved, sat))
}

impl Generator for HotlineGen {
    fn topic(&self) -> Topic {
        Topic::Hotline
    }

    fn pending_before(&mut self, until: i64) -> usize {
        while self.next_day <= self.end_day && clock::day_start(self.next_day) < until {
            self.spawn_day();
        }
        self.heap.iter().filter(|e| e.0.0 < until).count()
    }

    fn advance(&mut self, until: i64, map: &TimeMap, out: &mut Chunk) -> Result<(), SimError> {
        let until = until.min(self.end_ms);
        loop {
            // Tickets of a day exist before any of their steps is due.
            while self.next_day <= self.end_day && clock::day_start(self.next_day) < until {
                self.spawn_day();
            }
            let Some(&Reverse((time, order, slot))) = self.heap.peek() else {
                break;
            };
            if time >= until {
                break;
            }
            self.heap.pop();
            let k = (order & 0xFF) as usize;
            self.materialise(slot as usize, k, map);
            let ticket = self.tickets[slot as usize].as_mut().expect("live ticket");
            let dup = rng::hashed_chance(
                rng::hash(&[
                    self.seed,
                    0xD2,
                    self.city.districts[self.district].index as u64,
                    ticket.uid,
                    k as u64,
                ]),
                RESEND,
            );
            out.push(
                map.ms(time),
                ticket.part(Part::Id),
                &self.buf,
                &self.tallies,
                dup,
            )?;
            match ticket.steps.get(k + 1) {
                // Steps after the period are never sent.
                Some(next) if next.time < self.end_ms => {
                    self.heap.push(Reverse((
                        next.time,
                        (ticket.uid << 8) | (k as u64 + 1),
                        slot,
                    )));
                }
                _ => {
                    self.tickets[slot as usize] = None;
                    self.free.push(slot);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nights_move_to_the_morning() {
        let day = clock::day_of(chrono::NaiveDate::from_ymd_opt(2024, 5, 6).unwrap());
        let night = clock::day_start(day) + 23 * HOUR_MS;
        let t = daytime(night);
        assert_eq!(clock::local_day(t), day + 1);
        assert!((8..10).contains(&clock::local_hour(t)));
        let noon = clock::day_start(day) + 12 * HOUR_MS;
        assert_eq!(daytime(noon), noon);
    }

    #[test]
    fn months_start_on_their_first_day() {
        let d = |y, m, dd| clock::day_of(chrono::NaiveDate::from_ymd_opt(y, m, dd).unwrap());
        assert_eq!(month_start(d(2024, 2, 29)), d(2024, 2, 1));
        assert_eq!(month_start(d(2024, 3, 1)), d(2024, 3, 1));
        assert_eq!(month_start(d(2024, 12, 31) + 31), d(2025, 1, 1));
    }

    #[test]
    fn quiet_communities_are_a_fixed_share() {
        // Haidian at scale 1 has ~600 communities: 27 quiet ones, whatever the seed.
        for seed in [1, 7, 15] {
            let q = quiet_communities(seed, 7, 601);
            assert_eq!(q.iter().filter(|&&b| b).count(), 27);
        }
        assert_eq!(
            quiet_communities(1, 7, 60).iter().filter(|&&b| b).count(),
            3
        );
        // A district of a few communities has none: every community then has requests.
        assert!(!quiet_communities(1, 7, 5).contains(&true));
    }
}
