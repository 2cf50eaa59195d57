//! An order's life and who may move it: pure functions, no I/O.
//!
//! `received → approved → exported → delivered → closed`. Exporting again
//! from `exported` is allowed (a lost bundle is re-made byte for byte), and
//! an order may be closed from any state (withdrawn by the authority, say).
//!
//! Four eyes: an export that carries subscriber personal data needs the
//! approval of a second user, and nobody approves an order they registered.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Received,
    Approved,
    Exported,
    Delivered,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Approved => "approved",
            State::Exported => "exported",
            State::Delivered => "delivered",
            State::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::Received,
            State::Approved,
            State::Exported,
            State::Delivered,
            State::Closed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// What someone asks to do to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Approve,
    Export,
    Deliver,
    Close,
}

impl Action {
    /// "approved", "exported", ... (for messages).
    pub fn past(self) -> &'static str {
        match self {
            Action::Approve => "approved",
            Action::Export => "exported",
            Action::Deliver => "delivered",
            Action::Close => "closed",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Export => "export",
            Action::Deliver => "deliver",
            Action::Close => "close",
        }
    }
}

/// Why an action is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("order {reference} is {state}: it cannot be {action} (allowed: {allowed})")]
    WrongState {
        reference: String,
        state: &'static str,
        action: &'static str,
        allowed: &'static str,
    },
    #[error("{actor} registered order {reference} and cannot approve it: a second user must")]
    OwnApproval { reference: String, actor: String },
    #[error("order {reference} names subscribers: its export needs a second user's approval first (pramaan order approve {reference})")]
    NeedsApproval { reference: String },
}

/// Longest order reference accepted, in characters.
pub const MAX_REFERENCE_CHARS: usize = 200;

/// Characters that change how text shows without showing themselves: Unicode
/// format characters (zero-width spaces and joiners, bidirectional overrides,
/// the BOM) and the line and paragraph separators.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}')
}

/// Checks an order reference before it is registered: it names the order in
/// file names, HTTP headers, bundles and the ledger, so it is one line of at
/// most [`MAX_REFERENCE_CHARS`] characters, without control or invisible
/// format characters, with something visible in it and no blanks around it.
/// The message names the field and what is wrong.
pub fn check_reference(r: &str) -> Result<(), String> {
    if r.trim().is_empty() {
        return Err("reference: the order's reference is empty".into());
    }
    if let Some(c) = r.chars().find(|&c| c.is_control() || invisible(c)) {
        return Err(format!(
            "reference: must be one line of visible characters; it holds U+{:04X}",
            c as u32
        ));
    }
    if r.trim() != r {
        return Err("reference: must not begin or end with blanks".into());
    }
    let n = r.chars().count();
    if n > MAX_REFERENCE_CHARS {
        return Err(format!(
            "reference: {n} characters is longer than {MAX_REFERENCE_CHARS}"
        ));
    }
    if !r.chars().any(|c| !c.is_whitespace()) {
        return Err("reference: must hold a visible character".into());
    }
    Ok(())
}

/// The facts about an order that the rules look at.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub reference: &'a str,
    pub state: State,
    pub registered_by: &'a str,
    /// The export would carry subscriber personal data.
    pub personal_data: bool,
}

/// The state after `action` by `actor`, or why not.
pub fn next(f: &Facts<'_>, action: Action, actor: &str) -> Result<State, Refusal> {
    let wrong = |allowed: &'static str| Refusal::WrongState {
        reference: f.reference.to_owned(),
        state: f.state.as_str(),
        action: action.past(),
        allowed,
    };
    match action {
        Action::Approve => {
            if f.state != State::Received {
                return Err(wrong("received"));
            }
            if actor == f.registered_by {
                return Err(Refusal::OwnApproval {
                    reference: f.reference.to_owned(),
                    actor: actor.to_owned(),
                });
            }
            Ok(State::Approved)
        }
        Action::Export => match f.state {
            State::Received if f.personal_data => Err(Refusal::NeedsApproval {
                reference: f.reference.to_owned(),
            }),
            State::Received | State::Approved | State::Exported => Ok(State::Exported),
            _ => Err(wrong(
                "received (without personal data), approved, exported",
            )),
        },
        Action::Deliver => match f.state {
            State::Exported => Ok(State::Delivered),
            _ => Err(wrong("exported")),
        },
        Action::Close => match f.state {
            State::Closed => Err(wrong("anything but closed")),
            _ => Ok(State::Closed),
        },
    }
}

