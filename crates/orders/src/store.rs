//! The orders register: `<data_dir>/orders.db` (SQLite).
//!
//! Each change is one transaction that updates the order, adds an `events`
//! row (who, when, what) and stages its `pramaan:order` record in the outbox
//! (`pramaan_db::outbox`); the flusher then appends the records in order
//! through [`LedgerSink`], exactly once each, and marks each event with its
//! sequence number. A record the ledger refused stays pending and goes at
//! the next change or [`Register::flush`] (as the incident desk does). The
//! rules come from [`crate::state`].

use crate::record::ledger_body;
pub use crate::record::{Event, LEDGER_SOURCE};
use crate::scope::Scope;
use crate::state::{self, Action, Facts, Refusal, State};
use pramaan_core::LedgerSink;
use pramaan_db::outbox;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("orders database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("opening the orders database: {0}")]
    Open(#[from] pramaan_db::OpenError),
    #[error("no order {0}")]
    NotFound(String),
    #[error("an order {0} is already registered")]
    Duplicate(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// What registering an order takes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub reference: String,
    pub authority: String,
    pub received_at_ns: i64,
    pub due_at_ns: i64,
    pub scope: Scope,
    pub legal_basis: String,
    #[serde(default)]
    pub notes: String,
}

/// A registered order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub reference: String,
    pub authority: String,
    pub received_at_ns: i64,
    pub due_at_ns: i64,
    pub scope: Scope,
    pub legal_basis: String,
    pub notes: String,
    pub state: State,
    pub registered_by: String,
    pub registered_at_ns: i64,
    pub approved_by: Option<String>,
    pub approved_at_ns: Option<i64>,
    pub exported_by: Option<String>,
    pub exported_at_ns: Option<i64>,
    pub delivered_by: Option<String>,
    pub delivered_at_ns: Option<i64>,
    pub closed_by: Option<String>,
    pub closed_at_ns: Option<i64>,
    /// Legal holds placed for the order (their numbers in the vault).
    pub holds: Vec<i64>,
}

impl Order {
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            reference: &self.reference,
            state: self.state,
            registered_by: &self.registered_by,
            personal_data: self.scope.names_subscribers(),
        }
    }

    /// "2 d 3 h 00 min left", "OVERDUE by ...", "delivered in time (...)".
    pub fn deadline_text(&self, now_ns: i64) -> String {
        state::deadline_text(self.due_at_ns, self.delivered_at_ns, now_ns)
    }

    /// What `order.json` in the bundle says: the order as registered and
    /// approved (not its later states, so re-exports are identical).
    pub fn bundle_json(&self) -> String {
        let t = pramaan_core::time::rfc3339_utc;
        let v = serde_json::json!({
            "reference": self.reference,
            "authority": self.authority,
            "received_at": t(self.received_at_ns),
            "due_at": t(self.due_at_ns),
            "legal_basis": self.legal_basis,
            "scope": {
                "from": t(self.scope.from_ns),
                "to": t(self.scope.to_ns),
                "sources": self.scope.sources,
                "hosts": self.scope.hosts,
                "ips": self.scope.ips.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                "subscribers": self.scope.subscribers,
                "texts": self.scope.texts,
            },
            "registered_by": self.registered_by,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at_ns.map(t),
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
}

pub struct Register {
    db: Mutex<Connection>,
    sink: Arc<dyn LedgerSink>,
    flusher: outbox::Flusher,
}

/// How the flusher marks an event with its record's sequence number.
const MARK_BACK: &str = "UPDATE events SET ledger_seq = ?1 WHERE id = ?2";

const COLUMNS: &str = "id, reference, authority, received_at_ns, due_at_ns, scope, legal_basis, notes, state, registered_by, registered_at_ns, approved_by, approved_at_ns, exported_by, exported_at_ns, delivered_by, delivered_at_ns, closed_by, closed_at_ns, holds";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Order> {
    let scope: String = r.get(5)?;
    let state: String = r.get(8)?;
    let holds: String = r.get(19)?;
    let bad = |i: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
    };
    Ok(Order {
        id: r.get(0)?,
        reference: r.get(1)?,
        authority: r.get(2)?,
        received_at_ns: r.get(3)?,
        due_at_ns: r.get(4)?,
        scope: serde_json::from_str(&scope).map_err(|e| bad(5, e.to_string()))?,
        legal_basis: r.get(6)?,
        notes: r.get(7)?,
        state: State::parse(&state).ok_or_else(|| bad(8, format!("unknown state {state}")))?,
        registered_by: r.get(9)?,
        registered_at_ns: r.get(10)?,
        approved_by: r.get(11)?,
        approved_at_ns: r.get(12)?,
        exported_by: r.get(13)?,
        exported_at_ns: r.get(14)?,
        delivered_by: r.get(15)?,
        delivered_at_ns: r.get(16)?,
        closed_by: r.get(17)?,
        closed_at_ns: r.get(18)?,
        holds: serde_json::from_str(&holds).map_err(|e| bad(19, e.to_string()))?,
    })
}

impl Register {
    /// Opens (creating) the register at `path`; `sink` takes the ledger records.
    pub fn open(path: &Path, sink: Arc<dyn LedgerSink>) -> Result<Register, StoreError> {
        let conn = pramaan_db::open(path, &crate::schema::SCHEMA, pramaan_db::Mode::Write)?;
        Ok(Register {
            db: Mutex::new(conn),
            sink,
            flusher: outbox::Flusher::new("orders"),
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, reference: &str) -> Result<Order, StoreError> {
        self.db()
            .query_row(
                &format!("SELECT {COLUMNS} FROM orders WHERE reference = ?1"),
                [reference],
                row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(reference.to_owned()))
    }

    /// Every order, the soonest deadline first.
    pub fn list(&self) -> Result<Vec<Order>, StoreError> {
        let db = self.db();
        let mut st = db.prepare(&format!(
            "SELECT {COLUMNS} FROM orders ORDER BY due_at_ns, id"
        ))?;
        let v = st.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    pub fn events(&self, reference: &str) -> Result<Vec<Event>, StoreError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT e.id, o.reference, e.at_ns, e.actor, e.action, e.details, e.ledger_seq
             FROM events e JOIN orders o ON o.id = e.order_id WHERE o.reference = ?1 ORDER BY e.id",
        )?;
        let v = st
            .query_map([reference], |r| {
                let d: String = r.get(5)?;
                Ok(Event {
                    id: r.get(0)?,
                    order: r.get(1)?,
                    at_ns: r.get(2)?,
                    actor: r.get(3)?,
                    action: r.get(4)?,
                    details: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                    ledger_seq: r.get::<_, Option<i64>>(6)?.map(|s| s as u64),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Registers an order (state `received`).
    pub async fn register(
        &self,
        o: &NewOrder,
        actor: &str,
        now_ns: i64,
    ) -> Result<Order, StoreError> {
        crate::state::check_reference(&o.reference).map_err(StoreError::Invalid)?;
        if o.authority.trim().is_empty() {
            return Err(StoreError::Invalid("the issuing authority is empty".into()));
        }
        if o.legal_basis.trim().is_empty() {
            return Err(StoreError::Invalid("the legal basis is empty".into()));
        }
        if o.due_at_ns <= o.received_at_ns {
            return Err(StoreError::Invalid(
                "the deadline (due) must be after the order was received".into(),
            ));
        }
        o.scope
            .validate()
            .map_err(|e| StoreError::Invalid(format!("scope: {e}")))?;
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT id FROM orders WHERE reference = ?1",
                    [&o.reference],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(StoreError::Duplicate(o.reference.clone()));
            }
            let scope = serde_json::to_string(&o.scope).unwrap_or_default();
            tx.execute(
                "INSERT INTO orders (reference, authority, received_at_ns, due_at_ns, scope, legal_basis, notes, state, registered_by, registered_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'received', ?8, ?9)",
                params![o.reference, o.authority, o.received_at_ns, o.due_at_ns, scope, o.legal_basis, o.notes, actor, now_ns],
            )?;
            let id = tx.last_insert_rowid();
            let details = serde_json::to_value(o).unwrap_or_default();
            event(
                &tx,
                self.sink.committed(),
                id,
                &o.reference,
                now_ns,
                actor,
                "register",
                &details,
            )?;
            tx.commit()?;
        }
        self.flush().await;
        self.get(&o.reference)
    }

    /// Records the legal holds placed for the order.
    pub async fn set_holds(
        &self,
        reference: &str,
        holds: &[i64],
        actor: &str,
        now_ns: i64,
        released: bool,
    ) -> Result<(), StoreError> {
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let id: i64 = tx
                .query_row(
                    "SELECT id FROM orders WHERE reference = ?1",
                    [reference],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(reference.to_owned()))?;
            let keep: Vec<i64> = if released { vec![] } else { holds.to_vec() };
            tx.execute(
                "UPDATE orders SET holds = ?1 WHERE id = ?2",
                params![serde_json::to_string(&keep).unwrap_or_default(), id],
            )?;
            let action = if released { "release_holds" } else { "hold" };
            event(
                &tx,
                self.sink.committed(),
                id,
                reference,
                now_ns,
                actor,
                action,
                &serde_json::json!({ "holds": holds }),
            )?;
            tx.commit()?;
        }
        self.flush().await;
        Ok(())
    }

    /// Applies `action` by `actor` if the rules allow it.
    pub async fn act(
        &self,
        reference: &str,
        action: Action,
        actor: &str,
        now_ns: i64,
        details: serde_json::Value,
    ) -> Result<Order, StoreError> {
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let o = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM orders WHERE reference = ?1"),
                    [reference],
                    row,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(reference.to_owned()))?;
            let to = state::next(&o.facts(), action, actor)?;
            let (by, at) = match action {
                Action::Approve => ("approved_by", "approved_at_ns"),
                Action::Export => ("exported_by", "exported_at_ns"),
                Action::Deliver => ("delivered_by", "delivered_at_ns"),
                Action::Close => ("closed_by", "closed_at_ns"),
            };
            tx.execute(
                &format!("UPDATE orders SET state = ?1, {by} = ?2, {at} = ?3 WHERE id = ?4"),
                params![to.as_str(), actor, now_ns, o.id],
            )?;
            event(
                &tx,
                self.sink.committed(),
                o.id,
                &o.reference,
                now_ns,
                actor,
                action.as_str(),
                &details,
            )?;
            tx.commit()?;
        }
        self.flush().await;
        self.get(reference)
    }

    /// Appends every pending event to the ledger, in order, exactly once;
    /// returns how many are still pending (the flusher logs a failure once).
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
                eprintln!("warning: counting pending order events: {e}");
                0
            })
    }
}

