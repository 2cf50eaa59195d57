//! One card per obligation, each green, amber or red with the reason in
//! words and a link to act. The decisions are pure functions of facts the
//! server gathers; a new obligation (the orders register) is one more
//! `Facts` struct, one more function and one more card in the list.

use maud::{html, Markup};
use pramaan_vault::objects::counted::LastError;
use pramaan_vault::objects::region::{LocationCheck, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Green,
    Amber,
    Red,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Amber => "amber",
            Level::Red => "red",
        }
    }
    /// The word shown beside the colour (colour is never the only signal).
    pub fn word(self) -> &'static str {
        match self {
            Level::Green => "met",
            Level::Amber => "attention",
            Level::Red => "not met",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    pub obligation: &'static str,
    pub level: Level,
    pub reason: String,
    pub href: String,
    pub action: &'static str,
}

/// What the clock monitor says.
#[derive(Clone, Debug, Default)]
pub struct ClockFacts {
    pub enabled: bool,
    pub servers_configured: usize,
    /// Latest usable samples all within the threshold (None: no usable sample).
    pub within_threshold: Option<bool>,
    pub threshold_ms: f64,
    /// The largest |offset| among the latest usable samples.
    pub worst_offset_ms: Option<f64>,
    /// Servers whose latest sample is not `ok`, with the state.
    pub failing: Vec<(String, String)>,
    pub flagged_sources: usize,
    pub store_error: Option<String>,
}

