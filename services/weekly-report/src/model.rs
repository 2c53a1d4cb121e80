//! The report as data: what the JSON holds and the HTML and Markdown show.

use kpi_query::lake::TableVersion;
use serde::Serialize;

/// Identifies the JSON layout.
pub const SCHEMA: &str = "civicpulse.weekly_report.v1";

/// One week's report for a city and its districts.
#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// `zh` or `en`: the language of names and messages.
    pub lang: String,
    /// The week.
    pub week: WeekInfo,
    /// What was read: re-rendering with these versions gives the same report.
    pub source: SourceInfo,
    /// The KPIs the figures refer to.
    pub kpis: Vec<KpiInfo>,
    /// The city as a whole (districts rolled up by kpi-query).
    pub city: Section,
    /// One section per district, by code.
    pub districts: Vec<Section>,
}

/// The report week and the weeks it is compared with.
#[derive(Debug, Clone, Serialize)]
pub struct WeekInfo {
    /// `2024-W23`.
    pub id: String,
    /// First day (local date).
    pub start: String,
    /// Last day.
    pub end: String,
    /// Weekday weeks start on.
    pub week_start: String,
    /// The week before.
    pub previous: String,
    /// The same ISO week of the year before.
    pub same_week_last_year: String,
    /// Start dates of the trend's weeks, oldest first; the last is this week.
    pub trend_weeks: Vec<String>,
}

/// The lake the report read.
#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    /// Delta table versions every query read.
    pub table_versions: Vec<TableVersion>,
}

/// A KPI of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct KpiInfo {
    /// `K13`.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Unit.
    pub unit: String,
    /// `flow`, `stock` or `ratio`.
    pub kind: String,
}

/// A district or the city.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    /// GB/T 2260 code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// The figures of one place.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Where.
    pub place: Place,
    /// The headline KPIs of the week.
    pub headline: Vec<Figure>,
    /// Renovation projects by status at the week's end (K17).
    pub projects_by_status: Vec<ItemValue>,
    /// Complaint categories with most requests this week.
    pub top_categories: Vec<CategoryCount>,
    /// Communities with most requests this week.
    pub top_communities: Vec<CommunityCount>,
    /// Renovation projects open past their planned end date at the week's end.
    pub overdue_projects: OverdueProjects,
    /// What needs a leader's attention.
    pub red_flags: Vec<RedFlag>,
}

/// One KPI of one place for the week.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// KPI id.
    pub kpi: String,
    /// This week's value (`null`: a ratio without a denominator).
    pub value: Option<f64>,
    /// Numerator of a ratio.
    pub numerator: Option<f64>,
    /// Denominator of a ratio.
    pub denominator: Option<f64>,
    /// Last week's value.
    pub previous: Option<f64>,
    /// `value - previous`.
    pub change: Option<f64>,
    /// The same week a year before, where the lake has data that far back.
    pub last_year: Option<f64>,
    /// The last 8 weeks, aligned with [`WeekInfo::trend_weeks`].
    pub trend: Vec<Option<f64>>,
    /// Rank among the city's districts this week (1 = highest); districts only.
    pub rank: Option<Rank>,
    /// Progress to this year's target, if there is one.
    pub target: Option<TargetProgress>,
}

/// A position among districts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rank {
    /// 1-based; ties share a position.
    pub position: usize,
    /// Districts ranked.
    pub of: usize,
}

/// Progress to an annual target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetProgress {
    /// Year.
    pub year: i32,
    /// The target.
    pub target: f64,
    /// The year so far: total for flows, level at the week's end for stocks (the KPI over
    /// 1 January … the week's last day).
    pub actual: f64,
    /// `actual / target`.
    pub share: f64,
    /// Year-end figure at the pace of the last 8 weeks.
    pub projected: Option<f64>,
    /// Whether the projection (or, for ratios, the value) reaches the target.
    pub on_track: bool,
    /// Where the target comes from.
    pub source: String,
}

/// A breakdown item and its value.
#[derive(Debug, Clone, Serialize)]
pub struct ItemValue {
    /// Item.
    pub item: String,
    /// Value.
    pub value: f64,
}

/// Requests of one complaint category.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryCount {
    /// Category (`category_l2`, else `category_l1`).
    pub category: String,
    /// Requests this week.
    pub requests: f64,
    /// Mean requests a week over the 8 weeks before.
    pub average_8_weeks: f64,
}

/// Requests from one community.
#[derive(Debug, Clone, Serialize)]
pub struct CommunityCount {
    /// 12-digit community code.
    pub community_code: String,
    /// Name.
    pub community_name: String,
    /// District code.
    pub district: String,
    /// Requests this week.
    pub requests: f64,
}

/// Open projects past their planned end.
#[derive(Debug, Clone, Serialize)]
pub struct OverdueProjects {
    /// How many.
    pub count: usize,
    /// The longest overdue, first.
    pub longest: Vec<OverdueProject>,
}

/// One overdue project.
#[derive(Debug, Clone, Serialize)]
pub struct OverdueProject {
    /// Project id.
    pub project_id: String,
    /// Name.
    pub project_name: String,
    /// Project type.
    pub project_type: String,
    /// District code.
    pub district: String,
    /// Community.
    pub community_name: Option<String>,
    /// Status at the week's end.
    pub status: String,
    /// Planned end.
    pub planned_end_date: String,
    /// Days past it at the week's end.
    pub days_overdue: f64,
    /// Progress, percent.
    pub progress_pct: Option<f64>,
}

/// A red flag.
#[derive(Debug, Clone, Serialize)]
pub struct RedFlag {
    /// `rate_drop`, `category_spike`, `overdue_projects` or `stalled_target`.
    pub rule: String,
    /// The KPI concerned.
    pub kpi: Option<String>,
    /// The category concerned.
    pub category: Option<String>,
    /// The figure that raised it.
    pub value: Option<f64>,
    /// What it is compared with (last week, the 8-week mean, the target).
    pub reference: Option<f64>,
    /// In the report's language.
    pub message: String,
}
