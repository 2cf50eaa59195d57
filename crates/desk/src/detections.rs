//! What the rules detected, kept with the incidents they open or add to.
//!
//! The detector (`serve`) reads the vault in sequence order and hands each
//! batch's detections here with the sequence number it goes on from;
//! [`Desk::record_detections`] writes them, opens or adds to incidents,
//! stages the ledger records and moves the progress, all in one
//! transaction. A batch not past the stored progress is a repeat (a
//! restart between the commit and the detector learning of it) and
//! changes nothing: no detection is lost or recorded twice.

use crate::clock::Reminder;
use crate::model::{ExcerptLine, Fields, Incident};
use crate::store::{check_kinds, insert_event, insert_incident};
use crate::{Desk, DeskError};
use pramaan_core::time::rfc3339_utc;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

/// Who the desk's records name for what the detector did.
pub const ACTOR: &str = "pramaan:detect";

/// One detection of a batch, as the detector found it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The rule's `id`, else its file name: what ties detections together.
    pub rule_key: String,
    pub rule_title: String,
    pub level: String,
    /// The rule's description, for the incident.
    pub description: String,
    /// The Annexure I kind; `None` (or `record_only`): recorded, no incident.
    pub kind: Option<String>,
    pub record_only: bool,
    /// An aggregation's group (`src_ip=203.0.113.7`); empty otherwise.
    pub group: String,
    /// Every matched sequence number, as inclusive runs, ascending.
    pub runs: Vec<(u64, u64)>,
    pub matches: u64,
    pub first_received_ns: i64,
    pub last_received_ns: i64,
    /// The first matched lines (as search hits, JSON), for the excerpt.
    pub lines: Vec<ExcerptLine>,
}

/// A batch: its detections and where the detector goes on from.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The first sequence number not yet read (the last read + 1).
    pub next_seq: u64,
    /// The receipt of the latest line read (0: none yet).
    pub received_ns: i64,
    pub found: Vec<Found>,
}

/// How detections join incidents.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A detection adds to the open incident of its rule whose last
    /// detection is at most this long before its first line.
    pub window_ns: i64,
    /// Matched lines attached to one incident at most (the first ones).
    pub excerpt_max: usize,
}

/// A stored detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    pub id: i64,
    pub rule_key: String,
    pub rule_title: String,
    pub level: String,
    pub group: String,
    pub matches: u64,
    pub seq_min: u64,
    pub seq_max: u64,
    pub first_received_ns: i64,
    pub last_received_ns: i64,
    pub detected_at_ns: i64,
    pub incident_id: Option<i64>,
}

/// What recording a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Detections written (0 for a repeated batch).
    pub detections: usize,
    pub opened: Vec<i64>,
    pub added_to: Vec<i64>,
}

fn row_detection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Detection> {
    Ok(Detection {
        id: r.get("id")?,
        rule_key: r.get("rule_key")?,
        rule_title: r.get("rule_title")?,
        level: r.get("level")?,
        group: r.get("grp")?,
        matches: r.get::<_, i64>("matches")? as u64,
        seq_min: r.get::<_, i64>("seq_min")? as u64,
        seq_max: r.get::<_, i64>("seq_max")? as u64,
        first_received_ns: r.get("first_received_ns")?,
        last_received_ns: r.get("last_received_ns")?,
        detected_at_ns: r.get("detected_at_ns")?,
        incident_id: r.get("incident_id")?,
    })
}

