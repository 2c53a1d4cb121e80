//! The report as people read it: a self-contained HTML page with inline SVG charts that prints
//! on A4, and Markdown (also the plain-text part of the e-mail).

pub mod html;
pub mod markdown;
pub mod svg;

use crate::lang::Lang;
use crate::model::{Figure, KpiInfo, Section, WeeklyReport};

/// Whether a KPI is a rate on 0–1 (shown in percent).
pub fn is_rate(kpi: &KpiInfo) -> bool {
    kpi.unit.contains("(0–1)")
}

/// Whether a KPI is money in yuan (shown in 万元, as Chinese statistics state it).
fn is_yuan(kpi: &KpiInfo) -> bool {
    kpi.unit == "元"
}

/// A value as a table shows it: percent for rates, one decimal for scores and durations,
/// whole numbers with thousands separators otherwise; `—` for none.
pub fn format_value(kpi: &KpiInfo, value: Option<f64>) -> String {
    let Some(v) = value else {
        return "—".into();
    };
    if is_rate(kpi) {
        format!("{:.1}%", v * 100.0)
    } else if is_yuan(kpi) {
        // One decimal of 万元, with thousands separators.
        let tenths = (v.abs() / 1_000.0).round();
        let sign = if v < 0.0 && tenths > 0.0 { "-" } else { "" };
        format!(
            "{sign}{}.{}",
            thousands((tenths / 10.0).trunc()),
            tenths % 10.0
        )
    } else if kpi.unit.starts_with('分') || kpi.unit.starts_with('天') {
        format!("{v:.1}")
    } else if (v - v.round()).abs() < 1e-9 {
        thousands(v.round())
    } else {
        format!("{v:.1}")
    }
}

/// A week-over-week change with its sign: percentage points for rates.
pub fn format_change(kpi: &KpiInfo, change: Option<f64>, lang: Lang) -> String {
    let Some(c) = change else {
        return "—".into();
    };
    let sign = if c > 0.0 { "+" } else { "" };
    if is_rate(kpi) {
        format!("{sign}{:.1}{}", c * 100.0, lang.pick(" 个百分点", " pp"))
    } else if kpi.unit.starts_with('分') || kpi.unit.starts_with('天') {
        format!("{sign}{c:.1}")
    } else {
        let text = format_value(kpi, Some(c));
        format!("{sign}{text}")
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// Target progress as one line: `actual / target (share), projected …`.
pub fn format_target(kpi: &KpiInfo, fig: &Figure, lang: Lang) -> String {
    let Some(t) = &fig.target else {
        return String::new();
    };
    let mut text = format!(
        "{} / {} ({:.0}%)",
        format_value(kpi, Some(t.actual)),
        format_value(kpi, Some(t.target)),
        t.share * 100.0
    );
    if let Some(p) = t.projected {
        text.push_str(&format!(
            "{}{} {}",
            lang.pick("；预计全年 ", "; projected "),
            format_value(kpi, Some(p.round())),
            if t.on_track {
                lang.labels().on_track
            } else {
                lang.labels().behind
            }
        ));
    }
    text
}

/// The KPI's name with its unit, e.g. `加装电梯完工数（部）`.
pub fn kpi_title(kpi: &KpiInfo, lang: Lang) -> String {
    let unit = if is_rate(kpi) {
        "%"
    } else if is_yuan(kpi) {
        lang.pick("万元", "10k yuan")
    } else {
        kpi.unit.split_whitespace().next().unwrap_or("")
    };
    match lang {
        Lang::Zh => format!("{}（{unit}）", kpi.name_zh),
        Lang::En => format!("{} ({unit})", kpi.name_en),
    }
}

/// The report's title line.
pub fn title(report: &WeeklyReport, lang: Lang) -> String {
    let l = lang.labels();
    match lang {
        Lang::Zh => format!(
            "{}{} · {}（{} 至 {}）",
            report.city.place.name_zh, l.title, report.week.id, report.week.start, report.week.end
        ),
        Lang::En => format!(
            "{} — {}, {} ({} to {})",
            report.city.place.name_en, l.title, report.week.id, report.week.start, report.week.end
        ),
    }
}

/// A list table of a section (top categories, communities, overdue projects), rendered alike
/// by the HTML page and the Markdown.
pub struct ListTable {
    /// The heading above it.
    pub heading: String,
    /// Column headers; the first column is text, the others numbers unless `text_columns` says.
    pub headers: Vec<&'static str>,
    /// How many leading columns are text (left-aligned).
    pub text_columns: usize,
    /// Cells as shown.
    pub rows: Vec<Vec<String>>,
}

/// The list tables of section `s`, those with rows only.
pub fn list_tables(s: &Section, lang: Lang) -> Vec<ListTable> {
    let l = lang.labels();
    let mut tables = Vec::new();
    if !s.top_categories.is_empty() {
        tables.push(ListTable {
            heading: l.top_categories.to_owned(),
            headers: vec![l.category, l.requests, l.average_8_weeks],
            text_columns: 1,
            rows: s
                .top_categories
                .iter()
                .map(|c| {
                    vec![
                        c.category.clone(),
                        thousands(c.requests),
                        format!("{:.1}", c.average_8_weeks),
                    ]
                })
                .collect(),
        });
    }
    if !s.top_communities.is_empty() {
        tables.push(ListTable {
            heading: l.top_communities.to_owned(),
            headers: vec![l.community, l.requests],
            text_columns: 1,
            rows: s
                .top_communities
                .iter()
                .map(|c| {
                    vec![
                        format!("{} ({})", c.community_name, c.community_code),
                        thousands(c.requests),
                    ]
                })
                .collect(),
        });
    }
    if s.overdue_projects.count > 0 {
        tables.push(ListTable {
            heading: format!("{} ({})", l.overdue_projects, s.overdue_projects.count),
            headers: vec![l.project, l.status, l.planned_end, l.days_overdue],
            text_columns: 3,
            rows: s
                .overdue_projects
                .longest
                .iter()
                .map(|p| {
                    vec![
                        p.project_name.clone(),
                        lang.status(&p.status),
                        p.planned_end_date.clone(),
                        format!("{:.0}", p.days_overdue),
                    ]
                })
                .collect(),
        });
    }
    tables
}

/// The KPI info of `id`.
pub fn kpi<'a>(report: &'a WeeklyReport, id: &str) -> &'a KpiInfo {
    report
        .kpis
        .iter()
        .find(|k| k.id == id)
        .expect("every figure's KPI is listed")
}

