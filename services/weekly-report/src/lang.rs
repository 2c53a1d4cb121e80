//! The report's two languages: Chinese first, English on request.

use crate::ReportError;
use crate::model::{KpiInfo, Place};

/// Report language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Parses `zh` or `en`.
    pub fn parse(value: &str) -> Result<Self, ReportError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Ok(Self::Zh),
            "en" => Ok(Self::En),
            other => Err(ReportError::Input(format!(
                "language {other:?} is not zh or en"
            ))),
        }
    }

    /// `zh` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// Chinese or English of a pair.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }

    /// A place's name.
    pub fn place(self, p: &Place) -> &str {
        self.pick(&p.name_zh, &p.name_en)
    }

    /// A KPI's name.
    pub fn kpi(self, k: &KpiInfo) -> &str {
        self.pick(&k.name_zh, &k.name_en)
    }

    /// The report's labels.
    pub fn labels(self) -> &'static Labels {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }

    /// A renovation status.
    pub fn status(self, status: &str) -> String {
        let zh = match status {
            "declared" => "申报",
            "approved" => "立项",
            "started" => "开工",
            "suspended" => "暂停",
            "completed" => "完工",
            "accepted" => "验收",
            "cancelled" => "终止",
            other => other,
        };
        match self {
            Self::Zh => zh.to_owned(),
            Self::En => status.to_owned(),
        }
    }
}

/// Fixed texts of a report.
#[derive(Debug)]
pub struct Labels {
    /// Report title after the city name.
    pub title: &'static str,
    /// "Week".
    pub week: &'static str,
    /// City summary heading.
    pub city_summary: &'static str,
    /// Column: indicator.
    pub indicator: &'static str,
    /// Column: this week.
    pub this_week: &'static str,
    /// Column: change on last week.
    pub change: &'static str,
    /// Column: same week last year.
    pub last_year: &'static str,
    /// Column: 8-week trend.
    pub trend: &'static str,
    /// Column: rank.
    pub rank: &'static str,
    /// Column: target progress.
    pub target: &'static str,
    /// Projection word.
    pub projected: &'static str,
    /// On track.
    pub on_track: &'static str,
    /// Behind.
    pub behind: &'static str,
    /// Red flags heading.
    pub red_flags: &'static str,
    /// No red flags.
    pub no_flags: &'static str,
    /// Top categories heading.
    pub top_categories: &'static str,
    /// Top communities heading.
    pub top_communities: &'static str,
    /// Column: requests.
    pub requests: &'static str,
    /// Column: 8-week mean.
    pub average_8_weeks: &'static str,
    /// Projects by status heading.
    pub projects_by_status: &'static str,
    /// Overdue projects heading.
    pub overdue_projects: &'static str,
    /// Column: days overdue.
    pub days_overdue: &'static str,
    /// Column: planned end.
    pub planned_end: &'static str,
    /// Across districts heading.
    pub across_districts: &'static str,
    /// District sections heading.
    pub districts: &'static str,
    /// Footer: source.
    pub source: &'static str,
    /// "none".
    pub none: &'static str,
    /// Column: community.
    pub community: &'static str,
    /// Column: project.
    pub project: &'static str,
    /// Column: status.
    pub status: &'static str,
    /// Column: category.
    pub category: &'static str,
}

static ZH: Labels = Labels {
    title: "完整社区建设周报",
    week: "周",
    city_summary: "全市概览",
    indicator: "指标",
    this_week: "本周",
    change: "环比",
    last_year: "去年同期",
    trend: "近8周趋势",
    rank: "全市排名",
    target: "年度目标进度",
    projected: "按近8周进度预计全年",
    on_track: "可完成",
    behind: "进度滞后",
    red_flags: "预警事项",
    no_flags: "本周无预警事项。",
    top_categories: "诉求量居前的类别",
    top_communities: "诉求量居前的社区",
    requests: "诉求量",
    average_8_weeks: "前8周周均",
    projects_by_status: "改造项目状态（周末在库）",
    overdue_projects: "超过计划完工日期的在建项目",
    days_overdue: "超期天数",
    planned_end: "计划完工",
    across_districts: "各区对比",
    districts: "分区情况",
    source: "数据来源：civicpulse 指标库（与 kpi-query 同一口径），读取的数据表版本",
    none: "无",
    community: "社区",
    project: "项目",
    status: "状态",
    category: "类别",
};

static EN: Labels = Labels {
    title: "Complete-community programme: weekly report",
    week: "week",
    city_summary: "City summary",
    indicator: "Indicator",
    this_week: "This week",
    change: "vs last week",
    last_year: "Same week last year",
    trend: "Last 8 weeks",
    rank: "Rank in city",
    target: "Annual target",
    projected: "projected for the year at the last 8 weeks' pace",
    on_track: "on track",
    behind: "behind",
    red_flags: "Red flags",
    no_flags: "No red flags this week.",
    top_categories: "Complaint categories with most requests",
    top_communities: "Communities with most requests",
    requests: "Requests",
    average_8_weeks: "Mean of 8 weeks before",
    projects_by_status: "Renovation projects by status (week end)",
    overdue_projects: "Open projects past their planned end date",
    days_overdue: "Days overdue",
    planned_end: "Planned end",
    across_districts: "Across districts",
    districts: "Districts",
    source: "Source: the civicpulse KPI catalogue (the definitions kpi-query serves), at table versions",
    none: "none",
    community: "Community",
    project: "Project",
    status: "Status",
    category: "Category",
};