/// Where an order stands against its deadline, for people:
/// "2 d 3 h 00 min left", "OVERDUE by 20 min: not delivered", "delivered in
/// time (...)". The arithmetic is the incident desk's.
#[cfg(feature = "register")]
pub fn deadline_text(due_ns: i64, delivered_ns: Option<i64>, now_ns: i64) -> String {
    use pramaan_desk::clock::{span_text, ClockStatus};
    match ClockStatus::of(due_ns, delivered_ns, now_ns) {
        ClockStatus::Running { left_ns } => format!("{} left", span_text(left_ns)),
        ClockStatus::Overdue { late_ns } => {
            format!("OVERDUE by {}: not delivered", span_text(late_ns))
        }
        ClockStatus::Met { margin_ns } => format!(
            "delivered in time ({} before the deadline)",
            span_text(margin_ns)
        ),
        ClockStatus::MissedReported { late_ns } => {
            format!("delivered LATE ({} after the deadline)", span_text(late_ns))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_one_visible_line() {
        for ok in [
            "CERT-In/2026/17",
            "W.P. (C) 123/2026",
            "आदेश/२०२६/७",
            &"x".repeat(200),
        ] {
            assert_eq!(check_reference(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("A\r\nB", "U+000D"),
            ("A\nB", "U+000A"),
            ("A\u{0}B", "U+0000"),
            ("\u{200B}", "U+200B"),
            ("order\u{202E}71/6202", "U+202E"),
            ("A\u{2028}B", "U+2028"),
            (" A", "blanks"),
            ("A\t", "U+0009"),
            (&"x".repeat(201), "201 characters"),
        ] {
            let e = check_reference(bad).unwrap_err();
            assert!(
                e.starts_with("reference: ") && e.contains(why),
                "{bad:?}: {e}"
            );
        }
    }

    fn facts(state: State, personal_data: bool) -> Facts<'static> {
        Facts {
            reference: "CERT-In/2026/17",
            state,
            registered_by: "asha",
            personal_data,
        }
    }

    #[test]
    fn nobody_approves_their_own_order() {
        let e = next(&facts(State::Received, true), Action::Approve, "asha").unwrap_err();
        assert_eq!(
            e.to_string(),
            "asha registered order CERT-In/2026/17 and cannot approve it: a second user must"
        );
        assert_eq!(
            next(&facts(State::Received, true), Action::Approve, "ravi"),
            Ok(State::Approved)
        );
    }

    #[test]
    fn personal_data_needs_approval_before_export() {
        let e = next(&facts(State::Received, true), Action::Export, "asha").unwrap_err();
        assert!(matches!(e, Refusal::NeedsApproval { .. }), "{e}");
        assert_eq!(
            next(&facts(State::Received, false), Action::Export, "asha"),
            Ok(State::Exported)
        );
        assert_eq!(
            next(&facts(State::Approved, true), Action::Export, "asha"),
            Ok(State::Exported)
        );
        // Re-export of a lost bundle.
        assert_eq!(
            next(&facts(State::Exported, true), Action::Export, "asha"),
            Ok(State::Exported)
        );
    }

    #[test]
    fn the_states_follow_in_order() {
        let e = next(&facts(State::Approved, false), Action::Deliver, "asha").unwrap_err();
        assert_eq!(
            e.to_string(),
            "order CERT-In/2026/17 is approved: it cannot be delivered (allowed: exported)"
        );
        assert!(next(&facts(State::Approved, false), Action::Approve, "ravi").is_err());
        assert!(next(&facts(State::Delivered, false), Action::Export, "ravi").is_err());
        assert_eq!(
            next(&facts(State::Delivered, false), Action::Close, "ravi"),
            Ok(State::Closed)
        );
        assert!(next(&facts(State::Closed, false), Action::Close, "ravi").is_err());
    }

    #[cfg(feature = "register")]
    #[test]
    fn deadline_text_counts_to_the_due_instant() {
        let h = 3_600_000_000_000i64;
        assert_eq!(deadline_text(50 * h, None, 0), "2 d 2 h 00 min left");
        assert_eq!(
            deadline_text(0, None, h / 3),
            "OVERDUE by 20 min 00 s: not delivered"
        );
        assert_eq!(
            deadline_text(2 * h, Some(h), 5 * h),
            "delivered in time (1 h 00 min before the deadline)"
        );
    }
}