/// A report whose every value from the lake is one given string, and hostile strings to give it.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::model::*;

    /// Values a bad upstream feed or a malicious editor of the registry could send as a
    /// community, district, category, project or status name.
    pub const HOSTILE: &[&str] = &[
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "![x](https://evil.invalid/x.png)",
        "<img src=x onerror=alert(1)>",
        "<https://evil.invalid>",
        "a | b | c",
        "`code` ```fence```",
        "line\n# heading\n> quote\n- item\n\n| x |",
        "# heading",
        "> quote",
        "- item",
        "+ item",
        "* item",
        "1. first",
        "12) twelve",
        "===",
        "&lt;b&gt; &amp; &#60;script&#62; &copy",
        "**bold** _it_ ~~del~~ {attr}",
        "\\`back\\|slash\\",
        "\r\n\t\u{2028}x\u{2029}\u{7}",
        "    indented code",
        "\"quoted\" 'single' onmouseover='x'",
        "海淀区<b>社区</b>|第1网格",
    ];

    /// The report with `text` in every place a value of the lake is shown.
    pub fn report(text: &str) -> WeeklyReport {
        let kpis = ["K23", "K26", "K13", "K04"];
        let section = |code: &str| Section {
            place: Place {
                code: code.into(),
                name_zh: text.into(),
                name_en: text.into(),
            },
            headline: kpis
                .iter()
                .map(|k| Figure {
                    kpi: (*k).into(),
                    value: Some(12.0),
                    numerator: None,
                    denominator: None,
                    previous: Some(10.0),
                    change: Some(2.0),
                    last_year: None,
                    trend: vec![Some(1.0), None, Some(3.0)],
                    rank: Some(Rank { position: 1, of: 2 }),
                    target: None,
                })
                .collect(),
            projects_by_status: vec![ItemValue {
                item: text.into(),
                value: 3.0,
            }],
            top_categories: vec![CategoryCount {
                category: text.into(),
                requests: 7.0,
                average_8_weeks: 2.5,
            }],
            top_communities: vec![CommunityCount {
                community_code: text.into(),
                community_name: text.into(),
                district: code.into(),
                requests: 5.0,
            }],
            overdue_projects: OverdueProjects {
                count: 1,
                longest: vec![OverdueProject {
                    project_id: text.into(),
                    project_name: text.into(),
                    project_type: text.into(),
                    district: code.into(),
                    community_name: Some(text.into()),
                    status: text.into(),
                    planned_end_date: text.into(),
                    days_overdue: 9.0,
                    progress_pct: None,
                }],
            },
            red_flags: vec![RedFlag {
                rule: "category_spike".into(),
                kpi: None,
                category: Some(text.into()),
                value: None,
                reference: None,
                message: format!("{text}：2.0×"),
            }],
        };
        WeeklyReport {
            schema: SCHEMA.into(),
            lang: "zh".into(),
            week: WeekInfo {
                id: "2024-W23".into(),
                start: "2024-06-03".into(),
                end: "2024-06-09".into(),
                week_start: "monday".into(),
                previous: "2024-W22".into(),
                same_week_last_year: "2023-W23".into(),
                trend_weeks: vec![],
            },
            source: SourceInfo {
                table_versions: vec![],
            },
            kpis: kpis
                .iter()
                .map(|k| KpiInfo {
                    id: (*k).into(),
                    name_zh: text.into(),
                    name_en: text.into(),
                    unit: "件".into(),
                    kind: "flow".into(),
                })
                .collect(),
            city: section("110000"),
            districts: vec![section("110108"), section("110101")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        let k = |unit: &str| KpiInfo {
            id: "K".into(),
            name_zh: String::new(),
            name_en: String::new(),
            unit: unit.into(),
            kind: "flow".into(),
        };
        assert_eq!(format_value(&k("部"), Some(1234567.0)), "1,234,567");
        assert_eq!(format_value(&k("比率 (0–1)"), Some(0.9634)), "96.3%");
        assert_eq!(format_value(&k("分 (0–100)"), Some(91.26)), "91.3");
        assert_eq!(format_value(&k("部"), None), "—");
        assert_eq!(
            format_change(&k("比率 (0–1)"), Some(-0.031), Lang::En),
            "-3.1 pp"
        );
        assert_eq!(format_change(&k("部"), Some(12.0), Lang::Zh), "+12");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(format_value(&k("元"), Some(38_823_562.7)), "3,882.4");
        assert_eq!(format_value(&k("元"), Some(5_000.0)), "0.5");
        assert!(!is_rate(&k("分 (0–100)")));
    }
}
