//! One writing vault per catalog schema, held with a PostgreSQL session
//! advisory lock for as long as the vault is open.
//!
//! Two `serve` processes (two machines, say) given the same `catalog.url`
//! and schema would number their records from the same sealed mark, seal
//! segments under the same keys, overwrite each other's checkpoint and,
//! at start, delete each other's not yet catalogued segments as orphans.
//! Until each node keeps its own rows and keys (issue 20, several nodes),
//! the second is refused at open, naming the holder. The lock goes with
//! the holder's connection, so a crashed holder frees it at once; a holder
//! whose connection PostgreSQL dropped (a restart) takes it again.

use super::PgLocation;
use crate::bridge::Bridge;
use crate::catalog::CatalogError;
use pramaan_db::pg;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// The lock's first key, "prmn": the second is the schema's name hashed.
const LOCK_CLASS: i32 = 0x7072_6d6e;

/// The schema's writer lock, held until dropped.
pub struct WriterLease {
    /// Its own runtime, which drives the connection and the keeper; dropped
    /// with the lease, which closes the connection and frees the lock.
    _bridge: Bridge,
}

impl WriterLease {
    /// Takes the lock on `at`'s schema for `holder` (this node's origin and
    /// process), or says who holds it.
    pub fn acquire(at: &PgLocation, holder: &str) -> Result<WriterLease, CatalogError> {
        let fail = |why: String| CatalogError::Postgres {
            url: at.shown(),
            why,
        };
        let bridge = Bridge::own("pramaan-lease").map_err(|e| fail(e.to_string()))?;
        let name = format!("pramaan writer {holder} pid {}", std::process::id());
        let first = bridge.handle().spawn(take_within(at.clone(), name.clone()));
        let client = bridge.block_on(first).map_err(|e| fail(e.to_string()))??;
        bridge.handle().spawn(keep(client, at.clone(), name));
        Ok(WriterLease { _bridge: bridge })
    }
}

/// [`take`], trying again for up to 10 s while another holds the lock: a
/// process killed a moment ago leaves its PostgreSQL backend to notice
/// the closed connection, and a restart of this one must not be refused.
async fn take_within(at: PgLocation, name: String) -> Result<Client, CatalogError> {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match take(at.clone(), name.clone()).await {
            Err(Held(_)) if std::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(Held(e)) | Err(Other(e)) => return Err(e),
            Ok(c) => return Ok(c),
        }
    }
}

/// Why [`take`] did not take the lock.
enum Refused {
    /// Another process holds it (the error names it).
    Held(CatalogError),
    /// PostgreSQL could not be asked.
    Other(CatalogError),
}
use Refused::{Held, Other};

/// Connects (named `name`, which the refusal of another shows) and takes
/// the lock; an error names the holder.
async fn take(at: PgLocation, name: String) -> Result<Client, Refused> {
    let fail = |why: String| {
        Other(CatalogError::Postgres {
            url: at.shown(),
            why,
        })
    };
    let mut config: tokio_postgres::Config = at
        .url
        .parse()
        .map_err(|e| fail(format!("catalog.url: {}", pg::why(e))))?;
    config.application_name(&name);
    let (client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| fail(format!("cannot connect: {}", pg::why(e))))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let got: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[&LOCK_CLASS, &at.schema],
        )
        .await
        .map_err(|e| fail(pg::why(e)))?
        .get(0);
    if got {
        return Ok(client);
    }
    let holder = client
        .query_opt(
            "SELECT a.application_name, coalesce(host(a.client_addr), 'a local socket'), \
                    to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = $1 \
               AND l.objid::int = hashtext($2) AND l.objsubid = 2",
            &[&LOCK_CLASS, &at.schema],
        )
        .await
        .ok()
        .flatten()
        .map(|r| {
            format!(
                "{} (from {}, since {} UTC)",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2)
            )
        })
        .unwrap_or_else(|| "another process".into());
    Err(Held(CatalogError::Postgres {
        url: at.shown(),
        why: format!(
            "catalog schema {} is in use by {holder}: one vault writes to a schema; give each \
             node its own catalog.schema and storage prefix (or stop the other one)",
            at.schema
        ),
    }))
}

/// Holds the connection; when PostgreSQL drops it, connects and takes the
/// lock again (every 5 s), saying so when another process took it meanwhile.
async fn keep(mut client: Client, at: PgLocation, name: String) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if !client.is_closed() {
            continue;
        }
        match take(at.clone(), name.clone()).await {
            Ok(c) => {
                tracing::info!(catalog = %at.shown(), schema = %at.schema, "the catalog schema's writer lock is held again");
                client = c;
            }
            Err(Held(e)) | Err(Other(e)) => {
                tracing::error!(catalog = %at.shown(), error = %e, "the catalog schema's writer lock was lost with its connection and cannot be taken again");
            }
        }
    }
}