/// Events of the register at `path` whose record is not yet in the ledger,
/// read without changing the file (0 when there is no register yet).
pub fn pending_in(path: &Path) -> Result<u64, StoreError> {
    if !path.exists() {
        return Ok(0);
    }
    let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    c.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(outbox::pending(&c)?)
}

/// Writes the `events` row of a change to order `reference` and stages its
/// ledger record, in the change's transaction; `watermark` is the ledger's
/// committed count now.
#[allow(clippy::too_many_arguments)]
fn event(
    tx: &Transaction<'_>,
    watermark: u64,
    order_id: i64,
    reference: &str,
    at_ns: i64,
    actor: &str,
    action: &str,
    details: &serde_json::Value,
) -> rusqlite::Result<()> {
    let text = details.to_string();
    tx.execute(
        "INSERT INTO events (order_id, at_ns, actor, action, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![order_id, at_ns, actor, action, text],
    )?;
    let ev = Event {
        id: tx.last_insert_rowid(),
        order: reference.to_owned(),
        at_ns,
        actor: actor.to_owned(),
        action: action.to_owned(),
        // As read back from the row, as an older binary built the body.
        details: serde_json::from_str(&text).unwrap_or_default(),
        ledger_seq: None,
    };
    outbox::stage_for(tx, LEDGER_SOURCE, &ledger_body(&ev), watermark, ev.id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_core::MemorySink;

    fn new_order(reference: &str, subscribers: bool) -> NewOrder {
        let h = 3_600_000_000_000i64;
        NewOrder {
            reference: reference.into(),
            authority: "CERT-In".into(),
            received_at_ns: 10 * h,
            due_at_ns: 34 * h,
            scope: Scope {
                from_ns: 0,
                to_ns: 5 * h,
                subscribers: if subscribers {
                    vec!["S-1".into()]
                } else {
                    vec![]
                },
                ..Scope::default()
            },
            legal_basis: "IT Act s.70B(6); CERT-In direction 6".into(),
            notes: String::new(),
        }
    }

    #[tokio::test]
    async fn the_register_applies_the_rules_and_every_step_reaches_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(MemorySink::new());
        let r = Register::open(&dir.path().join("orders.db"), sink.clone()).unwrap();
        r.register(&new_order("O-1", true), "asha", 1)
            .await
            .unwrap();
        let e = r
            .register(&new_order("O-1", true), "asha", 2)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "an order O-1 is already registered");
        let e = r
            .act("O-1", Action::Export, "asha", 3, serde_json::Value::Null)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("needs a second user's approval"),
            "{e}"
        );
        let e = r
            .act("O-1", Action::Approve, "asha", 3, serde_json::Value::Null)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot approve it"), "{e}");
        let o = r
            .act("O-1", Action::Approve, "ravi", 4, serde_json::Value::Null)
            .await
            .unwrap();
        assert_eq!(o.state, State::Approved);
        assert_eq!(o.approved_by.as_deref(), Some("ravi"));
        r.act(
            "O-1",
            Action::Export,
            "asha",
            5,
            serde_json::json!({"records": 3}),
        )
        .await
        .unwrap();
        r.act("O-1", Action::Deliver, "asha", 6, serde_json::Value::Null)
            .await
            .unwrap();
        let o = r
            .act("O-1", Action::Close, "asha", 7, serde_json::Value::Null)
            .await
            .unwrap();
        assert_eq!(o.state, State::Closed);
        let evs = r.events("O-1").unwrap();
        let actions: Vec<_> = evs.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["register", "approve", "export", "deliver", "close"]
        );
        assert!(evs.iter().all(|e| e.ledger_seq.is_some()));
        let recs = sink.records();
        assert_eq!(recs.len(), 5);
        assert!(recs.iter().all(|(s, _)| s == LEDGER_SOURCE));
        let last: serde_json::Value = serde_json::from_slice(&recs[4].1).unwrap();
        assert_eq!(last["action"], "close");
        assert_eq!(last["order"], "O-1");
        assert_eq!(r.pending(), 0);
    }

    #[tokio::test]
    async fn bad_orders_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let r = Register::open(&dir.path().join("orders.db"), Arc::new(MemorySink::new())).unwrap();
        let mut o = new_order("O-2", false);
        o.due_at_ns = o.received_at_ns;
        let e = r.register(&o, "asha", 1).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the deadline (due) must be after the order was received"
        );
        let mut o = new_order("O-2", false);
        o.scope.to_ns = o.scope.from_ns;
        let e = r.register(&o, "asha", 1).await.unwrap_err();
        assert!(
            e.to_string().starts_with("scope: the window is empty"),
            "{e}"
        );
        assert!(matches!(r.get("nope"), Err(StoreError::NotFound(_))));
    }
}
