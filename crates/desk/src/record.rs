//! The ledger record of a desk event (`pramaan:incident`): its bytes, and
//! the one-off staging of events an older binary left unappended (a schema
//! step of `desk.db`). Apart from the store and the schema so that neither
//! imports the other.

use crate::model::Event;
use pramaan_core::time::rfc3339_utc;
use pramaan_db::outbox;
use rusqlite::Transaction;

/// The ledger peer of the desk's records.
pub const LEDGER_SOURCE: &str = "pramaan:incident";

/// The `pramaan:incident` record of an event.
pub(crate) fn ledger_body(ev: &Event) -> Vec<u8> {
    let mut v = serde_json::json!({
        "action": ev.action,
        "actor": ev.actor,
        "at": rfc3339_utc(ev.at_ns),
        "subject": match ev.incident_id {
            Some(i) => format!("incident {i}"),
            None if ev.action.starts_with("detection.") => "detections".to_owned(),
            None if ev.action.starts_with("alert.") => "compliance alerts".to_owned(),
            None => "point of contact".to_owned(),
        },
        "event": ev.id,
    });
    if let (Some(m), serde_json::Value::Object(d)) = (v.as_object_mut(), &ev.details) {
        m.insert("details".into(), serde_json::Value::Object(d.clone()));
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Stages the record of every event an older binary left unappended
/// (`ledger_seq IS NULL`, no outbox row yet), with watermark 0: such a
/// record may have been appended at any time before, so the whole ledger is
/// searched once before it is appended. Does nothing when there are none;
/// for a schema step of `desk.db` (called from [`Desk::open`] until then).
pub fn move_pending_events(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "SELECT id, incident_id, at_ns, actor, action, details FROM events
         WHERE ledger_seq IS NULL
           AND id NOT IN (SELECT ref_id FROM outbox WHERE source = ?1 AND ref_id IS NOT NULL)
         ORDER BY id",
    )?;
    let events = st
        .query_map([LEDGER_SOURCE], |r| {
            let details: String = r.get(5)?;
            Ok(Event {
                id: r.get(0)?,
                incident_id: r.get(1)?,
                at_ns: r.get(2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                ledger_seq: None,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for ev in &events {
        outbox::stage_for(tx, LEDGER_SOURCE, &ledger_body(ev), 0, ev.id)?;
    }
    Ok(())
}
