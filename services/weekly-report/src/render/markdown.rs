//! Markdown: the same content as the HTML page without charts (trends as block characters); it
//! is also the e-mail's plain-text part.

use std::fmt::Write;

use super::{format_change, format_target, format_value, kpi, kpi_title, thousands, title};
use crate::lang::Lang;
use crate::model::{Section, WeeklyReport};

/// The whole report, or with `district` only the city summary and that district's section.
pub fn render(report: &WeeklyReport, lang: Lang, district: Option<&str>) -> String {
    let l = lang.labels();
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", title(report, lang));
    let _ = writeln!(m, "## {}\n", l.city_summary);
    section(&mut m, report, &report.city, lang, false);
    for d in report
        .districts
        .iter()
        .filter(|d| district.is_none_or(|code| d.place.code == code))
    {
        let _ = writeln!(m, "## {} {}\n", lang.place(&d.place), d.place.code);
        section(&mut m, report, d, lang, true);
    }
    let _ = writeln!(m, "---\n{}", super::html::source_line(report, lang));
    m
}

/// Eight levels of a trend in one character each.
fn sparkline(values: &[Option<f64>]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if hi <= lo => BLOCKS[3],
            Some(v) => BLOCKS[(((v - lo) / (hi - lo)) * 7.0).round() as usize],
        })
        .collect()
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn section(m: &mut String, report: &WeeklyReport, s: &Section, lang: Lang, ranked: bool) {
    let l = lang.labels();
    if ranked {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} |\n|---|--:|--:|--:|---|--:|---|",
            l.indicator, l.this_week, l.change, l.last_year, l.trend, l.rank, l.target
        );
    } else {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} |\n|---|--:|--:|--:|---|---|",
            l.indicator, l.this_week, l.change, l.last_year, l.trend, l.target
        );
    }
    for fig in &s.headline {
        let k = kpi(report, &fig.kpi);
        let rank = match (ranked, fig.rank) {
            (true, Some(r)) => format!(" {}/{} |", r.position, r.of),
            (true, None) => " — |".to_owned(),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} |{rank} {} |",
            cell(&kpi_title(k, lang)),
            format_value(k, fig.value),
            format_change(k, fig.change, lang),
            format_value(k, fig.last_year),
            sparkline(&fig.trend),
            cell(&format_target(k, fig, lang))
        );
    }
    m.push('\n');
    if !s.projects_by_status.is_empty() {
        let parts: Vec<String> = s
            .projects_by_status
            .iter()
            .map(|i| format!("{} {}", lang.status(&i.item), thousands(i.value)))
            .collect();
        let _ = writeln!(m, "**{}**: {}\n", l.projects_by_status, parts.join(" · "));
    }
    let _ = writeln!(m, "### {}\n", l.red_flags);
    if s.red_flags.is_empty() {
        let _ = writeln!(m, "{}\n", l.no_flags);
    } else {
        for f in &s.red_flags {
            let _ = writeln!(m, "- {}", f.message);
        }
        m.push('\n');
    }
    for table in super::list_tables(s, lang) {
        let rule: Vec<&str> = (0..table.headers.len())
            .map(|i| if i < table.text_columns { "---" } else { "--:" })
            .collect();
        let _ = writeln!(
            m,
            "### {}\n\n| {} |\n|{}|",
            table.heading,
            table.headers.join(" | "),
            rule.join("|")
        );
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            let _ = writeln!(m, "| {} |", cells.join(" | "));
        }
        m.push('\n');
    }
}