pub fn clock_card(f: &ClockFacts) -> Card {
    let (level, reason) = if !f.enabled {
        (Level::Amber, "The clock monitor is off (clock.enabled = false): nothing checks that this system's clock follows NIC/NPL time.".to_string())
    } else if let Some(e) = &f.store_error {
        (
            Level::Amber,
            format!("The clock database cannot be read: {e}."),
        )
    } else {
        match f.within_threshold {
            Some(false) => (
                Level::Red,
                format!(
                    "The clock is off by {:.1} ms, more than the {:.0} ms allowed.",
                    f.worst_offset_ms.unwrap_or(f64::NAN),
                    f.threshold_ms
                ),
            ),
            None if f.failing.is_empty() => (
                Level::Amber,
                "No clock measurement yet: the first round has not run.".to_string(),
            ),
            None => (
                Level::Red,
                format!(
                    "No time server answered usefully: {}.",
                    f.failing
                        .iter()
                        .map(|(s, st)| format!("{s} {st}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Some(true) if f.flagged_sources > 0 => (
                Level::Amber,
                format!(
                    "This clock is within {:.0} ms, but {} log source(s) stamp their lines off by more than that.",
                    f.threshold_ms, f.flagged_sources
                ),
            ),
            Some(true) if !f.failing.is_empty() => (
                Level::Amber,
                format!(
                    "Within {:.0} ms, but {} of {} servers did not answer usefully.",
                    f.threshold_ms,
                    f.failing.len(),
                    f.servers_configured
                ),
            ),
            Some(true) => (
                Level::Green,
                format!(
                    "Within {:.0} ms of the time servers (worst {:.1} ms).",
                    f.threshold_ms,
                    f.worst_offset_ms.unwrap_or(0.0)
                ),
            ),
        }
    };
    Card {
        obligation: "Clock synchronisation",
        level,
        reason,
        href: "/console/settings#clock".into(),
        action: "See the time servers",
    }
}

/// One incident not yet reported, as the dashboard weighs it.
#[derive(Clone, Debug)]
pub struct OpenIncident {
    pub id: i64,
    pub title: String,
    /// Deadline minus now (negative: overdue).
    pub left_ns: i64,
}

pub fn incidents_card(unreported: &[OpenIncident]) -> Card {
    let overdue: Vec<_> = unreported.iter().filter(|i| i.left_ns < 0).collect();
    let soonest = unreported
        .iter()
        .filter(|i| i.left_ns >= 0)
        .min_by_key(|i| i.left_ns);
    let (level, reason, href) = if let Some(first) = overdue.first() {
        (
            Level::Red,
            format!(
                "{} incident(s) past the 6-hour deadline and not reported to CERT-In; #{} \"{}\" is overdue by {}.",
                overdue.len(),
                first.id,
                first.title,
                crate::duration(first.left_ns)
            ),
            format!("/console/incidents/{}", first.id),
        )
    } else if let Some(s) = soonest {
        (
            Level::Amber,
            format!(
                "{} incident(s) not yet reported; #{} \"{}\" has {} left.",
                unreported.len(),
                s.id,
                s.title,
                crate::duration(s.left_ns)
            ),
            format!("/console/incidents/{}", s.id),
        )
    } else {
        (
            Level::Green,
            "Every incident has been reported to CERT-In.".to_string(),
            "/console/incidents".to_string(),
        )
    };
    Card {
        obligation: "Incident reporting (6 hours)",
        level,
        reason,
        href,
        action: "Open the incident desk",
    }
}

/// A compliance alert firing now.
#[derive(Clone, Debug)]
pub struct FiringAlert {
    pub key: String,
    pub summary: String,
    pub acked: bool,
}

/// The compliance alerts (`Err`: the desk holding them cannot be read).
pub fn alerts_card(firing: Result<&[FiringAlert], &str>) -> Card {
    let (level, reason) = match firing {
        Err(e) => (Level::Amber, format!("The compliance alerts cannot be read: {e}.")),
        Ok([]) => (
            Level::Green,
            "No compliance alert is firing: sources, clock, storage, checkpoints and retention are as they should be.".to_string(),
        ),
        Ok(list) => {
            let open = list.iter().filter(|a| !a.acked).count();
            let first = list.iter().find(|a| !a.acked).unwrap_or(&list[0]);
            (
                if open > 0 { Level::Red } else { Level::Amber },
                format!(
                    "{} alert(s) firing ({open} not acknowledged): {} ({}).",
                    list.len(),
                    first.summary,
                    first.key
                ),
            )
        }
    };
    Card {
        obligation: "Compliance alerts",
        level,
        reason,
        href: "/api/v1/alerts".into(),
        action: "List the alerts (pramaan alerts)",
    }
}

/// The point of contact as the desk keeps it.
#[derive(Clone, Debug, Default)]
pub struct PocFacts {
    pub set: bool,
    pub name: String,
    pub missing: Vec<String>,
    /// The desk's review warning, if due.
    pub warning: Option<String>,
}

pub fn poc_card(f: &PocFacts) -> Card {
    let (level, reason) = if !f.set {
        (
            Level::Red,
            "No point of contact is designated: CERT-In has no one to deal with and reports cannot be sent.".to_string(),
        )
    } else if !f.missing.is_empty() {
        (
            Level::Amber,
            format!(
                "{} is designated, but these details are missing: {}.",
                f.name,
                f.missing.join(", ")
            ),
        )
    } else if let Some(w) = &f.warning {
        (Level::Amber, format!("{}: {w}.", f.name))
    } else {
        (
            Level::Green,
            format!("{} is designated and the details are current.", f.name),
        )
    };
    Card {
        obligation: "Point of contact",
        level,
        reason,
        href: "/console/settings#poc".into(),
        action: "Review the point of contact",
    }
}

/// The log vault's state.
#[derive(Clone, Debug, Default)]
pub struct LogFacts {
    pub retention_days: u64,
    /// The retention window meets the 180 days.
    pub retention_compliant: bool,
    pub committed_records: u64,
    /// Sources that sent lines in the recent past but none in the last day,
    /// longest silent first (the card names the first [`SILENT_NAMED`]).
    pub silent_sources: Vec<String>,
    pub wal_errors: u64,
    pub seal_errors: u64,
    /// Where sealed evidence is kept (`file:///...` or `s3://... at ...`).
    pub kept_in: String,
    /// Where that store is, declared and checked (`None`: not known).
    pub location: Option<LocationCheck>,
    /// The store's latest failed request, if it came in the last hour.
    pub store_error: Option<LastError>,
    /// Why the lines per source could not be counted (`silent_sources` is
    /// then empty, not known).
    pub coverage_error: Option<String>,
}

/// Most silent sources the logs card names; it counts them all.
pub const SILENT_NAMED: usize = 10;

pub fn logs_card(f: &LogFacts) -> Card {
    let (level, reason) = if !f.retention_compliant {
        (
            Level::Red,
            format!(
                "Logs are kept {} days, less than the 180 days the directions require.",
                f.retention_days
            ),
        )
    } else if let Some(l) = f.location.as_ref().filter(|l| l.is_mismatch()) {
        (
            Level::Red,
            format!(
                "The evidence store is not where storage.location declares: {}.",
                l.detail
            ),
        )
    } else if f.wal_errors + f.seal_errors > 0 {
        (
            Level::Red,
            format!(
                "The vault reported {} write and {} sealing error(s) (evidence store: {}{}): lines may not be stored.",
                f.wal_errors,
                f.seal_errors,
                f.kept_in,
                f.store_error
                    .as_ref()
                    .map(|e| format!("; its latest failure, at {}: {} ({})", e.at, e.error, e.op))
                    .unwrap_or_default()
            ),
        )
    } else if let Some(e) = &f.store_error {
        (
            Level::Amber,
            format!(
                "The evidence store ({}) failed a request at {}: {} ({}). Sealing retries; see the status.",
                f.kept_in, e.at, e.error, e.op
            ),
        )
    } else if let Some(l) = f
        .location
        .as_ref()
        .filter(|l| matches!(l.verdict, Verdict::Unknown | Verdict::Undeclared))
    {
        (
            Level::Amber,
            format!(
                "Where the evidence store is cannot be confirmed: {}.",
                l.detail
            ),
        )
    } else if let Some(why) = &f.coverage_error {
        (
            Level::Amber,
            format!("Which sources sent lines cannot be told now: {why}."),
        )
    } else if f.committed_records == 0 {
        (
            Level::Amber,
            "No log line has been received yet.".to_string(),
        )
    } else if !f.silent_sources.is_empty() {
        let n = f.silent_sources.len();
        let named = f.silent_sources[..n.min(SILENT_NAMED)].join(", ");
        let more = if n > SILENT_NAMED {
            format!(
                " and {} more (every source: /console/sources)",
                n - SILENT_NAMED
            )
        } else {
            String::new()
        };
        (
            Level::Amber,
            format!("{n} log source(s) sent lines earlier but none today (IST): {named}{more}."),
        )
    } else {
        (
            Level::Green,
            format!(
                "{} records kept for {} days in {}{}; every source sent lines today (IST).",
                f.committed_records,
                f.retention_days,
                f.kept_in,
                f.location
                    .as_ref()
                    .filter(|l| !l.declared.is_empty())
                    .map(|l| format!(" ({})", l.declared))
                    .unwrap_or_default()
            ),
        )
    };
    Card {
        obligation: "Logs of all ICT systems (180 days)",
        level,
        reason,
        href: "/console#coverage".into(),
        action: "See the coverage",
    }
}

/// The subscriber register.
#[derive(Clone, Debug, Default)]
pub struct SubscriberFacts {
    /// None: the register could not be opened (the reason).
    pub error: Option<String>,
    pub total: u64,
    pub incomplete: u64,
}

pub fn subscribers_card(f: &SubscriberFacts) -> Card {
    let (level, reason) = if let Some(e) = &f.error {
        (
            Level::Red,
            format!("The subscriber register cannot be read: {e}."),
        )
    } else if f.incomplete > 0 {
        (
            Level::Amber,
            format!(
                "{} of {} subscriber records lack details the directions ask for.",
                f.incomplete, f.total
            ),
        )
    } else {
        (
            Level::Green,
            format!("{} subscriber record(s), all complete.", f.total),
        )
    };
    Card {
        obligation: "Subscriber records (5 years)",
        level,
        reason,
        href: "/console/subscribers".into(),
        action: "Open the register",
    }
}

/// One order not yet delivered or closed, as the dashboard weighs it.
#[derive(Clone, Debug)]
pub struct OpenOrder {
    pub reference: String,
    /// "received", "approved", "exported".
    pub state: String,
    /// Due time minus now (negative: overdue).
    pub left_ns: i64,
}

/// The orders register: `Err` when it cannot be read (the reason).
pub fn orders_card(open: Result<&[OpenOrder], &str>) -> Card {
    let link = |r: &str| {
        format!(
            "/console/orders/show?{}",
            serde_urlencoded::to_string([("reference", r)]).unwrap_or_default()
        )
    };
    let (level, reason, href) = match open {
        Err(e) => (
            Level::Red,
            format!("The orders register cannot be read: {e}."),
            "/console/orders".to_string(),
        ),
        Ok(open) => {
            let overdue: Vec<_> = open.iter().filter(|o| o.left_ns < 0).collect();
            let soonest = open.iter().min_by_key(|o| o.left_ns);
            match (overdue.iter().min_by_key(|o| o.left_ns), soonest) {
                (Some(worst), _) => (
                    Level::Red,
                    format!(
                        "{} order(s) past the due time and not delivered; {} ({}) is overdue by {}.",
                        overdue.len(),
                        worst.reference,
                        worst.state,
                        crate::duration(worst.left_ns)
                    ),
                    link(&worst.reference),
                ),
                (None, Some(s)) => (
                    Level::Amber,
                    format!(
                        "{} order(s) open; {} ({}) is due in {}.",
                        open.len(),
                        s.reference,
                        s.state,
                        crate::duration(s.left_ns)
                    ),
                    link(&s.reference),
                ),
                (None, None) => (
                    Level::Green,
                    "No order is open: every order has been delivered or closed.".to_string(),
                    "/console/orders".to_string(),
                ),
            }
        }
    };
    Card {
        obligation: "Lawful orders",
        level,
        reason,
        href,
        action: "Open the orders register",
    }
}

/// The cards as a list (each a landmark with its heading).
pub fn cards(cards: &[Card]) -> Markup {
    html! {
        ul.cards {
            @for c in cards {
                li.card.(c.level.as_str()) data-obligation=(c.obligation) {
                    h2 { (c.obligation) }
                    p { span.level { (c.level.word()) } " · " (c.reason) }
                    a href=(c.href) { (c.action) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    #[test]
    fn an_overdue_incident_is_red_and_links_to_it() {
        let c = incidents_card(&[
            OpenIncident {
                id: 3,
                title: "later".into(),
                left_ns: 2 * H,
            },
            OpenIncident {
                id: 7,
                title: "DDoS".into(),
                left_ns: -H / 3,
            },
        ]);
        assert_eq!(c.level, Level::Red);
        assert_eq!(c.href, "/console/incidents/7");
        assert!(c.reason.contains("overdue by 20 min"), "{}", c.reason);
    }

    #[test]
    fn a_running_clock_is_amber_with_the_soonest_deadline() {
        let c = incidents_card(&[
            OpenIncident {
                id: 3,
                title: "a".into(),
                left_ns: 5 * H,
            },
            OpenIncident {
                id: 4,
                title: "b".into(),
                left_ns: H + H / 2,
            },
        ]);
        assert_eq!(c.level, Level::Amber);
        assert!(
            c.reason.contains("#4 \"b\" has 1 h 30 min left"),
            "{}",
            c.reason
        );
        assert_eq!(incidents_card(&[]).level, Level::Green);
    }

    #[test]
    fn clock_levels() {
        let mut f = ClockFacts {
            enabled: true,
            servers_configured: 2,
            threshold_ms: 100.0,
            ..Default::default()
        };
        assert_eq!(clock_card(&f).level, Level::Amber, "no round yet");
        f.within_threshold = Some(true);
        f.worst_offset_ms = Some(3.2);
        assert_eq!(clock_card(&f).level, Level::Green);
        f.flagged_sources = 1;
        assert_eq!(clock_card(&f).level, Level::Amber);
        f.within_threshold = Some(false);
        f.worst_offset_ms = Some(250.0);
        let c = clock_card(&f);
        assert_eq!(c.level, Level::Red);
        assert!(c.reason.contains("250.0 ms"), "{}", c.reason);
        f.within_threshold = None;
        f.failing = vec![("samay1.nic.in".into(), "timeout".into())];
        assert_eq!(clock_card(&f).level, Level::Red);
        assert_eq!(
            clock_card(&ClockFacts::default()).level,
            Level::Amber,
            "disabled"
        );
    }

    #[test]
    fn poc_logs_subscribers() {
        assert_eq!(poc_card(&PocFacts::default()).level, Level::Red);
        let mut p = PocFacts {
            set: true,
            name: "Asha".into(),
            ..Default::default()
        };
        assert_eq!(poc_card(&p).level, Level::Green);
        p.missing = vec!["mobile".into()];
        assert_eq!(poc_card(&p).level, Level::Amber);

        let mut l = LogFacts {
            retention_days: 180,
            retention_compliant: true,
            committed_records: 10,
            kept_in: "s3://evidence/pramaan at https://s3.dc1.example.in".into(),
            ..Default::default()
        };
        assert_eq!(logs_card(&l).level, Level::Green);
        assert!(logs_card(&l)
            .reason
            .contains("in s3://evidence/pramaan at https://s3.dc1.example.in;"));
        l.silent_sources = vec!["fw1".into()];
        let c = logs_card(&l);
        assert_eq!(c.level, Level::Amber);
        assert!(c.reason.contains("fw1"));
        // However many are silent, the card counts them all and names ten.
        l.silent_sources = (0..2000).map(|i| format!("host-{i}")).collect();
        let c = logs_card(&l);
        assert!(c.reason.starts_with("2000 log source(s)"), "{}", c.reason);
        assert!(c.reason.contains("host-9 and 1990 more"), "{}", c.reason);
        assert!(!c.reason.contains("host-10,"));
        l.silent_sources.clear();
        // The store's place: declared and confirmed is named, a mismatch is
        // red, one that cannot be confirmed amber.
        let place = |verdict, detail: &str| {
            Some(LocationCheck {
                declared: "AWS Mumbai (ap-south-1)".into(),
                reported_region: None,
                verdict,
                detail: detail.into(),
            })
        };
        l.location = place(Verdict::Matches, "as declared");
        let c = logs_card(&l);
        assert_eq!(c.level, Level::Green);
        assert!(
            c.reason
                .contains("https://s3.dc1.example.in (AWS Mumbai (ap-south-1));"),
            "{}",
            c.reason
        );
        l.location = place(Verdict::Mismatch, "the bucket reports region us-east-1");
        let c = logs_card(&l);
        assert_eq!(c.level, Level::Red);
        assert!(c
            .reason
            .contains("not where storage.location declares: the bucket reports region us-east-1."));
        l.location = place(Verdict::Unknown, "AccessDenied");
        assert_eq!(logs_card(&l).level, Level::Amber);
        l.location = place(Verdict::Local, "a directory on this machine");
        assert_eq!(logs_card(&l).level, Level::Green);
        l.store_error = Some(LastError {
            at: "2026-12-07T10:00:00+05:30".into(),
            at_ns: 0,
            op: "put".into(),
            error: "connection refused".into(),
        });
        let c = logs_card(&l);
        assert_eq!(c.level, Level::Amber);
        assert!(
            c.reason.contains(
                "failed a request at 2026-12-07T10:00:00+05:30: connection refused (put)"
            ),
            "{}",
            c.reason
        );
        l.seal_errors = 2;
        let c = logs_card(&l);
        assert_eq!(c.level, Level::Red);
        assert!(c.reason.contains("2 sealing error(s) (evidence store: s3://evidence/pramaan at https://s3.dc1.example.in; its latest failure, at 2026-12-07T10:00:00+05:30: connection refused (put))"), "{}", c.reason);
        l.seal_errors = 0;
        l.store_error = None;
        l.retention_compliant = false;
        l.retention_days = 30;
        assert_eq!(logs_card(&l).level, Level::Red);

        assert_eq!(
            subscribers_card(&SubscriberFacts {
                total: 4,
                incomplete: 1,
                error: None
            })
            .level,
            Level::Amber
        );
        assert_eq!(
            subscribers_card(&SubscriberFacts {
                total: 4,
                incomplete: 0,
                error: None
            })
            .level,
            Level::Green
        );
    }

    #[test]
    fn an_overdue_order_is_red_and_links_to_the_worst() {
        let o = |r: &str, left_ns: i64| OpenOrder {
            reference: r.into(),
            state: "approved".into(),
            left_ns,
        };
        let open = [
            o("A/1", 3 * H),
            o("CERT-In/2026/9", -2 * H),
            o("B/2", -H / 3),
        ];
        let c = orders_card(Ok(&open));
        assert_eq!(c.level, Level::Red);
        assert!(
            c.reason
                .contains("2 order(s) past the due time and not delivered; CERT-In/2026/9 (approved) is overdue by 2 h 0 min"),
            "{}",
            c.reason
        );
        assert_eq!(c.href, "/console/orders/show?reference=CERT-In%2F2026%2F9");
    }

    #[test]
    fn an_open_order_is_amber_with_the_soonest_due_and_none_is_green() {
        let open = [
            OpenOrder {
                reference: "late".into(),
                state: "received".into(),
                left_ns: 30 * H,
            },
            OpenOrder {
                reference: "soon".into(),
                state: "exported".into(),
                left_ns: H + H / 4,
            },
        ];
        let c = orders_card(Ok(&open));
        assert_eq!(c.level, Level::Amber);
        assert!(
            c.reason
                .contains("2 order(s) open; soon (exported) is due in 1 h 15 min"),
            "{}",
            c.reason
        );
        let g = orders_card(Ok(&[]));
        assert_eq!(g.level, Level::Green);
        assert_eq!(g.href, "/console/orders");
        assert!(g
            .reason
            .contains("every order has been delivered or closed"));
        let r = orders_card(Err("disk I/O error"));
        assert_eq!(r.level, Level::Red);
        assert!(r.reason.contains("disk I/O error"));
    }

    #[test]
    fn alerts_card_is_red_while_an_alert_fires_unacknowledged() {
        assert_eq!(alerts_card(Ok(&[])).level, Level::Green);
        let a = |acked| FiringAlert {
            key: "source_silent/web1".into(),
            summary: "The source web1 has sent no line.".into(),
            acked,
        };
        let c = alerts_card(Ok(&[a(false), a(true)]));
        assert_eq!(c.level, Level::Red);
        assert!(
            c.reason.contains("2 alert(s) firing (1 not acknowledged)"),
            "{}",
            c.reason
        );
        assert_eq!(alerts_card(Ok(&[a(true)])).level, Level::Amber);
        assert_eq!(alerts_card(Err("locked")).level, Level::Amber);
    }

    #[test]
    fn cards_say_the_level_in_words_too() {
        let h = cards(&[poc_card(&PocFacts::default())]).into_string();
        assert!(h.contains(r#"class="card red""#));
        assert!(h.contains("not met"));
        assert!(h.contains(r#"href="/console/settings#poc""#));
    }
}
