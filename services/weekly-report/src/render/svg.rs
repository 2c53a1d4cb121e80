//! Inline SVG charts: a trend line per figure and bars across districts. Plain shapes with
//! explicit colours, so they print the same as they show.

use super::html::escape;

/// Line colour.
const LINE: &str = "#c0392b";
/// Bar colour.
const BAR: &str = "#2e6da4";

/// A small line of the weeks' values (gaps where a week has none), its last point marked.
pub fn trend(values: &[Option<f64>], width: f64, height: f64) -> String {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let mut out = format!(
        r#"<svg class="trend" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">"#
    );
    if known.is_empty() || values.len() < 2 {
        out.push_str("</svg>");
        return out;
    }
    let (lo, hi) = known
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let pad = 3.0;
    let x = |i: usize| pad + i as f64 * (width - 2.0 * pad) / (values.len() - 1) as f64;
    let y = |v: f64| {
        if hi > lo {
            height - pad - (v - lo) / (hi - lo) * (height - 2.0 * pad)
        } else {
            height / 2.0
        }
    };
    // One polyline per run of known values.
    let mut run: Vec<String> = Vec::new();
    let flush = |run: &mut Vec<String>, out: &mut String| {
        if run.len() > 1 {
            out.push_str(&format!(
                r#"<polyline fill="none" stroke="{LINE}" stroke-width="1.6" points="{}"/>"#,
                run.join(" ")
            ));
        }
        run.clear();
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(*v))),
            None => flush(&mut run, &mut out),
        }
    }
    flush(&mut run, &mut out);
    if let Some(Some(last)) = values.last() {
        out.push_str(&format!(
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.4" fill="{LINE}"/>"#,
            x(values.len() - 1),
            y(*last)
        ));
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one per `(label, value, shown)`, scaled to the largest value.
pub fn bars(title: &str, rows: &[(String, f64, String)]) -> String {
    let (label_w, bar_w, value_w, row_h) = (120.0, 300.0, 90.0, 18.0);
    let width = label_w + bar_w + value_w;
    let height = 22.0 + row_h * rows.len() as f64;
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let mut out = format!(
        r#"<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"><text x="0" y="14" font-size="12" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, (label, value, shown)) in rows.iter().enumerate() {
        let top = 22.0 + i as f64 * row_h;
        let w = if max > 0.0 { value / max * bar_w } else { 0.0 };
        out.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text><rect x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{BAR}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            label_w - 6.0,
            top + 12.0,
            escape(label),
            top + 3.0,
            row_h - 6.0,
            label_w + w + 4.0,
            top + 12.0,
            escape(shown)
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_what_they_are_given() {
        let t = trend(
            &[Some(1.0), Some(3.0), None, Some(2.0), Some(5.0)],
            120.0,
            28.0,
        );
        assert_eq!(
            t.matches("<polyline").count(),
            2,
            "a gap splits the line: {t}"
        );
        assert!(t.contains("<circle"));
        assert!(!trend(&[None, None], 120.0, 28.0).contains("polyline"));
        let b = bars(
            "x<y",
            &[
                ("海淀区".into(), 2.0, "2".into()),
                ("朝阳区".into(), 1.0, "1".into()),
            ],
        );
        assert_eq!(b.matches("<rect").count(), 2);
        assert!(b.contains("x&lt;y") && b.contains("width=\"300.0\""));
    }
}
