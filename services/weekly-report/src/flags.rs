//! Red flags: the configurable rules that pick out what needs a leader's attention.

use crate::lang::Lang;
use crate::model::{CategoryCount, Figure, KpiInfo, OverdueProjects, RedFlag};
use crate::render::format_value;
use crate::settings::FlagRules;

/// The hotline rates watched for drops.
const RATES: [&str; 4] = ["K25", "K26", "K27", "K28"];

/// What the rules look at for one place.
pub struct Flagged<'a> {
    /// Language of the messages.
    pub lang: Lang,
    /// Thresholds.
    pub rules: &'a FlagRules,
    /// KPI names and units.
    pub kpis: &'a [KpiInfo],
    /// The week's figures.
    pub headline: &'a [Figure],
    /// Every category with requests this week or in the 8 before.
    pub categories: &'a [CategoryCount],
    /// Overdue projects.
    pub overdue: &'a OverdueProjects,
    /// Targeted KPIs without progress, with their targets.
    pub stalled: Vec<(String, f64)>,
}

/// Points a rate moves: percentage points for 0–1 rates, score points for the composite.
fn points(kpi: &KpiInfo, v: f64) -> f64 {
    if crate::render::is_rate(kpi) {
        v * 100.0
    } else {
        v
    }
}

/// Applies every rule.
pub fn raise(f: &Flagged<'_>) -> Vec<RedFlag> {
    let lang = f.lang;
    let kpi = |id: &str| f.kpis.iter().find(|k| k.id == id).expect("listed");
    let mut flags = Vec::new();
    for fig in f
        .headline
        .iter()
        .filter(|fig| RATES.contains(&fig.kpi.as_str()))
    {
        let info = kpi(&fig.kpi);
        let (Some(now), Some(before)) = (fig.value, fig.previous) else {
            continue;
        };
        let drop = points(info, before) - points(info, now);
        // A rate's denominator is its valid visits; last week's comes from the trend's row.
        let visits = fig.denominator.unwrap_or(0.0);
        if drop >= f.rules.rate_drop_points && visits >= f.rules.rate_min_visits {
            flags.push(RedFlag {
                rule: "rate_drop".into(),
                kpi: Some(fig.kpi.clone()),
                category: None,
                value: Some(now),
                reference: Some(before),
                message: match lang {
                    Lang::Zh => format!(
                        "{}由上周 {} 降至 {}，下降 {:.1} {}",
                        info.name_zh,
                        format_value(info, Some(before)),
                        format_value(info, Some(now)),
                        drop,
                        if crate::render::is_rate(info) {
                            "个百分点"
                        } else {
                            "分"
                        }
                    ),
                    Lang::En => format!(
                        "{} fell from {} to {}, down {:.1} points on last week",
                        info.name_en,
                        format_value(info, Some(before)),
                        format_value(info, Some(now)),
                        drop
                    ),
                },
            });
        }
    }
    for c in f.categories {
        if c.requests >= f.rules.category_min_requests
            && c.requests >= f.rules.category_spike_ratio * c.average_8_weeks
        {
            let times = if c.average_8_weeks > 0.0 {
                c.requests / c.average_8_weeks
            } else {
                f64::INFINITY
            };
            let message = match (lang, times.is_finite()) {
                (Lang::Zh, true) => format!(
                    "“{}”类诉求本周 {:.0} 件，为前8周周均（{:.1} 件）的 {:.1} 倍",
                    c.category, c.requests, c.average_8_weeks, times
                ),
                (Lang::Zh, false) => {
                    format!("“{}”类诉求本周 {:.0} 件，前8周没有", c.category, c.requests)
                }
                (Lang::En, true) => format!(
                    "\"{}\" requests: {:.0} this week, {:.1}× the mean of the 8 weeks before ({:.1})",
                    c.category, c.requests, times, c.average_8_weeks
                ),
                (Lang::En, false) => format!(
                    "\"{}\" requests: {:.0} this week, none in the 8 weeks before",
                    c.category, c.requests
                ),
            };
            flags.push(RedFlag {
                rule: "category_spike".into(),
                kpi: Some("K23".into()),
                category: Some(c.category.clone()),
                value: Some(c.requests),
                reference: Some(c.average_8_weeks),
                message,
            });
        }
    }
    if f.overdue.count > 0 {
        let longest = f.overdue.longest.first().map_or(0.0, |p| p.days_overdue);
        flags.push(RedFlag {
            rule: "overdue_projects".into(),
            kpi: Some("K17".into()),
            category: None,
            value: Some(f.overdue.count as f64),
            reference: Some(longest),
            message: match lang {
                Lang::Zh => format!(
                    "{} 个改造项目已过计划完工日期仍未完工，最长超期 {longest:.0} 天",
                    f.overdue.count
                ),
                Lang::En => format!(
                    "{} renovation projects are open past their planned end date, the longest by {longest:.0} days",
                    f.overdue.count
                ),
            },
        });
    }
    for (id, target) in &f.stalled {
        let info = kpi(id);
        flags.push(RedFlag {
            rule: "stalled_target".into(),
            kpi: Some(id.clone()),
            category: None,
            value: None,
            reference: Some(*target),
            message: match lang {
                Lang::Zh => format!(
                    "{}连续 {} 周无进展（年度目标 {}）",
                    info.name_zh,
                    f.rules.stall_weeks,
                    format_value(info, Some(*target))
                ),
                Lang::En => format!(
                    "{}: no progress for {} weeks (target for the year {})",
                    info.name_en,
                    f.rules.stall_weeks,
                    format_value(info, Some(*target))
                ),
            },
        });
    }
    flags
}
