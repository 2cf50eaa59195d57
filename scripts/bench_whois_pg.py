#!/usr/bin/env python3
"""The PostgreSQL peer of the concurrent whois benchmark (scripts/bench-attribution).

  bench_whois_pg.py --csv BINDINGS.csv --probes PROBES.csv --dsn DSN --clients 8 --out R.jsonl

The table and GiST index are those of shared/bench/attribution/bench_engines.py's
`gist` variant (same DDL, same query, same probe reading, imported from it), kept
in their own table `bindings_whois` between runs (reloaded when its row count
differs from the CSV's). CLIENTS processes, each with its own connection and
prepared statement, take probe i when i % CLIENTS is theirs: an untimed warm-up
pass, then the timed pass, which all start together. Every latency counts in
the percentiles; lookups/s is the probes over the timed pass's wall time.
"""
import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.environ.get("ATTRIB_BENCH", os.path.join(HERE, "..", "..", "shared", "bench", "attribution"))
spec = importlib.util.spec_from_file_location("bench_engines", os.path.join(PEER, "bench_engines.py"))
be = importlib.util.module_from_spec(spec)
spec.loader.exec_module(be)

TABLE = "bindings_whois"
QUERY = (f"SELECT session_id, subscriber_id FROM {TABLE} "
         "WHERE ip = %(ip)s::inet AND tstzrange(start_utc, end_utc, '[)') @> %(ts)s::timestamptz "
         "AND port_start <= %(port)s::int4 AND port_end >= %(port)s::int4")


def csv_rows(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1


def ensure_loaded(dsn, csv_path):
    import psycopg
    want = csv_rows(csv_path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
        if cur.fetchone()[0]:
            cur.execute(f"SELECT count(*) FROM {TABLE}")
            if cur.fetchone()[0] == want:
                be.log(f"postgres: {TABLE} already holds {want} rows")
                return
        be.log(f"postgres: loading {want} rows into {TABLE}")
        t = time.time()
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        with conn.transaction():
            cur.execute(f"""CREATE TABLE {TABLE} (
                ip inet NOT NULL, port_start int4 NOT NULL, port_end int4 NOT NULL,
                start_utc timestamptz NOT NULL, end_utc timestamptz NOT NULL,
                subscriber_id int4 NOT NULL, session_id int8 NOT NULL)""")
            cur.execute(f"COPY {TABLE} FROM '{os.path.abspath(csv_path)}' (FORMAT csv, HEADER true, FREEZE true)")
        cur.execute(f"CREATE INDEX {TABLE}_gist ON {TABLE} USING gist (ip, tstzrange(start_utc, end_utc, '[)'))")
        cur.execute(f"VACUUM (ANALYZE) {TABLE}")
        be.log(f"postgres: loaded and indexed in {time.time() - t:.0f} s")


def client(dsn, probes, start, out):
    import psycopg
    conn = psycopg.connect(dsn, autocommit=True)

    def fn(p):
        return conn.execute(QUERY, {"ip": p["ip"], "ts": p["ts"], "port": p["port"]}, prepare=True).fetchall()
    for p in probes:
        fn(p)
    start.wait()
    lat, correct = [], 0
    pc = time.perf_counter_ns
    for p in probes:
        t = pc()
        rows = fn(p)
        lat.append(pc() - t)
        got = [tuple(int(x) for x in r) for r in rows]
        correct += got == ([] if p["expected"] is None else [p["expected"]])
    out.put((lat, correct))
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--probes", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ensure_loaded(a.dsn, a.csv)
    probes = be.load_probes(a.probes)
    start = mp.Barrier(a.clients + 1)
    out = mp.Queue()
    procs = [mp.Process(target=client, args=(a.dsn, probes[c::a.clients], start, out)) for c in range(a.clients)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    lat, correct = [], 0
    for _ in procs:
        l, c = out.get()
        lat.extend(l)
        correct += c
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    us = sorted(x / 1000.0 for x in lat)
    rec = {"engine": "postgres", "variant": "gist(ip, tstzrange) @>", "clients": a.clients,
           "p50_us": be.pct(us, 50), "p99_us": be.pct(us, 99), "max_us": us[-1],
           "lookups_per_s": len(probes) / wall, "correct": correct, "total": len(probes)}
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    sys.exit(main())
