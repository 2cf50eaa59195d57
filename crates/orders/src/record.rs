//! The ledger record of an order event (`pramaan:order`): the event, its
//! bytes, and the one-off staging of events an older binary left unappended
//! (a schema step of `orders.db`). Apart from the store and the schema so
//! that neither imports the other.

use pramaan_db::outbox;
use rusqlite::Transaction;
use serde::{Deserialize, Serialize};

/// The ledger peer of the register's records.
pub const LEDGER_SOURCE: &str = "pramaan:order";

/// One change, as kept and as appended to the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub order: String,
    pub at_ns: i64,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    pub ledger_seq: Option<u64>,
}

/// The `pramaan:order` record of an event.
pub(crate) fn ledger_body(ev: &Event) -> Vec<u8> {
    serde_json::json!({
        "kind": "order",
        "event": ev.id,
        "order": ev.order,
        "at": pramaan_core::time::rfc3339_utc(ev.at_ns),
        "actor": ev.actor,
        "action": ev.action,
        "details": ev.details,
    })
    .to_string()
    .into_bytes()
}

/// Stages the record of every event an older binary left unappended
/// (`ledger_seq IS NULL`, no outbox row yet), with watermark 0 (it may have
/// been appended at any time before: the whole ledger is searched once).
/// For a schema step of `orders.db` (called from [`Register::open`] until then).
pub fn move_pending_events(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "SELECT e.id, o.reference, e.at_ns, e.actor, e.action, e.details
         FROM events e JOIN orders o ON o.id = e.order_id
         WHERE e.ledger_seq IS NULL
           AND e.id NOT IN (SELECT ref_id FROM outbox WHERE source = ?1 AND ref_id IS NOT NULL)
         ORDER BY e.id",
    )?;
    let events = st
        .query_map([LEDGER_SOURCE], read_event)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for ev in &events {
        outbox::stage_for(tx, LEDGER_SOURCE, &ledger_body(ev), 0, ev.id)?;
    }
    Ok(())
}

/// An event row as (id, reference, at, actor, action, details), not yet appended.
fn read_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let d: String = r.get(5)?;
    Ok(Event {
        id: r.get(0)?,
        order: r.get(1)?,
        at_ns: r.get(2)?,
        actor: r.get(3)?,
        action: r.get(4)?,
        details: serde_json::from_str(&d).unwrap_or_default(),
        ledger_seq: None,
    })
}
