//! Pictures drawn on the server as SVG, each a pure function of its data:
//! the coverage heatmap, NTP offset over time with the threshold band, one
//! bar per unreported incident's 6-hour window, and the ingest rate.
//! Every shape carries a `<title>` (read by screen readers and shown on
//! hover) and `data-*` attributes naming what it stands for, and each chart
//! has a text alternative.

use maud::{html, Markup};

const DAY_NS: i64 = 86_400_000_000_000;
const IST_NS: i64 = pramaan_core::time::IST_OFFSET_SECS as i64 * 1_000_000_000;

/// The IST calendar day of a time, as days since 1970-01-01 (IST).
pub fn ist_day(ns: i64) -> i64 {
    (ns + IST_NS).div_euclid(DAY_NS)
}

/// `2026-03-03` for an IST day number.
pub fn day_label(day: i64) -> String {
    pramaan_core::time::ts(day * DAY_NS)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Lines one source sent on each IST day (days without lines may be absent).
#[derive(Clone, Debug)]
pub struct SourceDays {
    pub source: String,
    pub counts: Vec<(i64, u64)>,
}

/// What a heatmap cell shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Before the source's first line in the window: nothing expected.
    Before,
    /// No line on a day after the source had started sending: stands out.
    Silent,
    /// Lines, shaded by order of magnitude (1: 1-9 lines, ... 4: 1,000 or more).
    Lines(u8),
}

impl Cell {
    pub fn class(self) -> &'static str {
        match self {
            Cell::Before => "before",
            Cell::Silent => "silent",
            Cell::Lines(1) => "l1",
            Cell::Lines(2) => "l2",
            Cell::Lines(3) => "l3",
            Cell::Lines(_) => "l4",
        }
    }
}

/// The cells of one source over `days` days ending with `last_day` (oldest first).
pub fn coverage_row(s: &SourceDays, last_day: i64, days: usize) -> Vec<(i64, u64, Cell)> {
    let first_day = last_day - days as i64 + 1;
    let first_seen = s
        .counts
        .iter()
        .filter(|(d, n)| *n > 0 && *d >= first_day && *d <= last_day)
        .map(|(d, _)| *d)
        .min();
    (first_day..=last_day)
        .map(|d| {
            let n: u64 = s
                .counts
                .iter()
                .filter(|(x, _)| *x == d)
                .map(|(_, n)| n)
                .sum();
            let cell = match (n, first_seen) {
                (0, Some(f)) if d > f => Cell::Silent,
                (0, _) => Cell::Before,
                (n, _) => Cell::Lines((n.ilog10() + 1).min(4) as u8),
            };
            (d, n, cell)
        })
        .collect()
}

/// Sources whose row ends in silence: lines earlier in the window, none on `last_day`.
pub fn silent_today(sources: &[SourceDays], last_day: i64, days: usize) -> Vec<String> {
    sources
        .iter()
        .filter(|s| {
            coverage_row(s, last_day, days)
                .last()
                .is_some_and(|(_, _, c)| *c == Cell::Silent)
        })
        .map(|s| s.source.clone())
        .collect()
}

/// A day's cell is this wide; a source's row this tall (180 days fit a laptop screen).
const CELL: i64 = 6;
const ROW: i64 = 16;
const LABEL_W: i64 = 150;

/// Sources × the last `days` IST days, a cell per source and day.
pub fn heatmap(sources: &[SourceDays], last_day: i64, days: usize) -> Markup {
    let w = LABEL_W + days as i64 * CELL + 10;
    let h = 24 + sources.len() as i64 * ROW + 8;
    let first_day = last_day - days as i64 + 1;
    html! {
        figure {
            svg.heatmap xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}"))
                role="img" aria-labelledby="heatmap-title" {
                title #heatmap-title { "Log coverage: lines per source per IST day, " (day_label(first_day)) " to " (day_label(last_day)) }
                style { ".before{fill:#f0f0f0}.silent{fill:#c1121f}.l1{fill:#c7e9c0}.l2{fill:#74c476}.l3{fill:#31a354}.l4{fill:#006d2c}" }
                text x=(LABEL_W) y="12" { (day_label(first_day)) }
                text x=(w - 10) y="12" text-anchor="end" { (day_label(last_day)) }
                @for (i, s) in sources.iter().enumerate() {
                    @let y = 20 + i as i64 * ROW;
                    text x=(LABEL_W - 6) y=(y + ROW - 5) text-anchor="end" { (s.source) }
                    @for (j, (d, n, c)) in coverage_row(s, last_day, days).into_iter().enumerate() {
                        rect class=(c.class()) x=(LABEL_W + j as i64 * CELL) y=(y) width=(CELL - 1) height=(ROW - 3)
                            data-source=(s.source) data-day=(day_label(d)) data-lines=(n) {
                            title { (s.source) " " (day_label(d)) ": " (n) " lines" @if c == Cell::Silent { " (silent)" } }
                        }
                    }
                }
            }
            figcaption {
                "Darker green: more lines (1–9, 10–99, 100–999, 1,000 or more). "
                strong { "Red: a silent day" } " (no line after the source had started sending). Grey: before the first line."
            }
        }
    }
}

