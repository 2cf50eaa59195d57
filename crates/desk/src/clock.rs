//! The 6-hour clock and the reminders before it runs out: pure arithmetic on
//! nanosecond timestamps, with `now` always passed in.

use serde::{Deserialize, Serialize};

/// CERT-In's deadline: 6 hours from noticing the incident or being told of it.
pub const DEADLINE_NS: i64 = 6 * 3600 * 1_000_000_000;

/// When the clock starts: the earlier of detection and notification.
pub fn clock_start(detected_at_ns: i64, notified_at_ns: Option<i64>) -> i64 {
    notified_at_ns.map_or(detected_at_ns, |n| n.min(detected_at_ns))
}

pub fn deadline(start_ns: i64) -> i64 {
    start_ns.saturating_add(DEADLINE_NS)
}

/// "5 h 02 min", "0 h 30 min", "12 min", "45 s" for a positive span.
pub fn span_text(ns: i64) -> String {
    let secs = (ns / 1_000_000_000).max(0);
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d} d {h} h {m:02} min")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{s} s")
    }
}

/// Where an incident stands against its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ClockStatus {
    /// Not reported yet, time remains.
    Running { left_ns: i64 },
    /// Not reported yet and past the deadline.
    Overdue { late_ns: i64 },
    /// The first report went out in time.
    Met { margin_ns: i64 },
    /// The first report went out after the deadline.
    MissedReported { late_ns: i64 },
}

impl ClockStatus {
    pub fn of(deadline_ns: i64, first_report_ns: Option<i64>, now_ns: i64) -> Self {
        match first_report_ns {
            Some(r) if r <= deadline_ns => ClockStatus::Met {
                margin_ns: deadline_ns - r,
            },
            Some(r) => ClockStatus::MissedReported {
                late_ns: r - deadline_ns,
            },
            None if now_ns <= deadline_ns => ClockStatus::Running {
                left_ns: deadline_ns - now_ns,
            },
            None => ClockStatus::Overdue {
                late_ns: now_ns - deadline_ns,
            },
        }
    }

    /// Not reported and past the deadline.
    pub fn overdue(&self) -> bool {
        matches!(self, ClockStatus::Overdue { .. })
    }

    /// For people: "3 h 12 min left", "OVERDUE by 20 min", ...
    pub fn text(&self) -> String {
        match self {
            ClockStatus::Running { left_ns } => format!("{} left", span_text(*left_ns)),
            ClockStatus::Overdue { late_ns } => {
                format!(
                    "OVERDUE by {}: not reported to CERT-In",
                    span_text(*late_ns)
                )
            }
            ClockStatus::Met { margin_ns } => {
                format!(
                    "reported in time ({} before the deadline)",
                    span_text(*margin_ns)
                )
            }
            ClockStatus::MissedReported { late_ns } => {
                format!("reported LATE ({} after the deadline)", span_text(*late_ns))
            }
        }
    }
}

/// One reminder: so long before the deadline, or the overdue one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reminder {
    /// This many seconds before the deadline.
    Before(u64),
    Overdue,
    /// Sent once when pramaan itself opened the incident (a detection):
    /// the point of contact learns of it at once.
    Opened,
}

impl Reminder {
    /// The name stored and shown: `3h`, `1h`, `30m`, `90s`, `overdue`.
    pub fn name(&self) -> String {
        match self {
            Reminder::Overdue => "overdue".into(),
            Reminder::Opened => "opened".into(),
            Reminder::Before(s) if s % 3600 == 0 => format!("{}h", s / 3600),
            Reminder::Before(s) if s % 60 == 0 => format!("{}m", s / 60),
            Reminder::Before(s) => format!("{s}s"),
        }
    }

    fn due_at(&self, deadline_ns: i64) -> i64 {
        match self {
            Reminder::Overdue => deadline_ns.saturating_add(1),
            // Decided when the incident is opened, never by `due`.
            Reminder::Opened => i64::MIN,
            Reminder::Before(s) => {
                deadline_ns.saturating_sub((*s as i64).saturating_mul(1_000_000_000))
            }
        }
    }
}

/// Parses `desk.reminders`: `"3h,1h,30m"` (each a number with s, m or h;
/// `""` = none). Returned largest first.
pub fn parse_reminders(text: &str) -> Result<Vec<Reminder>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let secs = pramaan_core::time::parse_age_secs(part)
            .filter(|s| *s > 0 && *s < 6 * 3600)
            .ok_or_else(|| {
                format!(
                    "`{part}` is not a time before the deadline: use a number with s, m or h under 6h, like 3h, 1h, 30m"
                )
            })?;
        out.push(Reminder::Before(secs as u64));
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    Ok(out)
}

