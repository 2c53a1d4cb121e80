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
    let _ = writeln!(m, "# {}\n", escape(&title(report, lang)));
    let _ = writeln!(m, "## {}\n", l.city_summary);
    section(&mut m, report, &report.city, lang, false);
    for d in report
        .districts
        .iter()
        .filter(|d| district.is_none_or(|code| d.place.code == code))
    {
        let _ = writeln!(
            m,
            "## {} {}\n",
            escape(lang.place(&d.place)),
            escape(&d.place.code)
        );
        section(&mut m, report, d, lang, true);
    }
    let _ = writeln!(
        m,
        "---\n{}",
        escape(&super::html::source_line(report, lang))
    );
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

/// `text` with control characters and line/paragraph separators as spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `text` (names, categories, messages: anything from the lake) as literal Markdown on one
/// line: control characters become spaces, and every character that could start Markdown or
/// HTML (tags, entities, links, images, emphasis, code, table cells, headings, quotes, lists)
/// is backslash-escaped, which CommonMark and GFM render as the character itself.
pub fn escape(text: &str) -> String {
    let one_line = one_line(text);
    let one_line = one_line.trim();
    let mut out = String::with_capacity(one_line.len() + 8);
    // Still inside a leading run of digits (`1.` / `1)` would start an ordered list).
    let mut leading_digits = true;
    for (i, c) in one_line.chars().enumerate() {
        let escaped = match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '#' | '!' | '~' | '{'
            | '}' => true,
            // A list item, setext underline or thematic break where a line starts.
            '-' | '+' | '=' => i == 0,
            '.' | ')' => leading_digits && i > 0,
            _ => false,
        };
        leading_digits &= c.is_ascii_digit();
        if escaped {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
            escape(&kpi_title(k, lang)),
            format_value(k, fig.value),
            format_change(k, fig.change, lang),
            format_value(k, fig.last_year),
            sparkline(&fig.trend),
            escape(&format_target(k, fig, lang))
        );
    }
    m.push('\n');
    if !s.projects_by_status.is_empty() {
        let parts: Vec<String> = s
            .projects_by_status
            .iter()
            .map(|i| format!("{} {}", escape(&lang.status(&i.item)), thousands(i.value)))
            .collect();
        let _ = writeln!(m, "**{}**: {}\n", l.projects_by_status, parts.join(" · "));
    }
    let _ = writeln!(m, "### {}\n", l.red_flags);
    if s.red_flags.is_empty() {
        let _ = writeln!(m, "{}\n", l.no_flags);
    } else {
        for f in &s.red_flags {
            let _ = writeln!(m, "- {}", escape(&f.message));
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
            escape(&table.heading),
            table.headers.join(" | "),
            rule.join("|")
        );
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            let _ = writeln!(m, "| {} |", cells.join(" | "));
        }
        m.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture::{HOSTILE, report};

    /// Characters that make Markdown or HTML when not escaped.
    const ACTIVE: &str = "\\`*_[]<>&|#!~{}";

    /// How often each active character occurs unescaped in `line` (a backslash escapes the
    /// character after it).
    fn structure(line: &str) -> Vec<usize> {
        let mut counts = vec![0; ACTIVE.chars().count()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                chars.next();
            } else if let Some(i) = ACTIVE.chars().position(|a| a == c) {
                counts[i] += 1;
            }
        }
        counts
    }

    /// Markdown's reading of backslash escapes: `\` before ASCII punctuation is dropped.
    fn unescape(md: &str) -> String {
        let mut out = String::new();
        let mut chars = md.chars().peekable();
        while let Some(c) = chars.next() {
            match chars.peek() {
                Some(n) if c == '\\' && n.is_ascii_punctuation() => out.extend(chars.next()),
                _ => out.push(c),
            }
        }
        out
    }

    #[test]
    fn escapes_what_markdown_would_act_on() {
        for (raw, md) in [
            (
                "<script>alert(1)</script>",
                "\\<script\\>alert(1)\\</script\\>",
            ),
            ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
            ("a | b\nc", "a \\| b c"),
            ("`x`", "\\`x\\`"),
            ("&lt;", "\\&lt;"),
            ("# h", "\\# h"),
            ("> q", "\\> q"),
            ("- i", "\\- i"),
            ("+ i", "\\+ i"),
            ("12. i", "12\\. i"),
            ("3) i", "3\\) i"),
            ("1.5 m", "1\\.5 m"),
            ("a-b+c=d.e)", "a-b+c=d.e)"),
            ("\\", "\\\\"),
            ("  海淀区\t", "海淀区"),
        ] {
            assert_eq!(escape(raw), md, "{raw:?}");
        }
    }

    #[test]
    fn hostile_names_stay_text() {
        for lang in [Lang::Zh, Lang::En] {
            for district in [None, Some("110108")] {
                let benign = render(&report("x"), lang, district);
                for text in HOSTILE {
                    let md = render(&report(text), lang, district);
                    let (b, h): (Vec<&str>, Vec<&str>) =
                        (benign.lines().collect(), md.lines().collect());
                    assert_eq!(h.len(), b.len(), "{text:?} added lines:\n{md}");
                    for (hl, bl) in h.iter().zip(&b) {
                        assert_eq!(structure(hl), structure(bl), "{text:?}: {hl:?}");
                        assert_eq!(hl.chars().next(), bl.chars().next(), "{text:?}: {hl:?}");
                        if let Some(item) = hl.strip_prefix("- ") {
                            let first = item.chars().next().unwrap();
                            assert!(!"-+*>#=".contains(first), "{text:?}: {hl:?}");
                            let digits = item.trim_start_matches(|c: char| c.is_ascii_digit());
                            assert!(
                                digits.len() == item.len() || !digits.starts_with(['.', ')']),
                                "{text:?}: {hl:?}"
                            );
                        }
                    }
                    let shown = one_line(text);
                    assert!(
                        unescape(&md).contains(shown.trim()),
                        "{text:?} not shown as written:\n{md}"
                    );
                }
            }
        }
    }
}