/// One NTP server's offsets over time (None: no usable answer at that time).
#[derive(Clone, Debug)]
pub struct OffsetSeries {
    pub server: String,
    pub points: Vec<(i64, Option<f64>)>,
}

/// Geometry of the offset chart: where an offset in ms lands.
#[derive(Clone, Copy, Debug)]
pub struct OffsetScale {
    pub top: f64,
    pub height: f64,
    /// The chart spans -limit_ms..+limit_ms.
    pub limit_ms: f64,
}

impl OffsetScale {
    pub fn new(series: &[OffsetSeries], threshold_ms: f64) -> Self {
        let worst = series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .fold(0.0f64, |a, b| a.max(b.abs()));
        OffsetScale {
            top: 20.0,
            height: 200.0,
            limit_ms: (threshold_ms * 1.5).max(worst * 1.1).max(1.0),
        }
    }
    pub fn y(&self, ms: f64) -> f64 {
        let ms = ms.clamp(-self.limit_ms, self.limit_ms);
        self.top + self.height / 2.0 - ms / self.limit_ms * self.height / 2.0
    }
}

const PALETTE: &[&str] = &["#1f4e9c", "#b35806", "#542788", "#01665e", "#8c510a"];

/// Offset over time per server, with the ±threshold band.
pub fn offset_chart(
    series: &[OffsetSeries],
    threshold_ms: f64,
    from_ns: i64,
    to_ns: i64,
) -> Markup {
    let sc = OffsetScale::new(series, threshold_ms);
    let (left, width) = (60.0, 720.0);
    let span = (to_ns - from_ns).max(1) as f64;
    let x = |ns: i64| left + (ns - from_ns) as f64 / span * width;
    let (band_top, band_bottom) = (sc.y(threshold_ms), sc.y(-threshold_ms));
    html! {
        figure {
            svg.offsets xmlns="http://www.w3.org/2000/svg" width="800" height="260" viewBox="0 0 800 260" role="img" aria-labelledby="offset-title" {
                title #offset-title { "Clock offset per time server, ms, with the ±" (threshold_ms) " ms band" }
                rect.band x=(left) y=(band_top) width=(width) height=(band_bottom - band_top) fill="#e3f4e8" data-threshold-ms=(threshold_ms) {
                    title { "Allowed: ±" (threshold_ms) " ms" }
                }
                line x1=(left) x2=(left + width) y1=(sc.y(0.0)) y2=(sc.y(0.0)) stroke="#888" {}
                text x=(left - 4.0) y=(band_top + 4.0) text-anchor="end" { "+" (threshold_ms) }
                text x=(left - 4.0) y=(band_bottom + 4.0) text-anchor="end" { "−" (threshold_ms) }
                text x=(left - 4.0) y=(sc.top + 4.0) text-anchor="end" { "+" (format!("{:.0}", sc.limit_ms)) }
                text x=(left - 4.0) y=(sc.top + sc.height + 4.0) text-anchor="end" { "−" (format!("{:.0}", sc.limit_ms)) }
                text x=(left) y="250" { (crate::when(from_ns)) }
                text x=(left + width) y="250" text-anchor="end" { (crate::when(to_ns)) }
                @for (i, s) in series.iter().enumerate() {
                    @let colour = PALETTE[i % PALETTE.len()];
                    @let pts: Vec<String> = s.points.iter().filter_map(|(t, v)| v.map(|v| format!("{:.1},{:.1}", x(*t), sc.y(v)))).collect();
                    polyline fill="none" stroke=(colour) stroke-width="2" points=(pts.join(" ")) data-server=(s.server) {}
                    @for (t, v) in &s.points {
                        @match v {
                            Some(v) => {
                                circle cx=(format!("{:.1}", x(*t))) cy=(format!("{:.1}", sc.y(*v))) r="2.5" fill=(colour)
                                    class=(if v.abs() > threshold_ms { "outside" } else { "inside" }) {
                                    title { (s.server) " " (crate::when(*t)) ": " (format!("{v:.2}")) " ms" }
                                }
                            }
                            None => {
                                text.noanswer x=(format!("{:.1}", x(*t))) y=(sc.top + sc.height + 12.0) text-anchor="middle" fill="#a4161a" {
                                    "×" title { (s.server) " " (crate::when(*t)) ": no usable answer" }
                                }
                            }
                        }
                    }
                    text x=(left + width + 4.0) y=(20 + i * 14) fill=(colour) font-size="10" { (s.server) }
                }
            }
            figcaption { "Green band: within ±" (threshold_ms) " ms. × at the bottom: the server gave no usable answer." }
        }
    }
}

