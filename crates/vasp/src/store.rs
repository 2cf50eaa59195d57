//! The transactions, in `<data_dir>/vasp.db` (SQLite), each with the
//! sequence number of its ledger record (source `pramaan:vasp`, the
//! transaction's JSON).
//!
//! An import takes a request's transactions whole or not at all, in one
//! SQLite transaction: each is inserted unless its id is stored (the same
//! content is `unchanged`; other content is a conflict, and the whole
//! request is rolled back), in batches of [`BATCH`], each with a `batches`
//! row holding the ledger's committed count then (its watermark) and no
//! first sequence number yet. After the commit each batch goes to the
//! ledger in one append (one fsync, consecutive numbers) and its row gets
//! the first number: a transaction's record is its batch's first plus its
//! place in the batch. A crash between the append and the numbering leaves
//! a batch without its number: the next import (or [`Store::flush`]) looks
//! for its first record from the watermark on, and numbers the batch from
//! where it is found; only a batch not found is appended again. So every
//! transaction is in the ledger exactly once.

use crate::model::Transaction;
use pramaan_core::LedgerSink;
use pramaan_db::{Mode, Schema, Step};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// A row's sequence number: its batch's first plus its place in the batch
/// (NULL while the batch is not in the ledger).
const SEQ: &str = "(SELECT b.first_seq + t.row - b.first_row FROM batches b WHERE b.id = t.batch)";

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
            batch INTEGER NOT NULL
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
        // An import updates five indexes: a cache that holds their pages
        // spares a read of each from the file (64 MiB).
        conn.pragma_update(None, "cache_size", -65_536)?;
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
        for (batch, rows) in self.stage(&txs, sink.committed(), &mut done)? {
            self.append(batch, sink, false).await?;
            done.added += rows;
        }
        Ok(done)
    }

    /// Inserts the transactions not stored yet, in batches without their
    /// first sequence number, in one SQLite transaction; refuses the whole
    /// request (nothing written) when one conflicts. The batches and their sizes.
    fn stage(
        &self,
        txs: &[Transaction],
        watermark: u64,
        done: &mut Imported,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut batches: Vec<(i64, u64)> = Vec::new();
        let mut conflicts = Vec::new();
        {
            // After every row ever numbered, erased ones too (a row's place in
            // its batch gives its record).
            let mut next_row: i64 = tx.query_row(
                "SELECT MAX(COALESCE((SELECT MAX(row) FROM tx), 0),
                            COALESCE((SELECT MAX(first_row + rows - 1) FROM batches), 0)) + 1",
                [],
                |r| r.get(0),
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO tx (row, id, time_ns, customer, counterparty, from_wallet, to_wallet, tx_hash, body, batch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
            )?;
            let mut stored = tx.prepare_cached("SELECT body FROM tx WHERE id = ?1")?;
            let mut new_batch = tx.prepare_cached(
                "INSERT INTO batches (watermark, first_row, rows) VALUES (?1, ?2, 0)",
            )?;
            for t in txs {
                let body = t.body();
                if batches.last().is_none_or(|(_, n)| *n as usize >= BATCH) {
                    new_batch.execute(params![watermark as i64, next_row])?;
                    batches.push((tx.last_insert_rowid(), 0));
                }
                let batch = batches.last_mut().expect("a batch");
                let added = ins.execute(params![
                    next_row,
                    t.id,
                    t.time_ns,
                    t.customer,
                    t.counterparty,
                    t.from_wallet,
                    t.to_wallet,
                    t.tx_hash,
                    body,
                    batch.0
                ])?;
                if added == 1 {
                    next_row += 1;
                    batch.1 += 1;
                    continue;
                }
                let b: Vec<u8> = stored.query_row([&t.id], |r| r.get(0))?;
                if b == body {
                    done.unchanged += 1;
                } else if conflicts.len() < 20 {
                    conflicts.push(format!(
                        "`{}` is already stored (or given twice) with other content (a transaction id names one transaction)",
                        t.id
                    ));
                }
            }
        }
        if !conflicts.is_empty() {
            // Dropping the transaction rolls every insert back.
            return Err(StoreError::Conflict(format!(
                "nothing imported: {}",
                conflicts.join("; ")
            )));
        }
        batches.retain(|(_, n)| *n > 0);
        for (id, n) in &batches {
            tx.execute(
                "UPDATE batches SET rows = ?1 WHERE id = ?2",
                params![*n as i64, id],
            )?;
        }
        tx.execute("DELETE FROM batches WHERE rows = 0", [])?;
        tx.commit()?;
        Ok(batches)
    }

    /// The bodies of batch `id`, in row order, with its watermark.
    fn batch_bodies(&self, id: i64) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
        let conn = self.conn();
        let (watermark, first_row, rows): (i64, i64, i64) = conn.query_row(
            "SELECT watermark, first_row, rows FROM batches WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut st = conn.prepare_cached(
            "SELECT body FROM tx WHERE row >= ?1 AND row < ?2 AND batch = ?3 ORDER BY row",
        )?;
        let bodies = st
            .query_map([first_row, first_row + rows, id], |r| r.get(0))?
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        Ok((watermark as u64, bodies))
    }

    /// Puts batch `id` in the ledger and numbers it; when an earlier try may
    /// have appended it (`retry`), from where it is found.
    async fn append(
        &self,
        id: i64,
        sink: &dyn LedgerSink,
        retry: bool,
    ) -> Result<bool, StoreError> {
        let (watermark, bodies) = self.batch_bodies(id)?;
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
        self.conn().execute(
            "UPDATE batches SET first_seq = ?1 WHERE id = ?2",
            params![first_seq as i64, id],
        )?;
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
                "SELECT row FROM tx WHERE customer = ?1 AND time_ns >= ?2 AND time_ns < ?3
                 UNION SELECT row FROM tx WHERE counterparty = ?1 AND time_ns >= ?2 AND time_ns < ?3",
                *c,
            ),
            Touching::Wallet(w) => (
                "SELECT row FROM tx WHERE from_wallet = ?1 AND time_ns >= ?2 AND time_ns < ?3
                 UNION SELECT row FROM tx WHERE to_wallet = ?1 AND time_ns >= ?2 AND time_ns < ?3",
                *w,
            ),
            Touching::Hash(h) => (
                "SELECT row FROM tx WHERE tx_hash = ?1 AND time_ns >= ?2 AND time_ns < ?3",
                *h,
            ),
        };
        let mut st = conn.prepare_cached(&format!(
            "SELECT t.body, {SEQ} FROM tx t WHERE t.row IN (SELECT row FROM ({sql}) LIMIT ?4)"
        ))?;
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
            .query_row(
                &format!("SELECT t.body, {SEQ} FROM tx t WHERE t.id = ?1"),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
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
