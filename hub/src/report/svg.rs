//! Charts as inline SVG, drawn on the hub: bars (one per territory, or per
//! breakdown) and a line over periods. Presentation attributes only (no
//! `style`), so the console's Content-Security-Policy and a report opened
//! from a disk alike show them; a `title` and a `desc` for screen readers,
//! and the same figures in a table beside each chart.

use maud::{Markup, html};

use super::{Lang, colon, fmt_value};

const INK: &str = "#1a1a1a";
const MUTED: &str = "#4a4a4a";
const BAR: &str = "#0b4f8a";
const GRID: &str = "#c8c8c8";

/// One bar, or one point of a line: a value, or a suppressed cell, or nothing.
#[derive(Debug, Clone)]
pub struct Datum {
    pub label: String,
    pub value: Option<f64>,
    pub suppressed: bool,
}

impl Datum {
    fn shown(&self) -> Option<f64> {
        if self.suppressed { None } else { self.value }
    }
}

/// What a datum without a value says.
fn missing(lang: Lang, d: &Datum) -> &'static str {
    if d.suppressed {
        lang.t("secret statistique", "statistical secrecy")
    } else {
        lang.t("pas de données", "no data")
    }
}

/// The scale's bounds: zero always in view.
fn bounds(data: &[Datum]) -> (f64, f64) {
    let values = data.iter().filter_map(Datum::shown);
    let (lo, hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi - lo < 1e-9 {
        (lo, lo + 1.0)
    } else {
        (lo, hi)
    }
}

fn px(x: f64) -> String {
    format!("{x:.1}")
}

/// Horizontal bars, one per datum, each labelled with its value (or "secret
/// statistique" in a dashed frame, or "pas de données").
pub fn bars(lang: Lang, id: &str, title: &str, desc: &str, unit: &str, data: &[Datum]) -> Markup {
    let (width, label_w, value_w, row, top) = (680.0, 200.0, 150.0, 30.0, 10.0);
    let area = width - label_w - value_w;
    let height = top * 2.0 + row * data.len().max(1) as f64;
    let (lo, hi) = bounds(data);
    let x = |v: f64| label_w + (v - lo) / (hi - lo) * area;
    let zero = x(0.0);
    html! {
        svg id=(id) class="chart" role="img"
            viewBox={ "0 0 " (px(width)) " " (px(height)) } width=(px(width)) height=(px(height))
            aria-labelledby={ (id) "-title " (id) "-desc" } font-family="sans-serif" font-size="13" {
            title id={ (id) "-title" } { (title) }
            desc id={ (id) "-desc" } { (desc) }
            line x1=(px(zero)) x2=(px(zero)) y1=(px(top - 4.0)) y2=(px(height - top + 4.0)) stroke=(GRID) {}
            @for (i, d) in data.iter().enumerate() {
                @let y = top + row * i as f64;
                @let mid = y + row / 2.0 + 4.5;
                @let cls = if d.suppressed { "bar suppressed" } else { "bar" };
                g class=(cls) {
                    text x=(px(label_w - 8.0)) y=(px(mid)) text-anchor="end" fill=(INK) { (d.label) }
                    @match d.shown() {
                        Some(v) => {
                            @let (a, b) = if v >= 0.0 { (zero, x(v)) } else { (x(v), zero) };
                            rect x=(px(a)) y=(px(y + 5.0)) width=(px((b - a).max(1.0))) height=(px(row - 10.0)) fill=(BAR) {
                                title { (d.label) (colon(lang)) (fmt_value(lang, v)) " " (unit) }
                            }
                            text x=(px(x(v.max(0.0)) + 6.0)) y=(px(mid)) fill=(INK) { (fmt_value(lang, v)) " " (unit) }
                        }
                        None => {
                            @if d.suppressed {
                                rect x=(px(zero)) y=(px(y + 5.0)) width="132" height=(px(row - 10.0))
                                    fill="none" stroke=(MUTED) stroke-dasharray="4 3" {}
                            }
                            text x=(px(zero + 6.0)) y=(px(mid)) fill=(MUTED) font-style="italic" { (missing(lang, d)) }
                        }
                    }
                }
            }
        }
    }
}

/// A line over periods: a point per value, broken where a cell is
/// suppressed (marked by a hollow square on the axis) or missing.
pub fn line(lang: Lang, id: &str, title: &str, desc: &str, unit: &str, data: &[Datum]) -> Markup {
    let (width, height) = (680.0, 280.0);
    let (left, right, top, bottom) = (70.0, 20.0, 20.0, 60.0);
    let (lo, hi) = bounds(data);
    let inner_w = width - left - right;
    let inner_h = height - top - bottom;
    let step = inner_w / data.len().max(1) as f64;
    let x = |i: usize| left + step * (i as f64 + 0.5);
    let y = |v: f64| top + (hi - v) / (hi - lo) * inner_h;
    // Segments of consecutive values.
    let mut path = String::new();
    let mut open = false;
    for (i, d) in data.iter().enumerate() {
        match d.shown() {
            Some(v) => {
                path.push_str(&format!(
                    "{}{} {} ",
                    if open { "L" } else { "M" },
                    px(x(i)),
                    px(y(v))
                ));
                open = true;
            }
            None => open = false,
        }
    }
    let ticks = [lo, (lo + hi) / 2.0, hi];
    let any_suppressed = data.iter().any(|d| d.suppressed);
    // Long period labels (months) stand at an angle when many.
    let slanted = data.len() > 8;
    html! {
        svg id=(id) class="chart" role="img"
            viewBox={ "0 0 " (px(width)) " " (px(height)) } width=(px(width)) height=(px(height))
            aria-labelledby={ (id) "-title " (id) "-desc" } font-family="sans-serif" font-size="12" {
            title id={ (id) "-title" } { (title) }
            desc id={ (id) "-desc" } { (desc) }
            @for t in ticks {
                line x1=(px(left)) x2=(px(width - right)) y1=(px(y(t))) y2=(px(y(t))) stroke=(GRID) {}
                text x=(px(left - 6.0)) y=(px(y(t) + 4.0)) text-anchor="end" fill=(MUTED) { (fmt_value(lang, t)) }
            }
            text x=(px(left)) y="12" fill=(MUTED) { (unit) }
            path d=(path.trim_end()) fill="none" stroke=(BAR) stroke-width="2.5" {}
            @for (i, d) in data.iter().enumerate() {
                @let base = height - bottom;
                @match d.shown() {
                    Some(v) => {
                        circle class="point" cx=(px(x(i))) cy=(px(y(v))) r="4.5" fill=(BAR) {
                            title { (d.label) (colon(lang)) (fmt_value(lang, v)) " " (unit) }
                        }
                    }
                    None => {
                        rect class=(if d.suppressed { "point suppressed" } else { "point" }) x=(px(x(i) - 5.0)) y=(px(base - 5.0))
                            width="10" height="10" fill="#ffffff" stroke=(MUTED) stroke-width="1.5"
                            stroke-dasharray=[(!d.suppressed).then_some("2 2")] {
                            title { (d.label) (colon(lang)) (missing(lang, d)) }
                        }
                    }
                }
                @if slanted {
                    text x=(px(x(i))) y=(px(base + 16.0)) text-anchor="end" fill=(INK)
                        transform={ "rotate(-40 " (px(x(i))) " " (px(base + 16.0)) ")" } { (d.label) }
                } @else {
                    text x=(px(x(i))) y=(px(base + 18.0)) text-anchor="middle" fill=(INK) { (d.label) }
                }
            }
            @if any_suppressed {
                rect x=(px(left)) y=(px(height - 14.0)) width="10" height="10" fill="#ffffff" stroke=(MUTED) stroke-width="1.5" {}
                text x=(px(left + 16.0)) y=(px(height - 5.0)) fill=(MUTED) { (lang.t("secret statistique (cellule masquée)", "statistical secrecy (cell suppressed)")) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<Datum> {
        vec![
            Datum {
                label: "Lyon".into(),
                value: Some(12.5),
                suppressed: false,
            },
            Datum {
                label: "Toulouse".into(),
                value: None,
                suppressed: true,
            },
            Datum {
                label: "Montpellier".into(),
                value: None,
                suppressed: false,
            },
        ]
    }

    #[test]
    fn charts_carry_a_title_a_description_and_say_what_is_suppressed() {
        for svg in [
            bars(Lang::Fr, "b", "Barres", "Trois territoires", "%", &data()).into_string(),
            line(Lang::Fr, "l", "Ligne", "Trois mois", "%", &data()).into_string(),
        ] {
            assert!(svg.contains("role=\"img\""), "{svg}");
            assert!(svg.contains("<title id=\""), "{svg}");
            assert!(svg.contains("<desc id=\""), "{svg}");
            assert!(svg.contains("secret statistique"), "{svg}");
            assert!(svg.contains("pas de données"), "{svg}");
            assert!(svg.contains("12,5"), "{svg}");
            assert!(!svg.contains(" style="), "{svg}");
        }
        let bars = bars(Lang::Fr, "b", "t", "d", "%", &data()).into_string();
        assert_eq!(bars.matches("fill=\"#0b4f8a\"").count(), 1, "{bars}");
    }
}
