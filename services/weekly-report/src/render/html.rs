//! The HTML page: self-contained (inline CSS and SVG, no scripts, no external resources), laid
//! out for A4 print with each district on a page of its own.

use std::fmt::Write;

use super::{format_change, format_target, format_value, kpi, kpi_title, svg, title};
use crate::lang::Lang;
use crate::model::{Section, WeeklyReport};

/// KPIs drawn as bars across districts.
const BAR_KPIS: [&str; 4] = ["K23", "K26", "K13", "K04"];

const STYLE: &str = r#"
@page { size: A4; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; font-size: 10.5pt; color: #222; margin: 0 auto; max-width: 186mm; }
h1 { font-size: 17pt; margin: 0 0 4pt; }
h2 { font-size: 13.5pt; border-bottom: 2px solid #c0392b; padding-bottom: 2pt; margin: 14pt 0 6pt; }
h3 { font-size: 11pt; margin: 10pt 0 4pt; }
p.meta { color: #666; font-size: 9pt; margin: 0 0 8pt; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0 8pt; }
th, td { border-bottom: 1px solid #ddd; padding: 2.5pt 4pt; text-align: right; vertical-align: middle; }
th { background: #f3f3f3; font-weight: 600; }
th:first-child, td:first-child, td.text { text-align: left; }
td.up { color: #1e7b34; } td.down { color: #b03a2e; }
ul.flags { margin: 4pt 0 8pt; padding-left: 14pt; }
ul.flags li { color: #b03a2e; margin: 2pt 0; }
.charts { display: flex; flex-wrap: wrap; gap: 6pt 14pt; }
section.district { break-before: page; page-break-before: always; }
footer { color: #777; font-size: 8.5pt; margin-top: 14pt; border-top: 1px solid #ddd; padding-top: 4pt; }
@media print { h2, h3 { break-after: avoid; } tr { break-inside: avoid; } }
"#;

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The whole report, or with `district` only the city summary and that district's section
/// (what a district's recipients get).
pub fn render(report: &WeeklyReport, lang: Lang, district: Option<&str>) -> String {
    let l = lang.labels();
    let mut h = String::new();
    let head_title = escape(&title(report, lang));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{head_title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{head_title}</h1>\n",
        lang.pick("zh-CN", "en")
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">{}</p>",
        escape(&source_line(report, lang))
    );

    let _ = writeln!(h, "<h2>{}</h2>", l.city_summary);
    section_body(&mut h, report, &report.city, lang, false);
    let _ = writeln!(h, "<h3>{}</h3>\n<div class=\"charts\">", l.across_districts);
    for id in BAR_KPIS {
        let k = kpi(report, id);
        let i = report
            .city
            .headline
            .iter()
            .position(|f| f.kpi == id)
            .expect("headline KPI");
        let rows: Vec<(String, f64, String)> = report
            .districts
            .iter()
            .map(|d| {
                let v = d.headline[i].value;
                (
                    lang.place(&d.place).to_owned(),
                    v.unwrap_or(0.0),
                    format_value(k, v),
                )
            })
            .collect();
        h.push_str(&svg::bars(&kpi_title(k, lang), &rows));
    }
    h.push_str("</div>\n");
    let district_flags: Vec<String> = report
        .districts
        .iter()
        .flat_map(|d| {
            d.red_flags.iter().map(move |f| {
                format!(
                    "{}{}{}",
                    lang.place(&d.place),
                    lang.pick("：", ": "),
                    f.message
                )
            })
        })
        .collect();
    if !district_flags.is_empty() {
        let _ = writeln!(
            h,
            "<h3>{} · {}</h3>\n<ul class=\"flags\">",
            l.red_flags, l.districts
        );
        for f in &district_flags {
            let _ = writeln!(h, "<li>{}</li>", escape(f));
        }
        h.push_str("</ul>\n");
    }

    for d in report
        .districts
        .iter()
        .filter(|d| district.is_none_or(|code| d.place.code == code))
    {
        let _ = writeln!(
            h,
            "<section class=\"district\">\n<h2>{} {}</h2>",
            escape(lang.place(&d.place)),
            escape(&d.place.code)
        );
        section_body(&mut h, report, d, lang, true);
        h.push_str("</section>\n");
    }
    let _ = writeln!(
        h,
        "<footer>{}</footer>\n</body>\n</html>",
        escape(&source_line(report, lang))
    );
    h
}

/// "Source: …, table versions …".
pub fn source_line(report: &WeeklyReport, lang: Lang) -> String {
    let versions: Vec<String> = report
        .source
        .table_versions
        .iter()
        .map(|v| {
            format!(
                "{} v{}",
                v.table,
                v.version.map_or("—".to_owned(), |n| n.to_string())
            )
        })
        .collect();
    format!("{} {}", lang.labels().source, versions.join(", "))
}

fn section_body(h: &mut String, report: &WeeklyReport, s: &Section, lang: Lang, ranked: bool) {
    let l = lang.labels();
    let _ = write!(
        h,
        "<table class=\"headline\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>{}<th>{}</th></tr>\n",
        l.indicator,
        l.this_week,
        l.change,
        l.last_year,
        l.trend,
        if ranked {
            format!("<th>{}</th>", l.rank)
        } else {
            String::new()
        },
        l.target
    );
    for fig in &s.headline {
        let k = kpi(report, &fig.kpi);
        let class = match fig.change {
            Some(c) if c > 0.0 => " class=\"up\"",
            Some(c) if c < 0.0 => " class=\"down\"",
            _ => "",
        };
        let rank = match (ranked, fig.rank) {
            (true, Some(r)) => format!("<td>{}/{}</td>", r.position, r.of),
            (true, None) => "<td>—</td>".to_owned(),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td{class}>{}</td><td>{}</td><td>{}</td>{rank}<td>{}</td></tr>",
            escape(&kpi_title(k, lang)),
            format_value(k, fig.value),
            format_change(k, fig.change, lang),
            format_value(k, fig.last_year),
            svg::trend(&fig.trend, 110.0, 24.0),
            escape(&format_target(k, fig, lang))
        );
    }
    h.push_str("</table>\n");

    if !s.projects_by_status.is_empty() {
        let parts: Vec<String> = s
            .projects_by_status
            .iter()
            .map(|i| format!("{} {}", lang.status(&i.item), super::thousands(i.value)))
            .collect();
        let _ = writeln!(
            h,
            "<p><strong>{}</strong>：{}</p>",
            l.projects_by_status,
            escape(&parts.join(" · "))
        );
    }

    let _ = writeln!(h, "<h3>{}</h3>", l.red_flags);
    if s.red_flags.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", l.no_flags);
    } else {
        h.push_str("<ul class=\"flags\">\n");
        for f in &s.red_flags {
            let _ = writeln!(h, "<li>{}</li>", escape(&f.message));
        }
        h.push_str("</ul>\n");
    }

    for table in super::list_tables(s, lang) {
        let _ = write!(h, "<h3>{}</h3>\n<table><tr>", escape(&table.heading));
        for header in &table.headers {
            let _ = write!(h, "<th>{header}</th>");
        }
        h.push_str("</tr>\n");
        for row in &table.rows {
            h.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let align = if i > 0 && i < table.text_columns {
                    " class=\"text\""
                } else {
                    ""
                };
                let _ = write!(h, "<td{align}>{}</td>", escape(cell));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture::{HOSTILE, report};

    #[test]
    fn hostile_names_stay_text() {
        for lang in [Lang::Zh, Lang::En] {
            let benign = render(&report("x"), lang, None);
            for text in HOSTILE {
                let html = render(&report(text), lang, None);
                // Every tag, attribute quote and entity is the page's own.
                for c in ['<', '>', '"', '\''] {
                    assert_eq!(
                        html.matches(c).count(),
                        benign.matches(c).count(),
                        "{text:?}: {c} from data"
                    );
                }
                for (i, _) in html.match_indices('&') {
                    assert!(
                        ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                            .iter()
                            .any(|e| html[i..].starts_with(e)),
                        "{text:?}: a raw & at {}",
                        &html[i..(i + 12).min(html.len())]
                    );
                }
                assert!(html.contains(&escape(text)), "{text:?} not shown");
            }
        }
    }
}
