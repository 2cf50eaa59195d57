//! `clock.db` (SQLite in the data directory): the time series of samples,
//! each round's host state, the latest per-source skew report, and the
//! outbox of the samples' `pramaan:clock` records (`pramaan_db::outbox`).

use crate::client::{Sample, State};
use crate::host::HostSync;
use crate::skew::SourceSkew;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("clock database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("clock database {path}: stored JSON in {what}: {source}")]
    Json {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("clock database: {0}")]
    Open(#[from] pramaan_db::OpenError),
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// One point of the time series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesPoint {
    pub at_ns: i64,
    pub server: String,
    pub state: String,
    pub offset_ns: Option<i64>,
}

/// A round as stored: when, the host state, the samples.
#[derive(Clone, Debug)]
pub struct StoredRound {
    pub at_ns: i64,
    pub host: HostSync,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = pramaan_db::open(path, &crate::schema::SCHEMA, pramaan_db::Mode::Write)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// The connection, for the outbox flusher (`crate::Monitor::flush`).
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Samples whose `pramaan:clock` record is not yet in the ledger.
    pub fn outbox_pending(&self) -> Result<u64, StoreError> {
        pramaan_db::outbox::pending(&self.conn).map_err(self.err())
    }

    /// Stores one round and, in the same transaction, stages each sample's
    /// ledger record (`records[i]` for `samples[i]`) in the outbox with
    /// `watermark`, the ledger's committed count now; the flusher appends
    /// them and fills `samples.ledger_seq`. Returns the round's id.
    pub fn record_round(
        &mut self,
        at_ns: i64,
        host: &HostSync,
        samples: &[Sample],
        records: &[Vec<u8>],
        watermark: u64,
    ) -> Result<i64, StoreError> {
        self.insert(at_ns, host, samples, &[], Some((records, watermark)))
    }

    /// Each sample's record sequence number in round `round`, in order.
    pub fn round_seqs(&self, round: i64) -> Result<Vec<Option<u64>>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT ledger_seq FROM samples WHERE round_id = ?1 ORDER BY id")
            .map_err(self.err())?;
        let v = st
            .query_map([round], |r| {
                r.get::<_, Option<i64>>(0).map(|s| s.map(|s| s as u64))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(v)
    }

    /// Opens for reading only (a CLI beside a running server, or after).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = pramaan_db::open(path, &crate::schema::SCHEMA, pramaan_db::Mode::ReadOnly)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores one round whose records are already in the ledger (at
    /// `ledger_seqs`, where known); returns its id. The monitor uses
    /// [`Store::record_round`].
    pub fn insert_round(
        &mut self,
        at_ns: i64,
        host: &HostSync,
        samples: &[Sample],
        ledger_seqs: &[Option<u64>],
    ) -> Result<i64, StoreError> {
        self.insert(at_ns, host, samples, ledger_seqs, None)
    }

    fn insert(
        &mut self,
        at_ns: i64,
        host: &HostSync,
        samples: &[Sample],
        ledger_seqs: &[Option<u64>],
        staged: Option<(&[Vec<u8>], u64)>,
    ) -> Result<i64, StoreError> {
        let host_json = serde_json::to_string(host).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            what: "host",
            source,
        })?;
        let path = self.path.clone();
        let err = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute(
            "INSERT INTO rounds (at_ns, host_state, host_json) VALUES (?1, ?2, ?3)",
            params![at_ns, host.state_name(), host_json],
        )
        .map_err(&err)?;
        let round = tx.last_insert_rowid();
        for (i, s) in samples.iter().enumerate() {
            let seq = ledger_seqs.get(i).copied().flatten().map(|v| v as i64);
            tx.execute(
                "INSERT INTO samples (round_id, at_ns, server, address, state, detail, offset_ns, delay_ns,
                    stratum, refid, leap, root_delay_ns, root_dispersion_ns, ledger_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    round,
                    s.at_ns,
                    s.server,
                    s.address,
                    s.state.name(),
                    s.state.detail(),
                    s.offset_ns,
                    s.delay_ns,
                    s.stratum,
                    s.refid,
                    s.leap.map(|l| l.as_str()),
                    s.root_delay_ns,
                    s.root_dispersion_ns,
                    seq,
                ],
            )
            .map_err(&err)?;
            if let Some(body) = staged.and_then(|(records, _)| records.get(i)) {
                let watermark = staged.map_or(0, |(_, w)| w);
                let sample = tx.last_insert_rowid();
                pramaan_db::outbox::stage_for(&tx, crate::LEDGER_SOURCE, body, watermark, sample)
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(round)
    }

    /// The latest round, if any.
    pub fn latest_round(&self) -> Result<Option<StoredRound>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT at_ns, host_json FROM rounds ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        row.map(|(at_ns, json)| {
            let host = serde_json::from_str(&json).map_err(|source| StoreError::Json {
                path: self.path.clone(),
                what: "rounds.host_json",
                source,
            })?;
            Ok(StoredRound { at_ns, host })
        })
        .transpose()
    }

    /// The newest sample of each server, with its ledger sequence number.
    pub fn latest_samples(&self) -> Result<Vec<(Sample, Option<u64>)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.server, s.address, s.at_ns, s.state, s.detail, s.offset_ns, s.delay_ns,
                        s.stratum, s.refid, s.leap, s.root_delay_ns, s.root_dispersion_ns, s.ledger_seq
                 FROM samples s
                 JOIN (SELECT server, max(id) AS id FROM samples GROUP BY server) m ON m.id = s.id
                 ORDER BY s.server",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                let leap: Option<String> = r.get(9)?;
                let seq: Option<i64> = r.get(12)?;
                Ok((
                    Sample {
                        server: r.get(0)?,
                        address: r.get(1)?,
                        at_ns: r.get(2)?,
                        state: State::from_parts(&r.get::<_, String>(3)?, r.get(4)?),
                        offset_ns: r.get(5)?,
                        delay_ns: r.get(6)?,
                        stratum: r.get(7)?,
                        refid: r.get(8)?,
                        leap: leap.as_deref().and_then(leap_from_str),
                        root_delay_ns: r.get(10)?,
                        root_dispersion_ns: r.get(11)?,
                    },
                    seq.map(|s| s as u64),
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Every sample since `from_ns` (the time series), oldest first.
    pub fn samples_since(&self, from_ns: i64) -> Result<Vec<SeriesPoint>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT at_ns, server, state, offset_ns FROM samples WHERE at_ns >= ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([from_ns], |r| {
                Ok(SeriesPoint {
                    at_ns: r.get(0)?,
                    server: r.get(1)?,
                    state: r.get(2)?,
                    offset_ns: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    pub fn count_samples(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM samples", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// Deletes samples and rounds older than `cutoff_ns`; returns how many samples.
    pub fn prune(&self, cutoff_ns: i64) -> Result<usize, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM samples WHERE at_ns < ?1", [cutoff_ns])
            .map_err(self.err())?;
        self.conn
            .execute("DELETE FROM rounds WHERE at_ns < ?1", [cutoff_ns])
            .map_err(self.err())?;
        // Records already in the ledger; pending ones stay until appended.
        pramaan_db::outbox::prune(&self.conn, crate::LEDGER_SOURCE, cutoff_ns)
            .map_err(self.err())?;
        Ok(n)
    }

    pub fn save_skew(
        &self,
        now_ns: i64,
        last_seq: Option<u64>,
        sources: &[SourceSkew],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(sources).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            what: "skew",
            source,
        })?;
        self.conn
            .execute(
                "INSERT INTO skew (id, updated_ns, last_seq, sources_json) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET updated_ns = ?1, last_seq = ?2, sources_json = ?3",
                params![now_ns, last_seq.map(|s| s as i64), json],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The last saved skew report: (when, sources).
    pub fn load_skew(&self) -> Result<Option<(i64, Vec<SourceSkew>)>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT updated_ns, sources_json FROM skew WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        row.map(|(at, json)| {
            serde_json::from_str(&json)
                .map(|s| (at, s))
                .map_err(|source| StoreError::Json {
                    path: self.path.clone(),
                    what: "skew.sources_json",
                    source,
                })
        })
        .transpose()
    }
}

fn leap_from_str(s: &str) -> Option<crate::packet::Leap> {
    use crate::packet::Leap;
    [
        Leap::NoWarning,
        Leap::Insert,
        Leap::Delete,
        Leap::Unsynchronised,
    ]
    .into_iter()
    .find(|l| l.as_str() == s)
}
