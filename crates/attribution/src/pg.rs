//! The PostgreSQL store (`registry.url = "postgres://..."`): one table with
//! `inet`, `int4range` and `tstzrange` columns and a GiST index on
//! `(net inet_ops, during)`. Exact times are kept in nanosecond columns and
//! rechecked; `during` is the interval widened to whole microseconds so the
//! index never drops a true match.

use crate::index::Index;
use crate::model::{Binding, Kind, Net, Probe};
use crate::store::{BindingStore, Erasure, FeedState, StoreError, StoreFuture, StoreStats};
use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row};

pub struct PgStore {
    client: Mutex<Client>,
    schema: String,
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// `[floor(start µs), ceil(end µs))` as a tstzrange literal.
fn during(start_ns: i64, end_ns: i64) -> String {
    let lo = start_ns.div_euclid(1000);
    let hi = end_ns.div_euclid(1000) + i64::from(end_ns.rem_euclid(1000) != 0);
    let ts = |us: i64| -> String {
        if us >= 9_000_000_000_000_000 {
            "infinity".into()
        } else {
            pramaan_core::time::rfc3339_utc(us.saturating_mul(1000))
        }
    };
    format!("[\"{}\",\"{}\")", ts(lo), ts(hi))
}

fn copy_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn evidence_literal(ev: &[u64]) -> String {
    let v: Vec<String> = ev.iter().map(|x| x.to_string()).collect();
    format!("{{{}}}", v.join(","))
}

fn net_text(n: &Net) -> String {
    n.to_string()
}

const COLS: &str = "host(net) || '/' || masklen(net), lower(ports), upper(ports) - 1, start_ns, end_ns, open, subscriber, session, kind, detail, evidence, key";

fn row_binding(r: &Row) -> Result<Binding, StoreError> {
    let net: String = r.get(0);
    let ev: Vec<i64> = r.get(10);
    let kind: String = r.get(8);
    let mut n = Net::parse(&net).map_err(|e| StoreError::Postgres(e.to_string()))?;
    n.bits &= crate::model::mask(n.len);
    Ok(Binding {
        net: n,
        port_lo: r.get::<_, i32>(1) as u16,
        port_hi: r.get::<_, i32>(2) as u16,
        start_ns: r.get(3),
        end_ns: r.get(4),
        open: r.get(5),
        subscriber: r.get(6),
        session: r.get(7),
        kind: Kind::parse(&kind).unwrap_or(Kind::Import),
        detail: r.get(9),
        evidence: ev.into_iter().map(|x| x as u64).collect(),
        key: r.get(11),
    })
}

/// The bindings' PostgreSQL schema, as steps (`{schema}`: its name);
/// append a step to change it, never edit one.
pub const PG_SCHEMA: pramaan_db::pg::PgSchema = pramaan_db::pg::PgSchema {
    component: "attribution",
    steps: &[PG_V1],
};

/// Version 1: the tables from before versions were kept, as they were.
const PG_V1: &str = "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE TABLE IF NOT EXISTS {schema}.bindings (
                   id bigserial PRIMARY KEY,
                   key text UNIQUE,
                   net inet NOT NULL,
                   ports int4range NOT NULL,
                   during tstzrange NOT NULL,
                   start_ns bigint NOT NULL,
                   end_ns bigint NOT NULL,
                   open boolean NOT NULL,
                   subscriber text NOT NULL,
                   session text NOT NULL,
                   kind text NOT NULL,
                   detail text NOT NULL,
                   evidence bigint[] NOT NULL);
                 CREATE INDEX IF NOT EXISTS bindings_gist ON {schema}.bindings USING gist (net inet_ops, during);
                 CREATE INDEX IF NOT EXISTS bindings_open ON {schema}.bindings (open) WHERE open;
                 CREATE INDEX IF NOT EXISTS bindings_subscriber ON {schema}.bindings (subscriber, start_ns);
                 CREATE TABLE IF NOT EXISTS {schema}.feed_progress (id int PRIMARY KEY, last_seq bigint NOT NULL);";