impl Desk {
    /// The first sequence number the detector has not read, and the
    /// receipt of the latest line it read; `None` before it first ran.
    pub fn detect_progress(&self) -> Result<Option<(u64, i64)>, DeskError> {
        Ok(self
            .db()
            .query_row(
                "SELECT next_seq, received_ns FROM detect_progress WHERE id = 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()?)
    }

    /// The latest detections, newest first (`limit` at most).
    pub fn detections(&self, limit: usize) -> Result<Vec<Detection>, DeskError> {
        let db = self.db();
        let mut st = db.prepare("SELECT * FROM detections ORDER BY id DESC LIMIT ?1")?;
        let rows = st
            .query_map([limit as i64], row_detection)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Detections whose last line arrived after `since_ns` (an aggregation
    /// rule's firings, which silence their group for a timeframe).
    pub fn detections_since(&self, since_ns: i64) -> Result<Vec<Detection>, DeskError> {
        let db = self.db();
        let mut st =
            db.prepare("SELECT * FROM detections WHERE last_received_ns > ?1 ORDER BY id")?;
        let rows = st
            .query_map([since_ns], row_detection)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The runs of sequence numbers a detection matched.
    pub fn detection_runs(&self, id: i64) -> Result<Vec<(u64, u64)>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT seq_from, seq_to FROM detection_runs WHERE detection_id = ?1 ORDER BY seq_from",
        )?;
        let rows = st
            .query_map([id], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records a batch: each detection, the incident it opens or adds to
    /// (an open incident of the same rule whose last detection is at most
    /// `limits.window_ns` before this one's first line), the excerpt (up to
    /// `limits.excerpt_max` lines an incident), the ledger records and the
    /// progress, in one transaction.
    pub async fn record_detections(
        &self,
        batch: Batch,
        limits: Limits,
        now_ns: i64,
    ) -> Result<Recorded, DeskError> {
        for f in &batch.found {
            if let Some(k) = &f.kind {
                check_kinds(std::slice::from_ref(k))?;
            }
        }
        let mut out = Recorded::default();
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let done: Option<i64> = tx
                .query_row(
                    "SELECT next_seq FROM detect_progress WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if done.is_some_and(|d| d as u64 >= batch.next_seq) {
                return Ok(out);
            }
            let watermark = self.sink.committed();
            for f in &batch.found {
                self.record_one(&tx, watermark, f, limits, now_ns, &mut out)?;
            }
            tx.execute(
                "INSERT INTO detect_progress (id, next_seq, received_ns) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET next_seq = ?1, received_ns = ?2",
                params![batch.next_seq as i64, batch.received_ns],
            )?;
            tx.commit()?;
        }
        if out.detections > 0 {
            self.flush().await;
        }
        Ok(out)
    }

    fn record_one(
        &self,
        tx: &Transaction<'_>,
        watermark: u64,
        f: &Found,
        limits: Limits,
        now_ns: i64,
        out: &mut Recorded,
    ) -> Result<(), DeskError> {
        let Limits {
            window_ns,
            excerpt_max,
        } = limits;
        let (Some(&(seq_min, _)), Some(&(_, seq_max))) = (f.runs.first(), f.runs.last()) else {
            return Ok(());
        };
        let incident = match (&f.kind, f.record_only) {
            (Some(kind), false) => {
                Some(self.incident_for(tx, watermark, f, kind, window_ns, now_ns, out)?)
            }
            _ => None,
        };
        tx.execute(
            "INSERT INTO detections (rule_key, rule_title, level, grp, matches, seq_min, seq_max,
                first_received_ns, last_received_ns, detected_at_ns, incident_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                f.rule_key,
                f.rule_title,
                f.level,
                f.group,
                f.matches as i64,
                seq_min as i64,
                seq_max as i64,
                f.first_received_ns,
                f.last_received_ns,
                now_ns,
                incident
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx.prepare(
                "INSERT INTO detection_runs (detection_id, seq_from, seq_to) VALUES (?1, ?2, ?3)",
            )?;
            for (a, b) in &f.runs {
                st.execute(params![id, *a as i64, *b as i64])?;
            }
        }
        let mut details = serde_json::json!({
            "detection": id,
            "rule": f.rule_key,
            "title": f.rule_title,
            "level": f.level,
            "matches": f.matches,
            "seq_min": seq_min,
            "seq_max": seq_max,
            "first_received": rfc3339_utc(f.first_received_ns),
            "last_received": rfc3339_utc(f.last_received_ns),
        });
        if !f.group.is_empty() {
            details["group"] = f.group.clone().into();
        }
        // At most `excerpt_max` lines a detection incident (the first ones):
        // a rule matching millions of lines keeps one bounded excerpt.
        let room = match incident {
            Some(inc) => {
                let held: i64 = tx.query_row(
                    "SELECT count(*) FROM excerpt_lines l JOIN excerpts e ON e.id = l.excerpt_id
                     WHERE e.incident_id = ?1 AND e.added_by = ?2",
                    params![inc, ACTOR],
                    |r| r.get(0),
                )?;
                excerpt_max.saturating_sub(held.max(0) as usize)
            }
            None => 0,
        };
        let lines = &f.lines[..f.lines.len().min(room)];
        if let (Some(inc), false) = (incident, lines.is_empty()) {
            tx.execute(
                "INSERT INTO excerpts (incident_id, name, query, added_at_ns, added_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![inc, format!("detection {id}"), format!("rule {} ({})", f.rule_key, f.rule_title), now_ns, ACTOR],
            )?;
            let ex = tx.last_insert_rowid();
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO excerpt_lines (excerpt_id, seq, line) VALUES (?1, ?2, ?3)",
            )?;
            for l in lines {
                st.execute(params![ex, l.seq as i64, l.json])?;
            }
            details["excerpt"] = ex.into();
            details["excerpt_lines"] = lines.len().into();
        }
        let action = if incident.is_some() {
            "incident.detected"
        } else {
            "detection.recorded"
        };
        insert_event(tx, watermark, incident, now_ns, ACTOR, action, &details)?;
        out.detections += 1;
        Ok(())
    }

    /// The open incident of this rule that the detection adds to, or a new one.
    #[allow(clippy::too_many_arguments)]
    fn incident_for(
        &self,
        tx: &Transaction<'_>,
        watermark: u64,
        f: &Found,
        kind: &str,
        window_ns: i64,
        now_ns: i64,
        out: &mut Recorded,
    ) -> Result<i64, DeskError> {
        let open: Option<i64> = tx
            .query_row(
                "SELECT d.incident_id FROM detections d JOIN incidents i ON i.id = d.incident_id
                 WHERE d.rule_key = ?1 AND i.state != 'closed' AND d.last_received_ns >= ?2
                 ORDER BY d.id DESC LIMIT 1",
                params![f.rule_key, f.first_received_ns.saturating_sub(window_ns)],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = open {
            if !out.added_to.contains(&id) && !out.opened.contains(&id) {
                out.added_to.push(id);
            }
            return Ok(id);
        }
        let kinds = check_kinds(&[kind.to_owned()])?;
        let title = if f.group.is_empty() {
            format!("Detected: {}", f.rule_title)
        } else {
            format!("Detected: {} ({})", f.rule_title, f.group)
        };
        let fields = Fields {
            title,
            kinds,
            occurred_at_ns: Some(f.first_received_ns),
            symptoms: format!(
                "{} log line(s) matched the Sigma rule \"{}\" (level {}), the first received at {}.",
                f.matches,
                f.rule_title,
                f.level,
                rfc3339_utc(f.first_received_ns)
            ),
            description: f.description.trim().to_owned(),
            iocs: f.group.clone(),
            ..Fields::default()
        };
        // The clock starts when pramaan noticed: the first matching line's receipt.
        let inc = Incident::new_open(fields, f.first_received_ns.min(now_ns), None, ACTOR, now_ns);
        let id = insert_incident(
            tx,
            watermark,
            &inc,
            serde_json::json!({ "rule": f.rule_key }),
        )?;
        // The point of contact is told at once (the next reminder tick sends it).
        tx.execute(
            "INSERT OR IGNORE INTO reminders (incident_id, name, decided_at_ns) VALUES (?1, ?2, ?3)",
            params![id, Reminder::Opened.name(), now_ns],
        )?;
        out.opened.push(id);
        Ok(id)
    }
}

/// Sequence numbers (ascending) as inclusive runs.
pub fn runs(seqs: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in seqs {
        match out.last_mut() {
            Some((_, b)) if s == *b + 1 => *b = s,
            Some((_, b)) if s <= *b => {}
            _ => out.push((s, s)),
        }
    }
    out
}
