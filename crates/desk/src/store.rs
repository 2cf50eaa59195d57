//! The desk's own SQLite database (`<data_dir>/desk.db`) and every change to
//! it. Each change is one transaction that also writes an `events` row and
//! stages its `pramaan:incident` record in the outbox (`pramaan_db::outbox`);
//! the flusher then appends the records in order and marks each event with
//! its sequence number (`events.ledger_seq`). A record whose append failed
//! (the vault was closed, say) stays pending and is appended by the next
//! change or [`Desk::flush`]; one appended just before a crash is found in
//! the ledger, not appended again: nothing is recorded twice or lost.

use crate::clock::{self, Reminder};
use crate::kinds;
use crate::model::*;
use crate::record::ledger_body;
pub use crate::record::LEDGER_SOURCE;
use crate::DeskError;
use pramaan_core::time::{human, rfc3339_utc};
use pramaan_core::LedgerSink;
use pramaan_db::outbox;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// How far in the future a detection or notification time may be (clock skew
/// between the person's machine and the server).
const FUTURE_SLACK_NS: i64 = 60 * 1_000_000_000;

/// The incident desk's store.
pub struct Desk {
    path: PathBuf,
    db: Mutex<Connection>,
    pub(crate) sink: Arc<dyn LedgerSink>,
    /// One flush at a time, so events reach the ledger in order.
    flusher: outbox::Flusher,
}

/// How the flusher marks an event with its record's sequence number.
const MARK_BACK: &str = "UPDATE events SET ledger_seq = ?1 WHERE id = ?2";

/// A reminder's progress, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReminderRow {
    pub incident_id: i64,
    pub name: String,
    pub decided_at_ns: i64,
    pub skipped: bool,
    pub email_done_at_ns: Option<i64>,
    pub email_error: Option<String>,
    pub webhook_done_at_ns: Option<i64>,
    pub webhook_error: Option<String>,
    pub attempts: u32,
}

fn check_time(field: &'static str, ns: i64, now_ns: i64) -> Result<(), DeskError> {
    if ns > now_ns + FUTURE_SLACK_NS {
        return Err(DeskError::FutureTime {
            field,
            value: human(ns),
            now: human(now_ns),
        });
    }
    Ok(())
}