impl PgStore {
    /// Connects and creates the schema and tables if needed. `schema` must
    /// be a plain lower-case identifier.
    pub async fn connect(url: &str, schema: &str) -> Result<PgStore, StoreError> {
        if !ident_ok(schema) {
            return Err(StoreError::Postgres(format!(
                "`{schema}` is not a plain schema name (a-z, 0-9, _)"
            )));
        }
        let (mut client, conn) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "PostgreSQL attribution connection ended");
            }
        });
        pramaan_db::pg::migrate(&mut client, schema, &PG_SCHEMA).await?;
        Ok(PgStore {
            client: Mutex::new(client),
            schema: schema.to_owned(),
        })
    }

    /// Drops the schema and everything in it (tests).
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let c = self.client.lock().await;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await?;
        Ok(())
    }

    async fn lookup_pg(&self, p: &Probe) -> Result<Vec<Binding>, StoreError> {
        let s = &self.schema;
        let c = self.client.lock().await;
        let port = p.port.map(i32::from);
        let at_us = during(p.at_ns, p.at_ns + 1);
        let ts = at_us
            .trim_start_matches("[\"")
            .split('"')
            .next()
            .unwrap_or("")
            .to_owned();
        let rows = c
            .query(
                &format!(
                    "SELECT {COLS} FROM {s}.bindings
                     WHERE net >>= $1::text::inet AND during @> $2::text::timestamptz
                       AND start_ns <= $3 AND end_ns > $3
                       AND ($4::int4 IS NULL OR ports @> $4::int4)
                     ORDER BY start_ns, session"
                ),
                &[&p.addr.to_string(), &ts, &p.at_ns, &port],
            )
            .await?;
        rows.iter().map(row_binding).collect()
    }

    async fn apply_pg(
        &self,
        upserts: Vec<Binding>,
        last_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        let s = &self.schema;
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        let ins = tx
            .prepare(&format!(
                "INSERT INTO {s}.bindings (key, net, ports, during, start_ns, end_ns, open, subscriber, session, kind, detail, evidence)
                 VALUES ($1, $2::text::inet, int4range($3::int4, $4::int4, '[]'), $5::text::tstzrange, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (key) DO UPDATE SET net = EXCLUDED.net, ports = EXCLUDED.ports, during = EXCLUDED.during,
                   start_ns = EXCLUDED.start_ns, end_ns = EXCLUDED.end_ns, open = EXCLUDED.open,
                   subscriber = EXCLUDED.subscriber, session = EXCLUDED.session, kind = EXCLUDED.kind,
                   detail = EXCLUDED.detail, evidence = EXCLUDED.evidence"
            ))
            .await?;
        for b in &upserts {
            let ev: Vec<i64> = b.evidence.iter().map(|&x| x as i64).collect();
            tx.execute(
                &ins,
                &[
                    &b.key,
                    &net_text(&b.net),
                    &i32::from(b.port_lo),
                    &i32::from(b.port_hi),
                    &during(b.start_ns, b.end_ns),
                    &b.start_ns,
                    &b.end_ns,
                    &b.open,
                    &b.subscriber,
                    &b.session,
                    &b.kind.as_str(),
                    &b.detail,
                    &ev,
                ],
            )
            .await?;
        }
        if let Some(seq) = last_seq {
            tx.execute(
                &format!(
                    "INSERT INTO {s}.feed_progress (id, last_seq) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET last_seq = EXCLUDED.last_seq"
                ),
                &[&(seq as i64)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn import_pg(&self, idx: Index) -> Result<u64, StoreError> {
        let s = &self.schema;
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        let sink = tx
            .copy_in(&format!(
                "COPY {s}.bindings (key, net, ports, during, start_ns, end_ns, open, subscriber, session, kind, detail, evidence) FROM STDIN"
            ))
            .await?;
        futures::pin_mut!(sink);
        let mut buf = String::with_capacity(1 << 20);
        let mut rows = Vec::new();
        idx.for_each(|b| rows.push(b));
        let n = rows.len() as u64;
        for b in rows {
            match &b.key {
                Some(k) => copy_escape(k, &mut buf),
                None => buf.push_str("\\N"),
            }
            buf.push('\t');
            buf.push_str(&net_text(&b.net));
            buf.push_str(&format!(
                "\t[{},{}]\t{}\t{}\t{}\t{}\t",
                b.port_lo,
                b.port_hi,
                during(b.start_ns, b.end_ns),
                b.start_ns,
                b.end_ns,
                if b.open { "t" } else { "f" }
            ));
            copy_escape(&b.subscriber, &mut buf);
            buf.push('\t');
            copy_escape(&b.session, &mut buf);
            buf.push('\t');
            buf.push_str(b.kind.as_str());
            buf.push('\t');
            copy_escape(&b.detail, &mut buf);
            buf.push('\t');
            buf.push_str(&evidence_literal(&b.evidence));
            buf.push('\n');
            if buf.len() > (1 << 20) {
                sink.send(Bytes::from(std::mem::take(&mut buf)))
                    .await
                    .map_err(StoreError::from)?;
            }
        }
        if !buf.is_empty() {
            sink.send(Bytes::from(buf))
                .await
                .map_err(StoreError::from)?;
        }
        sink.finish().await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn feed_state_pg(&self) -> Result<FeedState, StoreError> {
        let s = &self.schema;
        let c = self.client.lock().await;
        let last: Option<i64> = c
            .query_opt(
                &format!("SELECT last_seq FROM {s}.feed_progress WHERE id = 1"),
                &[],
            )
            .await?
            .map(|r| r.get(0));
        let rows = c
            .query(&format!("SELECT {COLS} FROM {s}.bindings WHERE open"), &[])
            .await?;
        Ok(FeedState {
            last_seq: last.map(|x| x as u64),
            open: rows.iter().map(row_binding).collect::<Result<_, _>>()?,
        })
    }

    /// [`BindingStore::erase`]: the candidates (of an erased subscriber, or
    /// ended before the cut) are read, [`Erasure::apply`] decides, and the
    /// rows that go are overwritten in one transaction.
    async fn erase_pg(&self, e: &Erasure) -> Result<u64, StoreError> {
        let s = &self.schema;
        let erased: Vec<&str> = e.subscribers.keys().map(String::as_str).collect();
        let mut c = self.client.lock().await;
        let tx = c.transaction().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {COLS}, id FROM {s}.bindings
                     WHERE NOT open AND kind <> 'erased' AND (subscriber = ANY($1) OR end_ns < $2)"
                ),
                &[&erased, &e.ended_before_ns],
            )
            .await?;
        let upd = tx
            .prepare(&format!(
                "UPDATE {s}.bindings SET subscriber = $2, session = $3, kind = $4, detail = $5,
                   evidence = '{{}}', key = NULL WHERE id = $1"
            ))
            .await?;
        let mut n = 0;
        for r in &rows {
            let Some(left) = e.apply(&row_binding(r)?) else {
                continue;
            };
            let id: i64 = r.get(12);
            tx.execute(
                &upd,
                &[
                    &id,
                    &left.subscriber,
                    &left.session,
                    &left.kind.as_str(),
                    &left.detail,
                ],
            )
            .await?;
            n += 1;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn stats_pg(&self) -> Result<StoreStats, StoreError> {
        let s = &self.schema;
        let c = self.client.lock().await;
        let r = c
            .query_one(
                &format!(
                    "SELECT count(*) FILTER (WHERE NOT open), count(*) FILTER (WHERE open),
                            (SELECT last_seq FROM {s}.feed_progress WHERE id = 1)
                     FROM {s}.bindings"
                ),
                &[],
            )
            .await?;
        Ok(StoreStats {
            bindings: r.get::<_, i64>(0) as u64,
            open: r.get::<_, i64>(1) as u64,
            last_seq: r.get::<_, Option<i64>>(2).map(|x| x as u64),
            backend: "postgresql",
        })
    }
}

impl BindingStore for PgStore {
    fn lookup(&self, probe: Probe) -> StoreFuture<'_, Vec<Binding>> {
        Box::pin(async move { self.lookup_pg(&probe).await })
    }
    fn apply(&self, upserts: Vec<Binding>, last_seq: Option<u64>) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.apply_pg(upserts, last_seq).await })
    }
    fn feed_state(&self) -> StoreFuture<'_, FeedState> {
        Box::pin(async move { self.feed_state_pg().await })
    }
    fn import(&self, bindings: Index) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.import_pg(bindings).await })
    }
    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        Box::pin(async move { self.stats_pg().await })
    }
    fn erase(&self, e: Erasure) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.erase_pg(&e).await })
    }
    fn of_subscriber(
        &self,
        subscriber: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> StoreFuture<'_, Vec<Binding>> {
        let subscriber = subscriber.to_owned();
        Box::pin(async move {
            let s = &self.schema;
            let c = self.client.lock().await;
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLS} FROM {s}.bindings
                         WHERE subscriber = $1 AND start_ns < $3 AND end_ns > $2
                         ORDER BY start_ns, session"
                    ),
                    &[&subscriber, &from_ns, &to_ns],
                )
                .await?;
            rows.iter().map(row_binding).collect()
        })
    }
}
