//! The transactions, in `<data_dir>/vasp.db` (SQLite), each with the
//! sequence number of its ledger record (source `pramaan:vasp`, the
//! transaction's JSON).
//!
//! An import takes a request's transactions whole or not at all: every one
//! is checked against what is stored first (the same id with the same
//! content is `unchanged`, with other content a conflict that refuses the
//! request). New ones are written in batches, each batch in one SQLite
//! transaction with a `batches` row holding the ledger's committed count
//! then (its watermark) and no sequence numbers yet; then the batch goes
//! to the ledger in one append (one fsync, consecutive numbers) and its
//! rows get their numbers. A crash between the append and the numbering
//! leaves a batch without numbers: the next import (or [`Store::flush`])
//! looks for its first record from the watermark on, and numbers the batch
//! from where it is found; only a batch not found is appended again. So
//! every transaction is in the ledger exactly once.

use crate::model::Transaction;
use pramaan_core::LedgerSink;
use pramaan_db::{Mode, Schema, Step};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// The ledger source of transaction records.
pub const SOURCE: &str = "pramaan:vasp";

/// Most transactions in one batch (one SQLite transaction, one append).
pub const BATCH: usize = 20_000;

pub const SCHEMA: Schema = Schema {
    database: "vasp.db",
    steps: &[Step::Sql(
        "CREATE TABLE tx (
            row INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            time_ns INTEGER NOT NULL,
            customer TEXT NOT NULL,
            counterparty TEXT,
            from_wallet TEXT,
            to_wallet TEXT,
            tx_hash TEXT,
            body BLOB NOT NULL,
            batch INTEGER NOT NULL,
            seq INTEGER
        );
        CREATE INDEX tx_customer ON tx(customer, time_ns);
        CREATE INDEX tx_counterparty ON tx(counterparty, time_ns) WHERE counterparty IS NOT NULL;
        CREATE INDEX tx_from ON tx(from_wallet, time_ns) WHERE from_wallet IS NOT NULL;
        CREATE INDEX tx_to ON tx(to_wallet, time_ns) WHERE to_wallet IS NOT NULL;
        CREATE INDEX tx_hash ON tx(tx_hash) WHERE tx_hash IS NOT NULL;
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            watermark INTEGER NOT NULL,
            first_row INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            first_seq INTEGER
        );
        CREATE INDEX batches_pending ON batches(id) WHERE first_seq IS NULL;",
    )],
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Open(#[from] pramaan_db::OpenError),
    #[error("vasp.db: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the ledger did not take the transactions (nothing is lost: they are appended at the next import): {0}")]
    Ledger(#[from] pramaan_core::SinkError),
    #[error("{0}")]
    Conflict(String),
    #[error("a stored transaction does not read back ({0}); vasp.db is damaged")]
    Corrupt(String),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Imported {
    /// New transactions, now in the ledger.
    pub added: u64,
    /// Sent again exactly as stored: nothing done.
    pub unchanged: u64,
    /// Batches a crash had left out of the ledger, finished now.
    pub recovered: u64,
}

/// A stored transaction with its ledger record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub tx: Transaction,
    pub seq: Option<u64>,
}

pub struct Store {
    db: Mutex<Connection>,
}

/// Which transactions touch a node of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touching<'a> {
    /// Made by the customer, or received from them (a transfer, a trade).
    Customer(&'a str),
    /// Sent from or to the wallet.
    Wallet(&'a str),
    /// Carrying the chain transaction hash.
    Hash(&'a str),
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = pramaan_db::open(path, &SCHEMA, Mode::Write)?;
        Ok(Store {
            db: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many transactions are stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM tx", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Stores `txs` (all valid) and puts them in the ledger; all or nothing
    /// when one conflicts with what is stored or with another in `txs`.
    pub async fn import(
        &self,
        txs: Vec<Transaction>,
        sink: &dyn LedgerSink,
    ) -> Result<Imported, StoreError> {
        let mut done = Imported {
            recovered: self.flush(sink).await?,
            ..Imported::default()
        };
        let fresh = self.new_ones(txs, &mut done)?;
        for chunk in fresh.chunks(BATCH) {
            let batch = self.stage(chunk, sink.committed())?;
            self.append(batch, sink, false).await?;
            done.added += chunk.len() as u64;
        }
        Ok(done)
    }

    /// The transactions not stored yet; refuses any that conflict.
    fn new_ones(
        &self,
        txs: Vec<Transaction>,
        done: &mut Imported,
    ) -> Result<Vec<(Transaction, Vec<u8>)>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT body FROM tx WHERE id = ?1")?;
        let mut seen: std::collections::HashMap<String, Vec<u8>> = Default::default();
        let mut out = Vec::with_capacity(txs.len());
        let mut conflicts = Vec::new();
        for t in txs {
            let body = t.body();
            if let Some(earlier) = seen.get(&t.id) {
                if *earlier != body {
                    conflicts.push(format!("`{}` is given twice with different content", t.id));
                }
                continue;
            }
            let stored: Option<Vec<u8>> = st.query_row([&t.id], |r| r.get(0)).optional()?;
            match stored {
                Some(b) if b == body => done.unchanged += 1,
                Some(_) => conflicts.push(format!(
                    "`{}` is already stored with other content (a transaction id names one transaction)",
                    t.id
                )),
                None => {
                    seen.insert(t.id.clone(), body.clone());
                    out.push((t, body));
                }
            }
            if conflicts.len() >= 20 {
                break;
            }
        }
        if !conflicts.is_empty() {
            return Err(StoreError::Conflict(format!(
                "nothing imported: {}",
                conflicts.join("; ")
            )));
        }
        Ok(out)
    }

    /// Writes a batch with no sequence numbers yet; its id.
    fn stage(&self, chunk: &[(Transaction, Vec<u8>)], watermark: u64) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let first_row: i64 =
            tx.query_row("SELECT COALESCE(MAX(row), 0) + 1 FROM tx", [], |r| r.get(0))?;
        tx.execute(
            "INSERT INTO batches (watermark, first_row, rows) VALUES (?1, ?2, ?3)",
            params![watermark as i64, first_row, chunk.len() as i64],
        )?;
        let batch = tx.last_insert_rowid();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO tx (row, id, time_ns, customer, counterparty, from_wallet, to_wallet, tx_hash, body, batch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for (i, (t, body)) in chunk.iter().enumerate() {
                ins.execute(params![
                    first_row + i as i64,
                    t.id,
                    t.time_ns,
                    t.customer,
                    t.counterparty,
                    t.from_wallet,
                    t.to_wallet,
                    t.tx_hash,
                    body,
                    batch
                ])?;
            }
        }
        tx.commit()?;
        Ok(batch)
    }

    /// The bodies of batch `id`, in row order, with its watermark.
    fn batch_bodies(&self, id: i64) -> Result<(u64, i64, Vec<Vec<u8>>), StoreError> {
        let conn = self.conn();
        let (watermark, first_row, rows): (i64, i64, i64) = conn.query_row(
            "SELECT watermark, first_row, rows FROM batches WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut st =
            conn.prepare_cached("SELECT body FROM tx WHERE row >= ?1 AND row < ?2 ORDER BY row")?;
        let bodies = st
            .query_map([first_row, first_row + rows], |r| r.get(0))?
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        Ok((watermark as u64, first_row, bodies))
    }

    /// Puts batch `id` in the ledger and numbers it; when an earlier try may
    /// have appended it (`retry`), from where it is found.
    async fn append(
        &self,
        id: i64,
        sink: &dyn LedgerSink,
        retry: bool,
    ) -> Result<bool, StoreError> {
        let (watermark, first_row, bodies) = self.batch_bodies(id)?;
        let Some(first) = bodies.first() else {
            return Ok(false);
        };
        let found = if retry {
            sink.find(SOURCE, first, watermark).await?
        } else {
            Vec::new()
        };
        let (first_seq, recovered) = match found.first() {
            Some(s) => (*s, true),
            None => (sink.append_all(SOURCE, bodies.clone()).await?, false),
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE tx SET seq = ?1 + row - ?2 WHERE row >= ?2 AND row < ?3",
            params![first_seq as i64, first_row, first_row + bodies.len() as i64],
        )?;
        tx.execute(
            "UPDATE batches SET first_seq = ?1 WHERE id = ?2",
            params![first_seq as i64, id],
        )?;
        tx.commit()?;
        Ok(recovered)
    }

    /// Finishes every batch a crash left out of the ledger; how many.
    pub async fn flush(&self, sink: &dyn LedgerSink) -> Result<u64, StoreError> {
        let pending: Vec<i64> = {
            let conn = self.conn();
            let mut st =
                conn.prepare("SELECT id FROM batches WHERE first_seq IS NULL ORDER BY id")?;
            let v = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            v
        };
        let mut n = 0;
        for id in pending {
            self.append(id, sink, true).await?;
            n += 1;
        }
        Ok(n)
    }

    /// The transactions touching `node` within `[from_ns, to_ns)`, oldest first.
    pub fn touching(
        &self,
        node: &Touching<'_>,
        from_ns: i64,
        to_ns: i64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let conn = self.conn();
        let (sql, key) = match node {
            Touching::Customer(c) => (
                "SELECT body, seq FROM tx WHERE customer = ?1 AND time_ns >= ?2 AND time_ns < ?3
                 UNION SELECT body, seq FROM tx WHERE counterparty = ?1 AND time_ns >= ?2 AND time_ns < ?3",
                *c,
            ),
            Touching::Wallet(w) => (
                "SELECT body, seq FROM tx WHERE from_wallet = ?1 AND time_ns >= ?2 AND time_ns < ?3
                 UNION SELECT body, seq FROM tx WHERE to_wallet = ?1 AND time_ns >= ?2 AND time_ns < ?3",
                *w,
            ),
            Touching::Hash(h) => (
                "SELECT body, seq FROM tx WHERE tx_hash = ?1 AND time_ns >= ?2 AND time_ns < ?3",
                *h,
            ),
        };
        let mut st = conn.prepare_cached(&format!("SELECT body, seq FROM ({sql}) LIMIT ?4"))?;
        let rows = st
            .query_map(params![key, from_ns, to_ns, limit as i64], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<i64>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = rows
            .into_iter()
            .map(|(b, seq)| {
                Transaction::from_body(&b)
                    .map(|tx| Stored {
                        tx,
                        seq: seq.map(|s| s as u64),
                    })
                    .map_err(StoreError::Corrupt)
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.tx.time_ns, &a.tx.id).cmp(&(b.tx.time_ns, &b.tx.id)));
        Ok(out)
    }

    /// Deletes the transactions made before `before_ns` in which no party is
    /// in `held` (a legal hold on a customer keeps every transaction they
    /// made or received); how many went.
    pub fn erase_before(
        &self,
        before_ns: i64,
        held: &std::collections::HashSet<String>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let gone: Vec<i64> = {
            let mut st =
                tx.prepare("SELECT row, customer, counterparty FROM tx WHERE time_ns < ?1")?;
            let rows = st.query_map([before_ns], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            let mut v = Vec::new();
            for r in rows {
                let (row, customer, counterparty) = r?;
                if !held.contains(&customer) && !counterparty.is_some_and(|c| held.contains(&c)) {
                    v.push(row);
                }
            }
            v
        };
        {
            let mut del = tx.prepare_cached("DELETE FROM tx WHERE row = ?1")?;
            for row in &gone {
                del.execute([row])?;
            }
        }
        tx.commit()?;
        Ok(gone.len() as u64)
    }

    /// One transaction by its id.
    pub fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let conn = self.conn();
        let row: Option<(Vec<u8>, Option<i64>)> = conn
            .query_row("SELECT body, seq FROM tx WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(b, seq)| {
            Transaction::from_body(&b)
                .map(|tx| Stored {
                    tx,
                    seq: seq.map(|s| s as u64),
                })
                .map_err(StoreError::Corrupt)
        })
        .transpose()
    }
}