/// What to do at `now` for one unreported incident, given the reminders
/// configured and those already done: the one reminder to send (the most
/// urgent one due) and the earlier ones it makes pointless (to be marked as
/// skipped, never sent). Nothing for a reminder that is done already.
pub fn due(
    deadline_ns: i64,
    configured: &[Reminder],
    overdue_too: bool,
    done: &[Reminder],
    now_ns: i64,
) -> (Option<Reminder>, Vec<Reminder>) {
    let mut all: Vec<Reminder> = configured.to_vec();
    if overdue_too {
        all.push(Reminder::Overdue);
    }
    // Most urgent last: Before(big) ... Before(small), Overdue.
    all.sort_unstable_by_key(|r| r.due_at(deadline_ns));
    let due: Vec<Reminder> = all
        .into_iter()
        .filter(|r| now_ns >= r.due_at(deadline_ns) && !done.contains(r))
        .collect();
    match due.split_last() {
        None => (None, Vec::new()),
        Some((last, rest)) => (Some(*last), rest.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const H: i64 = 3600 * 1_000_000_000;
    const M: i64 = 60 * 1_000_000_000;

    #[test]
    fn clock_starts_at_the_earlier_time() {
        assert_eq!(clock_start(10 * H, Some(8 * H)), 8 * H);
        assert_eq!(clock_start(10 * H, Some(11 * H)), 10 * H);
        assert_eq!(clock_start(10 * H, None), 10 * H);
        assert_eq!(deadline(10 * H), 16 * H);
    }

    #[test]
    fn status_and_text() {
        let d = 6 * H;
        assert_eq!(
            ClockStatus::of(d, None, 2 * H + 58 * M).text(),
            "3 h 02 min left"
        );
        let s = ClockStatus::of(d, None, d + 20 * M);
        assert!(s.overdue());
        assert!(s.text().starts_with("OVERDUE by 20 min"));
        assert!(!ClockStatus::of(d, Some(d - M), d + H).overdue());
        assert!(ClockStatus::of(d, Some(d + M), d + H)
            .text()
            .contains("LATE"));
    }

    #[test]
    fn reminders_parse() {
        let r = parse_reminders("30m, 3h,1h").unwrap();
        assert_eq!(
            r,
            vec![
                Reminder::Before(10800),
                Reminder::Before(3600),
                Reminder::Before(1800)
            ]
        );
        assert_eq!(
            r.iter().map(Reminder::name).collect::<Vec<_>>(),
            ["3h", "1h", "30m"]
        );
        assert!(parse_reminders("").unwrap().is_empty());
        assert!(parse_reminders("7h").unwrap_err().contains("`7h`"));
        assert!(parse_reminders("soon").is_err());
    }

    #[test]
    fn each_reminder_once_and_only_the_most_urgent() {
        let conf = parse_reminders("3h,1h,30m").unwrap();
        let d = 6 * H;
        // 2 h 59 min before: nothing yet... 3 h before exactly: 3h.
        assert_eq!(due(d, &conf, true, &[], d - 3 * H - M), (None, vec![]));
        assert_eq!(
            due(d, &conf, true, &[], d - 3 * H),
            (Some(Reminder::Before(10800)), vec![])
        );
        let done = [Reminder::Before(10800)];
        assert_eq!(due(d, &conf, true, &done, d - 2 * H), (None, vec![]));
        // Created late: 20 min left; 30m is sent, 3h and 1h skipped.
        assert_eq!(
            due(d, &conf, true, &[], d - 20 * M),
            (
                Some(Reminder::Before(1800)),
                vec![Reminder::Before(10800), Reminder::Before(3600)]
            )
        );
        // At the deadline itself it is not overdue yet; one ns later it is.
        let done = [
            Reminder::Before(10800),
            Reminder::Before(3600),
            Reminder::Before(1800),
        ];
        assert_eq!(due(d, &conf, true, &done, d), (None, vec![]));
        assert_eq!(
            due(d, &conf, true, &done, d + 1),
            (Some(Reminder::Overdue), vec![])
        );
        assert_eq!(due(d, &conf, false, &done, d + 1), (None, vec![]));
    }
}