/// Checks kind codes and returns them in canonical form, in Annexure order.
pub fn check_kinds(codes: &[String]) -> Result<Vec<String>, DeskError> {
    if codes.is_empty() {
        return Err(DeskError::NoKind {
            valid: kinds::valid_codes(),
        });
    }
    let mut out: Vec<&kinds::Kind> = Vec::new();
    for c in codes {
        let k = kinds::find(c).ok_or_else(|| DeskError::UnknownKind {
            code: c.clone(),
            valid: kinds::valid_codes(),
        })?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out.sort_by_key(|k| k.number);
    Ok(out.iter().map(|k| k.code.to_owned()).collect())
}

pub(crate) fn row_incident(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Incident, String)> {
    let fields: String = r.get("fields")?;
    let state: String = r.get("state")?;
    Ok((
        Incident {
            id: r.get("id")?,
            fields: Fields::default(),
            detected_at_ns: r.get("detected_at_ns")?,
            notified_at_ns: r.get("notified_at_ns")?,
            clock_start_ns: r.get("clock_start_ns")?,
            deadline_ns: r.get("deadline_ns")?,
            state: State::parse(&state).unwrap_or(State::Open),
            created_at_ns: r.get("created_at_ns")?,
            created_by: r.get("created_by")?,
            first_reported_at_ns: r.get("first_reported_at_ns")?,
            reports_sent: r.get("reports_sent")?,
            closed_at_ns: r.get("closed_at_ns")?,
            closed_by: r.get("closed_by")?,
            close_reason: r.get("close_reason")?,
        },
        fields,
    ))
}

pub(crate) fn finish_incident((mut i, fields): (Incident, String)) -> Result<Incident, DeskError> {
    i.fields = serde_json::from_str(&fields).map_err(|e| DeskError::Corrupt {
        what: format!("incident {} fields", i.id),
        why: e.to_string(),
    })?;
    Ok(i)
}

/// Writes the `events` row of a change and stages its ledger record, in the
/// change's transaction; `watermark` is the ledger's committed count now.
pub(crate) fn insert_event(
    tx: &Transaction<'_>,
    watermark: u64,
    incident: Option<i64>,
    at_ns: i64,
    actor: &str,
    action: &str,
    details: &serde_json::Value,
) -> Result<(), DeskError> {
    let text = details.to_string();
    tx.execute(
        "INSERT INTO events (incident_id, at_ns, actor, action, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![incident, at_ns, actor, action, text],
    )?;
    let ev = Event {
        id: tx.last_insert_rowid(),
        incident_id: incident,
        at_ns,
        actor: actor.to_owned(),
        action: action.to_owned(),
        // As read back from the row, so the body is the one an older
        // binary built from it (see `move_pending_events`).
        details: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        ledger_seq: None,
    };
    outbox::stage_for(tx, LEDGER_SOURCE, &ledger_body(&ev), watermark, ev.id)?;
    Ok(())
}

impl Incident {
    /// A new open incident recorded by `actor` at `now_ns`: its clock
    /// starts at the earlier of detection and notification.
    pub(crate) fn new_open(
        fields: Fields,
        detected_at_ns: i64,
        notified_at_ns: Option<i64>,
        actor: &str,
        now_ns: i64,
    ) -> Incident {
        let start = clock::clock_start(detected_at_ns, notified_at_ns);
        Incident {
            id: 0,
            fields,
            detected_at_ns,
            notified_at_ns,
            clock_start_ns: start,
            deadline_ns: clock::deadline(start),
            state: State::Open,
            created_at_ns: now_ns,
            created_by: actor.to_owned(),
            first_reported_at_ns: None,
            reports_sent: 0,
            closed_at_ns: None,
            closed_by: None,
            close_reason: None,
        }
    }
}

/// Inserts a new open incident and its `incident.created` event (with
/// `extra` in its details) in `tx`; returns its id.
pub(crate) fn insert_incident(
    tx: &Transaction<'_>,
    watermark: u64,
    inc: &Incident,
    extra: serde_json::Value,
) -> Result<i64, DeskError> {
    tx.execute(
        "INSERT INTO incidents (fields, detected_at_ns, notified_at_ns, clock_start_ns, deadline_ns, state, created_at_ns, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7)",
        params![
            serde_json::to_string(&inc.fields).map_err(DeskError::json)?,
            inc.detected_at_ns,
            inc.notified_at_ns,
            inc.clock_start_ns,
            inc.deadline_ns,
            inc.created_at_ns,
            inc.created_by
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut details = serde_json::json!({
        "state": "open",
        "title": inc.fields.title,
        "kinds": inc.fields.kinds,
        "detected_at": rfc3339_utc(inc.detected_at_ns),
        "notified_at": inc.notified_at_ns.map(rfc3339_utc),
        "clock_start": rfc3339_utc(inc.clock_start_ns),
        "deadline": rfc3339_utc(inc.deadline_ns),
    });
    if let (Some(d), serde_json::Value::Object(x)) = (details.as_object_mut(), extra) {
        d.extend(x);
    }
    insert_event(
        tx,
        watermark,
        Some(id),
        inc.created_at_ns,
        &inc.created_by,
        "incident.created",
        &details,
    )?;
    Ok(id)
}

impl Desk {
    /// Opens (creating) the database at `path`. `sink` takes the ledger records.
    pub fn open(path: &Path, sink: Arc<dyn LedgerSink>) -> Result<Desk, DeskError> {
        let conn = pramaan_db::open(path, &crate::schema::SCHEMA, pramaan_db::Mode::Write)?;
        Ok(Desk {
            path: path.to_path_buf(),
            db: Mutex::new(conn),
            sink,
            flusher: outbox::Flusher::new("desk"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends every pending event to the ledger, in order, exactly once.
    /// Returns how many are still pending (0 unless the ledger refused one;
    /// the flusher logs that once).
    pub async fn flush(&self) -> usize {
        let _ = self
            .flusher
            .flush_sqlite(&self.db, Some(MARK_BACK), &*self.sink)
            .await;
        self.pending()
    }

    /// Events whose record is not yet in the ledger.
    pub fn pending(&self) -> usize {
        outbox::pending(&self.db())
            .map(|n| n as usize)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "counting the desk's pending ledger records");
                0
            })
    }

    /// Records a new incident; the clock starts at the earlier of detection and notification.
    pub async fn create(
        &self,
        new: NewIncident,
        actor: &str,
        now_ns: i64,
    ) -> Result<Incident, DeskError> {
        let mut fields = new.fields;
        fields.title = fields.title.trim().to_owned();
        if fields.title.is_empty() {
            return Err(DeskError::Invalid {
                field: "title",
                why: "an incident needs a title".into(),
            });
        }
        fields.kinds = check_kinds(&fields.kinds)?;
        check_time("detected_at", new.detected_at_ns, now_ns)?;
        if let Some(n) = new.notified_at_ns {
            check_time("notified_at", n, now_ns)?;
        }
        if let Some(o) = fields.occurred_at_ns {
            check_time("occurred_at", o, now_ns)?;
        }
        let inc = Incident::new_open(
            fields,
            new.detected_at_ns,
            new.notified_at_ns,
            actor,
            now_ns,
        );
        let inc = {
            let mut db = self.db();
            let tx = db.transaction()?;
            let id = insert_incident(&tx, self.sink.committed(), &inc, serde_json::json!({}))?;
            tx.commit()?;
            Incident { id, ..inc }
        };
        self.flush().await;
        Ok(inc)
    }

    pub fn get(&self, id: i64) -> Result<Incident, DeskError> {
        let db = self.db();
        let row = db
            .query_row("SELECT * FROM incidents WHERE id = ?1", [id], row_incident)
            .optional()?
            .ok_or(DeskError::NotFound { id })?;
        finish_incident(row)
    }

    /// Every incident, newest first.
    pub fn list(&self) -> Result<Vec<Incident>, DeskError> {
        let db = self.db();
        let mut st = db.prepare("SELECT * FROM incidents ORDER BY id DESC")?;
        let rows = st
            .query_map([], row_incident)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish_incident).collect()
    }

    /// Changes the fields given; refused on a closed incident.
    pub async fn edit(
        &self,
        id: i64,
        e: Edit,
        actor: &str,
        now_ns: i64,
    ) -> Result<Incident, DeskError> {
        let mut inc = self.get(id)?;
        if inc.state == State::Closed {
            return Err(DeskError::BadState {
                id,
                state: "closed",
                action: "edit",
            });
        }
        let mut changed: Vec<&str> = Vec::new();
        let f = &mut inc.fields;
        macro_rules! set {
            ($name:ident) => {
                if let Some(v) = e.$name {
                    if f.$name != v {
                        f.$name = v;
                        changed.push(stringify!($name));
                    }
                }
            };
        }
        if let Some(t) = &e.title {
            if t.trim().is_empty() {
                return Err(DeskError::Invalid {
                    field: "title",
                    why: "the title cannot be empty".into(),
                });
            }
        }
        let kinds = e.kinds.as_deref().map(check_kinds).transpose()?;
        if let Some(o) = e.occurred_at_ns {
            check_time("occurred_at", o, now_ns)?;
        }
        if let Some(d) = e.detected_at_ns {
            check_time("detected_at", d, now_ns)?;
        }
        if let Some(n) = e.notified_at_ns {
            check_time("notified_at", n, now_ns)?;
        }
        let title = e.title.map(|t| t.trim().to_owned());
        if let Some(v) = title {
            if f.title != v {
                f.title = v;
                changed.push("title");
            }
        }
        if let Some(v) = kinds {
            if f.kinds != v {
                f.kinds = v;
                changed.push("kinds");
            }
        }
        if let Some(o) = e.occurred_at_ns {
            if f.occurred_at_ns != Some(o) {
                f.occurred_at_ns = Some(o);
                changed.push("occurred_at");
            }
        }
        set!(systems);
        if !e.add_systems.is_empty() {
            f.systems.extend(e.add_systems);
            changed.push("systems");
        }
        set!(symptoms);
        set!(description);
        set!(scope_impact);
        set!(iocs);
        set!(actions_taken);
        set!(security_systems);
        set!(other_info);
        if let Some(d) = e.detected_at_ns {
            if inc.detected_at_ns != d {
                inc.detected_at_ns = d;
                changed.push("detected_at");
            }
        }
        if let Some(n) = e.notified_at_ns {
            if inc.notified_at_ns != Some(n) {
                inc.notified_at_ns = Some(n);
                changed.push("notified_at");
            }
        }
        if changed.is_empty() {
            return Ok(inc);
        }
        changed.dedup();
        inc.recompute_clock();
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "UPDATE incidents SET fields = ?1, detected_at_ns = ?2, notified_at_ns = ?3, clock_start_ns = ?4, deadline_ns = ?5 WHERE id = ?6",
                params![
                    serde_json::to_string(&inc.fields).map_err(DeskError::json)?,
                    inc.detected_at_ns,
                    inc.notified_at_ns,
                    inc.clock_start_ns,
                    inc.deadline_ns,
                    id
                ],
            )?;
            insert_event(
                &tx,
                self.sink.committed(),
                Some(id),
                now_ns,
                actor,
                "incident.edited",
                &serde_json::json!({
                    "changed": changed,
                    "state": inc.state.as_str(),
                    "deadline": rfc3339_utc(inc.deadline_ns),
                }),
            )?;
            tx.commit()?;
        }
        self.flush().await;
        Ok(inc)
    }

    /// Closes an incident (from any state but closed).
    pub async fn close(
        &self,
        id: i64,
        reason: &str,
        actor: &str,
        now_ns: i64,
    ) -> Result<Incident, DeskError> {
        let inc = self.get(id)?;
        if inc.state == State::Closed {
            return Err(DeskError::BadState {
                id,
                state: "closed",
                action: "close",
            });
        }
        if reason.trim().is_empty() {
            return Err(DeskError::Invalid {
                field: "reason",
                why: "say why the incident is closed".into(),
            });
        }
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "UPDATE incidents SET state = 'closed', closed_at_ns = ?1, closed_by = ?2, close_reason = ?3 WHERE id = ?4",
                params![now_ns, actor, reason, id],
            )?;
            insert_event(
                &tx,
                self.sink.committed(),
                Some(id),
                now_ns,
                actor,
                "incident.closed",
                &serde_json::json!({
                    "from": inc.state.as_str(), "state": "closed", "reason": reason,
                    "reported": inc.first_reported_at_ns.is_some(),
                }),
            )?;
            tx.commit()?;
        }
        self.flush().await;
        self.get(id)
    }

    /// Attaches log lines chosen by a search. Lines already attached to the
    /// incident (same sequence number) are kept once in the export.
    pub async fn attach(
        &self,
        id: i64,
        name: &str,
        query: &str,
        lines: Vec<ExcerptLine>,
        actor: &str,
        now_ns: i64,
    ) -> Result<Excerpt, DeskError> {
        let inc = self.get(id)?;
        if inc.state == State::Closed {
            return Err(DeskError::BadState {
                id,
                state: "closed",
                action: "attach logs to",
            });
        }
        if lines.is_empty() {
            return Err(DeskError::Invalid {
                field: "excerpt",
                why: format!("the search `{query}` found no log lines; nothing attached"),
            });
        }
        let seq_min = lines.iter().map(|l| l.seq).min();
        let seq_max = lines.iter().map(|l| l.seq).max();
        let n = lines.len() as u64;
        let ex_id = {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO excerpts (incident_id, name, query, added_at_ns, added_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, name, query, now_ns, actor],
            )?;
            let ex_id = tx.last_insert_rowid();
            {
                let mut st = tx.prepare(
                    "INSERT OR IGNORE INTO excerpt_lines (excerpt_id, seq, line) VALUES (?1, ?2, ?3)",
                )?;
                for l in &lines {
                    st.execute(params![ex_id, l.seq as i64, l.json])?;
                }
            }
            insert_event(
                &tx,
                self.sink.committed(),
                Some(id),
                now_ns,
                actor,
                "incident.excerpt_added",
                &serde_json::json!({
                    "excerpt": ex_id, "name": name, "query": query, "records": n,
                    "seq_min": seq_min, "seq_max": seq_max,
                }),
            )?;
            tx.commit()?;
            ex_id
        };
        self.flush().await;
        Ok(Excerpt {
            id: ex_id,
            incident_id: id,
            name: name.to_owned(),
            query: query.to_owned(),
            records: n,
            seq_min,
            seq_max,
            added_at_ns: now_ns,
            added_by: actor.to_owned(),
        })
    }

    pub fn excerpts(&self, id: i64) -> Result<Vec<Excerpt>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT e.id, e.incident_id, e.name, e.query, e.added_at_ns, e.added_by,
                    count(l.seq), min(l.seq), max(l.seq)
             FROM excerpts e LEFT JOIN excerpt_lines l ON l.excerpt_id = e.id
             WHERE e.incident_id = ?1 GROUP BY e.id ORDER BY e.id",
        )?;
        let rows = st
            .query_map([id], |r| {
                Ok(Excerpt {
                    id: r.get(0)?,
                    incident_id: r.get(1)?,
                    name: r.get(2)?,
                    query: r.get(3)?,
                    added_at_ns: r.get(4)?,
                    added_by: r.get(5)?,
                    records: r.get::<_, i64>(6)? as u64,
                    seq_min: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                    seq_max: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every attached line of the incident, once per sequence number, in order.
    pub fn excerpt_lines(&self, id: i64) -> Result<Vec<ExcerptLine>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT l.seq, min(l.line) FROM excerpt_lines l JOIN excerpts e ON e.id = l.excerpt_id
             WHERE e.incident_id = ?1 GROUP BY l.seq ORDER BY l.seq",
        )?;
        let rows = st
            .query_map([id], |r| {
                Ok(ExcerptLine {
                    seq: r.get::<_, i64>(0)? as u64,
                    json: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every recorded change of an incident, oldest first.
    pub fn history(&self, id: i64) -> Result<Vec<Event>, DeskError> {
        self.events("WHERE incident_id = ?1", Some(id))
    }

    fn events(&self, filter: &str, arg: Option<i64>) -> Result<Vec<Event>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT id, incident_id, at_ns, actor, action, details, ledger_seq FROM events {filter} ORDER BY id"
        ))?;
        let map = |r: &rusqlite::Row<'_>| {
            let details: String = r.get(5)?;
            Ok(Event {
                id: r.get(0)?,
                incident_id: r.get(1)?,
                at_ns: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                ledger_seq: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
            })
        };
        let rows = match arg {
            Some(a) => st.query_map([a], map)?.collect::<Result<Vec<_>, _>>()?,
            None => st.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    // ---- the point of contact ----

    /// The current point of contact, if one was ever set.
    pub fn poc(&self) -> Result<Option<PocRecord>, DeskError> {
        Ok(self.poc_history()?.pop())
    }

    /// Every version, oldest first.
    pub fn poc_history(&self) -> Result<Vec<PocRecord>, DeskError> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT version, fields, set_at_ns, set_by, note FROM poc ORDER BY version")?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(version, f, set_at_ns, set_by, note)| {
                Ok(PocRecord {
                    version,
                    poc: serde_json::from_str(&f).map_err(|e| DeskError::Corrupt {
                        what: format!("point of contact version {version}"),
                        why: e.to_string(),
                    })?,
                    set_at_ns,
                    set_by,
                    note,
                })
            })
            .collect()
    }

    /// Sets (or, with only `reviewed`, confirms) the point of contact. A new
    /// version is kept each time; the first needs at least a name and an e-mail.
    pub async fn set_poc(
        &self,
        e: PocEdit,
        actor: &str,
        now_ns: i64,
    ) -> Result<PocRecord, DeskError> {
        let current = self.poc()?;
        let mut poc = current.as_ref().map(|c| c.poc.clone()).unwrap_or_default();
        let mut changed: Vec<&str> = Vec::new();
        for (name, slot, v) in [
            ("name", &mut poc.name, e.name),
            ("designation", &mut poc.designation, e.designation),
            ("organisation", &mut poc.organisation, e.organisation),
            ("address", &mut poc.address, e.address),
            ("email", &mut poc.email, e.email),
            ("mobile", &mut poc.mobile, e.mobile),
            ("office_phone", &mut poc.office_phone, e.office_phone),
        ] {
            if let Some(v) = v {
                let v = v.trim().to_owned();
                if v.chars().any(char::is_control) {
                    return Err(DeskError::Invalid {
                        field: name,
                        why: "control characters are not allowed".into(),
                    });
                }
                if *slot != v {
                    *slot = v;
                    changed.push(name);
                }
            }
        }
        if changed.is_empty() && !e.reviewed {
            return Err(DeskError::Invalid {
                field: "poc",
                why: "nothing to change: give a field, or --reviewed to record that the details were checked".into(),
            });
        }
        if poc.name.is_empty() {
            return Err(DeskError::Invalid {
                field: "name",
                why: "the point of contact needs a name".into(),
            });
        }
        if !crate::mail::looks_like_address(&poc.email) {
            return Err(DeskError::Invalid {
                field: "email",
                why: format!(
                    "`{}` is not an e-mail address; the point of contact needs one (it is copied on every report)",
                    poc.email
                ),
            });
        }
        let note = e.note.or_else(|| {
            (changed.is_empty() && e.reviewed).then(|| "reviewed, unchanged".to_owned())
        });
        let version = {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO poc (fields, set_at_ns, set_by, note) VALUES (?1, ?2, ?3, ?4)",
                params![
                    serde_json::to_string(&poc).map_err(DeskError::json)?,
                    now_ns,
                    actor,
                    note
                ],
            )?;
            let version = tx.last_insert_rowid();
            insert_event(
                &tx,
                self.sink.committed(),
                None,
                now_ns,
                actor,
                "poc.set",
                &serde_json::json!({
                    "version": version, "changed": changed, "reviewed": e.reviewed,
                    "poc": poc,
                }),
            )?;
            tx.commit()?;
            version
        };
        self.flush().await;
        Ok(PocRecord {
            version,
            poc,
            set_at_ns: now_ns,
            set_by: actor.to_owned(),
            note,
        })
    }

    // ---- reports ----

    pub fn reports(&self, id: i64) -> Result<Vec<ReportAttempt>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT id, incident_id, number, subject, message_id, in_reply_to, to_addr, cc_addr, attempted_at_ns, sent_at_ns, smtp_reply, error, actor
             FROM reports WHERE incident_id = ?1 ORDER BY id",
        )?;
        let rows = st
            .query_map([id], |r| {
                Ok(ReportAttempt {
                    id: r.get(0)?,
                    incident_id: r.get(1)?,
                    number: r.get(2)?,
                    subject: r.get(3)?,
                    message_id: r.get(4)?,
                    in_reply_to: r.get(5)?,
                    to: r.get(6)?,
                    cc: r.get(7)?,
                    attempted_at_ns: r.get(8)?,
                    sent_at_ns: r.get(9)?,
                    smtp_reply: r.get(10)?,
                    error: r.get(11)?,
                    actor: r.get(12)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records one try at sending a report. A sent one moves the incident
    /// to `reported` (the first) or `updated` (a follow-up) and stops the clock.
    pub(crate) async fn record_attempt(&self, a: &ReportAttempt) -> Result<Incident, DeskError> {
        let inc = self.get(a.incident_id)?;
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO reports (incident_id, number, subject, message_id, in_reply_to, to_addr, cc_addr, attempted_at_ns, sent_at_ns, smtp_reply, error, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    a.incident_id, a.number, a.subject, a.message_id, a.in_reply_to, a.to, a.cc,
                    a.attempted_at_ns, a.sent_at_ns, a.smtp_reply, a.error, a.actor
                ],
            )?;
            match a.sent_at_ns {
                Some(at) => {
                    let new_state = if a.number == 0 {
                        State::Reported
                    } else {
                        State::Updated
                    };
                    tx.execute(
                        "UPDATE incidents SET state = ?1, reports_sent = reports_sent + 1,
                         first_reported_at_ns = coalesce(first_reported_at_ns, ?2) WHERE id = ?3",
                        params![new_state.as_str(), at, a.incident_id],
                    )?;
                    insert_event(
                        &tx,
                        self.sink.committed(),
                        Some(a.incident_id),
                        at,
                        &a.actor,
                        if a.number == 0 {
                            "incident.reported"
                        } else {
                            "incident.updated"
                        },
                        &serde_json::json!({
                            "from": inc.state.as_str(), "state": new_state.as_str(),
                            "report": a.number, "to": a.to, "cc": a.cc,
                            "subject": a.subject, "message_id": a.message_id,
                            "smtp_reply": a.smtp_reply,
                            "deadline": rfc3339_utc(inc.deadline_ns),
                            "in_time": at <= inc.deadline_ns || inc.first_reported_at_ns.is_some(),
                        }),
                    )?;
                }
                None => {
                    insert_event(
                        &tx,
                        self.sink.committed(),
                        Some(a.incident_id),
                        a.attempted_at_ns,
                        &a.actor,
                        "incident.report_failed",
                        &serde_json::json!({
                            "state": inc.state.as_str(), "report": a.number,
                            "to": a.to, "message_id": a.message_id, "error": a.error,
                        }),
                    )?;
                }
            }
            tx.commit()?;
        }
        self.flush().await;
        self.get(a.incident_id)
    }

    // ---- reminders ----

    /// Reminders already decided for an incident (sent, being retried or skipped).
    pub fn reminders(&self, id: i64) -> Result<Vec<ReminderRow>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT incident_id, name, decided_at_ns, skipped, email_done_at_ns, email_error, webhook_done_at_ns, webhook_error, attempts
             FROM reminders WHERE incident_id = ?1 ORDER BY decided_at_ns, name",
        )?;
        let rows = st
            .query_map([id], |r| {
                Ok(ReminderRow {
                    incident_id: r.get(0)?,
                    name: r.get(1)?,
                    decided_at_ns: r.get(2)?,
                    skipped: r.get::<_, i64>(3)? != 0,
                    email_done_at_ns: r.get(4)?,
                    email_error: r.get(5)?,
                    webhook_done_at_ns: r.get(6)?,
                    webhook_error: r.get(7)?,
                    attempts: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub(crate) fn decide_reminders(
        &self,
        id: i64,
        send: Reminder,
        skip: &[Reminder],
        now_ns: i64,
    ) -> Result<(), DeskError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        for r in skip {
            tx.execute(
                "INSERT OR IGNORE INTO reminders (incident_id, name, decided_at_ns, skipped) VALUES (?1, ?2, ?3, 1)",
                params![id, r.name(), now_ns],
            )?;
        }
        tx.execute(
            "INSERT OR IGNORE INTO reminders (incident_id, name, decided_at_ns) VALUES (?1, ?2, ?3)",
            params![id, send.name(), now_ns],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) async fn reminder_result(
        &self,
        id: i64,
        name: &str,
        email: Option<Result<i64, String>>,
        webhook: Option<Result<i64, String>>,
        details: serde_json::Value,
        now_ns: i64,
    ) -> Result<(), DeskError> {
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "UPDATE reminders SET attempts = attempts + 1 WHERE incident_id = ?1 AND name = ?2",
                params![id, name],
            )?;
            // Each channel: done (and its old error cleared), or its error kept for the retry.
            for (outcome, channel) in [(&email, "email"), (&webhook, "webhook")] {
                match outcome {
                    Some(Ok(at)) => tx.execute(
                        &format!("UPDATE reminders SET {channel}_done_at_ns = ?1, {channel}_error = NULL WHERE incident_id = ?2 AND name = ?3"),
                        params![at, id, name],
                    )?,
                    Some(Err(e)) => tx.execute(
                        &format!("UPDATE reminders SET {channel}_error = ?1 WHERE incident_id = ?2 AND name = ?3"),
                        params![e, id, name],
                    )?,
                    None => 0,
                };
            }
            insert_event(
                &tx,
                self.sink.committed(),
                Some(id),
                now_ns,
                "pramaan",
                "incident.reminder",
                &details,
            )?;
            tx.commit()?;
        }
        self.flush().await;
        Ok(())
    }
}

/// The ledger record of an event: an audit-style JSON object.
#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_core::MemorySink;

    /// A desk.db an older binary left: two events without `ledger_seq`, the
    /// first of which it had appended just before it died. After the
    /// upgrade each is in the ledger exactly once and marked.
    #[tokio::test]
    async fn events_an_older_binary_left_pending_reach_the_ledger_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desk.db");
        let events = [(1, "incident.created"), (2, "incident.edited")];
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(crate::schema::V1_SQL).unwrap();
            for (id, action) in events {
                c.execute(
                    "INSERT INTO events (id, incident_id, at_ns, actor, action, details) VALUES (?1, 7, 5, 'asha', ?2, '{\"state\":\"open\"}')",
                    params![id, action],
                )
                .unwrap();
            }
        }
        let sink = Arc::new(MemorySink::new());
        sink.append("pramaan:audit", b"{}".to_vec()).await.unwrap();
        // What the older binary appended for event 1, byte for byte.
        let old = Event {
            id: 1,
            incident_id: Some(7),
            at_ns: 5,
            actor: "asha".into(),
            action: "incident.created".into(),
            details: serde_json::json!({"state": "open"}),
            ledger_seq: None,
        };
        let first = sink.append(LEDGER_SOURCE, ledger_body(&old)).await.unwrap();
        let desk = Desk::open(&path, sink.clone()).unwrap();
        assert_eq!(desk.pending(), 2);
        assert_eq!(desk.flush().await, 0);
        let recs: Vec<Vec<u8>> = sink
            .records()
            .into_iter()
            .filter(|(s, _)| s == LEDGER_SOURCE)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(recs.len(), 2, "event 1 was found, not appended again");
        let hist = desk.history(7).unwrap();
        assert_eq!(hist[0].ledger_seq, Some(first));
        assert_eq!(hist[1].ledger_seq, Some(first + 1));
        // Opening again moves nothing twice.
        drop(desk);
        let desk = Desk::open(&path, sink.clone()).unwrap();
        assert_eq!(desk.pending(), 0);
    }
}