/// An incident whose 6-hour clock runs.
#[derive(Clone, Debug)]
pub struct IncidentWindow {
    pub id: i64,
    pub title: String,
    pub clock_start_ns: i64,
    pub deadline_ns: i64,
}

/// One bar per unreported incident: its 6-hour window, how much is used, time left.
pub fn incident_bars(incidents: &[IncidentWindow], now_ns: i64) -> Markup {
    let (left, width) = (230.0, 440.0);
    let h = 16 + incidents.len() * 30;
    html! {
        figure {
            svg.incidents xmlns="http://www.w3.org/2000/svg" width="800" height=(h) viewBox=(format!("0 0 800 {h}")) role="img" aria-labelledby="incident-bars-title" {
                title #incident-bars-title { "The 6-hour reporting window of each unreported incident" }
                @for (i, inc) in incidents.iter().enumerate() {
                    @let y = 8.0 + i as f64 * 30.0;
                    @let span = (inc.deadline_ns - inc.clock_start_ns).max(1) as f64;
                    @let used = ((now_ns - inc.clock_start_ns) as f64 / span).clamp(0.0, 1.0);
                    @let left_ns = inc.deadline_ns - now_ns;
                    @let overdue = left_ns < 0;
                    g data-incident=(inc.id) class=(if overdue { "overdue" } else { "running" }) {
                        text x=(left - 6.0) y=(y + 14.0) text-anchor="end" { "#" (inc.id) " " (truncate(&inc.title, 28)) }
                        rect x=(left) y=(y) width=(width) height="20" fill="#eee" stroke="#777" {}
                        rect.used x=(left) y=(y) width=(format!("{:.1}", used * width)) height="20" fill=(if overdue { "#a4161a" } else if left_ns < 3_600_000_000_000 { "#b35806" } else { "#1f4e9c" }) {
                            title { "Clock started " (crate::when(inc.clock_start_ns)) "; deadline " (crate::when(inc.deadline_ns)) }
                        }
                        text x=(left + width + 6.0) y=(y + 14.0) {
                            @if overdue { "OVERDUE " (crate::duration(left_ns)) } @else { (crate::duration(left_ns)) " left" }
                        }
                    }
                }
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Lines received per bucket (oldest first), as bars.
pub fn ingest_rate(buckets: &[(i64, u64)], bucket_ns: i64) -> Markup {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = buckets.len().max(1) as f64;
    let (left, width, top, height) = (60.0, 720.0, 10.0, 150.0);
    let bw = width / n;
    html! {
        figure {
            svg.ingest xmlns="http://www.w3.org/2000/svg" width="800" height="190" viewBox="0 0 800 190" role="img" aria-labelledby="ingest-title" {
                title #ingest-title { "Lines received per " (crate::duration(bucket_ns)) }
                text x=(left - 4.0) y=(top + 4.0) text-anchor="end" { (max as u64) }
                text x=(left - 4.0) y=(top + height) text-anchor="end" { "0" }
                @for (i, (t, c)) in buckets.iter().enumerate() {
                    @let bh = *c as f64 / max * height;
                    rect x=(format!("{:.1}", left + i as f64 * bw)) y=(format!("{:.1}", top + height - bh)) width=(format!("{:.1}", (bw - 1.0).max(1.0))) height=(format!("{:.1}", bh)) fill="#1f4e9c" data-lines=(c) {
                        title { (crate::when(*t)) ": " (c) " lines" }
                    }
                }
                @if let (Some(f), Some(l)) = (buckets.first(), buckets.last()) {
                    text x=(left) y="180" { (crate::when(f.0)) }
                    text x=(left + width) y="180" text-anchor="end" { (crate::when(l.0)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_day_is_the_silent_cell() {
        let today = ist_day(1_764_300_000_000_000_000);
        let s = SourceDays {
            source: "fw1".into(),
            counts: vec![(today - 3, 5), (today - 1, 120), (today, 4000)],
        };
        let row = coverage_row(&s, today, 10);
        assert_eq!(row.len(), 10);
        let cell = |d: i64| row.iter().find(|r| r.0 == d).unwrap().2;
        assert_eq!(cell(today - 4), Cell::Before);
        assert_eq!(cell(today - 3), Cell::Lines(1));
        assert_eq!(cell(today - 2), Cell::Silent);
        assert_eq!(cell(today - 1), Cell::Lines(3));
        assert_eq!(cell(today), Cell::Lines(4));
        let svg = heatmap(&[s], today, 10).into_string();
        let gap = day_label(today - 2);
        assert!(
            svg.contains(&format!(
                r#"<rect class="silent" x="{}""#,
                LABEL_W + 7 * CELL
            )),
            "{svg}"
        );
        assert_eq!(svg.matches(r#"class="silent""#).count(), 1);
        assert!(svg.contains(&format!(
            r#"data-source="fw1" data-day="{gap}" data-lines="0""#
        )));
    }

    #[test]
    fn a_source_silent_today_is_named() {
        let today = 20_000;
        let s = vec![
            SourceDays {
                source: "a".into(),
                counts: vec![(today - 1, 3)],
            },
            SourceDays {
                source: "b".into(),
                counts: vec![(today, 3)],
            },
        ];
        assert_eq!(silent_today(&s, today, 180), vec!["a".to_string()]);
    }

    #[test]
    fn ist_days_turn_at_ist_midnight() {
        // 2026-03-02T18:29:59Z is 23:59:59 IST on the 2nd; a second later it is the 3rd.
        let t = 1_772_476_199_000_000_000i64;
        assert_eq!(day_label(ist_day(t)), "2026-03-02");
        assert_eq!(day_label(ist_day(t + 1_000_000_000)), "2026-03-03");
    }

    #[test]
    fn the_threshold_band_sits_at_plus_and_minus_the_threshold() {
        let s = vec![OffsetSeries {
            server: "ntp".into(),
            points: vec![(0, Some(10.0)), (10, Some(-40.0)), (20, None)],
        }];
        let sc = OffsetScale::new(&s, 100.0);
        assert_eq!(sc.limit_ms, 150.0);
        // 200 px for ±150 ms, centred at 120: +100 ms is 120 - 100/150*100.
        assert!((sc.y(100.0) - (120.0 - 200.0 / 3.0)).abs() < 1e-9);
        assert!((sc.y(-100.0) - (120.0 + 200.0 / 3.0)).abs() < 1e-9);
        let svg = offset_chart(&s, 100.0, 0, 20).into_string();
        assert!(svg.contains(&format!(r#"y="{}""#, sc.y(100.0))), "{svg}");
        assert!(svg.contains(&format!(r#"height="{}""#, sc.y(-100.0) - sc.y(100.0))));
        assert_eq!(svg.matches("class=\"inside\"").count(), 2);
        assert_eq!(
            svg.matches("no usable answer").count(),
            2,
            "the point and the caption"
        );
        // A point outside the band widens the scale and is marked outside.
        let s2 = vec![OffsetSeries {
            server: "ntp".into(),
            points: vec![(0, Some(400.0))],
        }];
        assert!((OffsetScale::new(&s2, 100.0).limit_ms - 440.0).abs() < 1e-9);
        assert!(offset_chart(&s2, 100.0, 0, 1)
            .into_string()
            .contains("class=\"outside\""));
    }

    #[test]
    fn incident_bars_show_time_left_and_overdue() {
        let h = 3_600_000_000_000i64;
        let svg = incident_bars(
            &[
                IncidentWindow {
                    id: 1,
                    title: "scan".into(),
                    clock_start_ns: 0,
                    deadline_ns: 6 * h,
                },
                IncidentWindow {
                    id: 2,
                    title: "leak".into(),
                    clock_start_ns: -7 * h,
                    deadline_ns: -h,
                },
            ],
            2 * h,
        )
        .into_string();
        assert!(svg.contains("4 h 0 min left"), "{svg}");
        assert!(svg.contains("OVERDUE 3 h 0 min"));
        // a third of the window used: 440 / 3
        assert!(svg.contains(r#"width="146.7""#), "{svg}");
    }

    #[test]
    fn ingest_bars_scale_to_the_busiest_bucket() {
        let svg = ingest_rate(&[(0, 10), (1, 5), (2, 0)], 3_600_000_000_000).into_string();
        assert!(
            svg.contains(r##"height="150.0" fill="#1f4e9c" data-lines="10""##),
            "{svg}"
        );
        assert!(svg.contains(r##"height="75.0" fill="#1f4e9c" data-lines="5""##));
    }

    proptest::proptest! {
        #[test]
        fn a_row_has_one_cell_per_day_and_silence_only_after_the_first_line(
            counts in proptest::collection::vec((0i64..40, 0u64..2000), 0..30)
        ) {
            let s = SourceDays { source: "x".into(), counts };
            let row = coverage_row(&s, 39, 40);
            proptest::prop_assert_eq!(row.len(), 40);
            let first = row.iter().position(|r| r.1 > 0);
            for (i, (_, n, c)) in row.iter().enumerate() {
                match c {
                    Cell::Silent => proptest::prop_assert!(*n == 0 && first.is_some_and(|f| i > f)),
                    Cell::Before => proptest::prop_assert!(*n == 0 && first.is_none_or(|f| i < f)),
                    Cell::Lines(_) => proptest::prop_assert!(*n > 0),
                }
            }
        }
    }
}
