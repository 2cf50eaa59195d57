//! Detections recorded with the incidents they open: one transaction with
//! the detector's progress, repeats ignored, incidents added to within
//! their window, the point of contact told once, every step in the ledger.

use pramaan_core::MemorySink;
use pramaan_desk::detections::{runs, Batch, Found, Limits};
use pramaan_desk::*;
use std::sync::Arc;

const M: i64 = 60 * 1_000_000_000;
const H: i64 = 60 * M;
/// 2026-03-03T08:32:11Z
const T0: i64 = 1_772_526_731_000_000_000;

const LIMITS: Limits = Limits {
    window_ns: 24 * H,
    excerpt_max: 4,
};

fn found(rule: &str, kind: Option<&str>, seqs: &[u64], at: i64) -> Found {
    Found {
        rule_key: rule.into(),
        rule_title: format!("Rule {rule}"),
        level: "high".into(),
        description: "What the rule looks for.".into(),
        kind: kind.map(str::to_owned),
        record_only: false,
        group: String::new(),
        runs: runs(seqs.iter().copied()),
        matches: seqs.len() as u64,
        first_received_ns: at,
        last_received_ns: at + M,
        lines: seqs
            .iter()
            .take(3)
            .map(|s| ExcerptLine {
                seq: *s,
                json: format!("{{\"seq\":{s}}}").into_bytes(),
            })
            .collect(),
    }
}

fn batch(through: u64, found: Vec<Found>) -> Batch {
    Batch {
        next_seq: through + 1,
        received_ns: T0,
        found,
    }
}

fn incident_records(sink: &MemorySink) -> Vec<serde_json::Value> {
    sink.records()
        .into_iter()
        .filter(|(s, _)| s == LEDGER_SOURCE)
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect()
}

#[test]
fn runs_compress_sequence_numbers() {
    assert_eq!(runs([1, 2, 3, 7, 9, 10]), [(1, 3), (7, 7), (9, 10)]);
    assert_eq!(runs([]), []);
    assert_eq!(runs([5, 5, 6]), [(5, 6)]);
}

#[tokio::test]
async fn a_detection_opens_an_incident_and_later_ones_add_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(MemorySink::new());
    let desk = Desk::open(&dir.path().join("desk.db"), sink.clone()).unwrap();
    assert_eq!(desk.detect_progress().unwrap(), None);

    let r = desk
        .record_detections(
            batch(
                100,
                vec![found(
                    "ssh",
                    Some("unauthorised-access"),
                    &[10, 11, 12, 40],
                    T0,
                )],
            ),
            LIMITS,
            T0 + 2 * M,
        )
        .await
        .unwrap();
    assert_eq!(r.detections, 1);
    assert_eq!(r.opened.len(), 1);
    let id = r.opened[0];
    let inc = desk.get(id).unwrap();
    // The clock starts at the first matching line's receipt, not at the detector's pass.
    assert_eq!(inc.detected_at_ns, T0);
    assert_eq!(inc.deadline_ns, T0 + 6 * H);
    assert_eq!(inc.fields.kinds, ["unauthorised-access"]);
    assert_eq!(inc.created_by, "pramaan:detect");
    assert!(inc.fields.title.contains("Rule ssh"));
    assert_eq!(desk.detect_progress().unwrap(), Some((101, T0)));
    // the point of contact is told once: the "opened" reminder is decided
    let rem = desk.reminders(id).unwrap();
    assert_eq!(rem.len(), 1);
    assert_eq!(rem[0].name, "opened");
    // the excerpt holds the first lines; the runs hold every match
    let ex = desk.excerpts(id).unwrap();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].records, 3);
    let d = desk.detections(10).unwrap();
    assert_eq!(d[0].matches, 4);
    assert_eq!(desk.detection_runs(d[0].id).unwrap(), [(10, 12), (40, 40)]);

    // The same batch again (a restart before the detector learnt of the
    // commit): nothing twice.
    let again = desk
        .record_detections(
            batch(
                100,
                vec![found("ssh", Some("unauthorised-access"), &[10], T0)],
            ),
            LIMITS,
            T0 + 3 * M,
        )
        .await
        .unwrap();
    assert_eq!(again.detections, 0);
    assert_eq!(desk.detections(10).unwrap().len(), 1);

    // Later matches of the same rule within the window add to the incident;
    // another rule, with no kind, only records.
    let r = desk
        .record_detections(
            batch(
                200,
                vec![
                    found("ssh", Some("unauthorised-access"), &[150, 160, 170], T0 + H),
                    found("info", None, &[151], T0 + H),
                ],
            ),
            LIMITS,
            T0 + H + M,
        )
        .await
        .unwrap();
    assert_eq!(r.detections, 2);
    assert!(r.opened.is_empty());
    assert_eq!(r.added_to, [id]);
    assert_eq!(desk.list().unwrap().len(), 1);
    // The incident's excerpt stops at LIMITS.excerpt_max lines (3 + 1).
    let ex = desk.excerpts(id).unwrap();
    assert_eq!(ex.iter().map(|e| e.records).collect::<Vec<_>>(), [3, 1]);
    let d = desk.detections(10).unwrap();
    assert_eq!(d[0].incident_id, None, "no kind: recorded only");
    assert_eq!(d[1].incident_id, Some(id));

    // Past the window, or once the incident is closed: a new incident.
    desk.close(id, "resolved", "op", T0 + 2 * H).await.unwrap();
    let r = desk
        .record_detections(
            batch(
                300,
                vec![found(
                    "ssh",
                    Some("unauthorised-access"),
                    &[250],
                    T0 + 3 * H,
                )],
            ),
            LIMITS,
            T0 + 3 * H,
        )
        .await
        .unwrap();
    assert_eq!(r.opened.len(), 1);
    assert_ne!(r.opened[0], id);

    // Every step is a ledger record, naming the rule.
    let recs = incident_records(&sink);
    let actions: Vec<&str> = recs.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "incident.created",
            "incident.detected",
            "incident.detected",
            "detection.recorded",
            "incident.closed",
            "incident.created",
            "incident.detected"
        ]
    );
    assert_eq!(recs[1]["details"]["rule"], "ssh");
    assert_eq!(recs[1]["details"]["matches"], 4);
    assert_eq!(recs[1]["actor"], "pramaan:detect");
}

#[tokio::test]
async fn an_unknown_kind_is_refused_and_nothing_moves() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(&dir.path().join("desk.db"), Arc::new(MemorySink::new())).unwrap();
    let e = desk
        .record_detections(
            batch(5, vec![found("x", Some("no-such-kind"), &[1], T0)]),
            LIMITS,
            T0,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no-such-kind"), "{e}");
    assert_eq!(desk.detect_progress().unwrap(), None);
    assert!(desk.detections(10).unwrap().is_empty());
}
