"""Sends the lines of a file to pramaan's Elasticsearch `_bulk` endpoint with
the official Python client's `helpers.bulk`, as an application indexing its
logs would; exits non-zero on any error (a refused item raises).

usage: python3 bulk.py URL TOKEN bearer|basic INDEX FILE FIRST_MS HOST

Line i of FILE (LF-separated, a trailing CR dropped, empty lines skipped)
is sent as {"@timestamp": FIRST_MS + i ms, "message": line, "host":
{"name": HOST}, "service": {"name": "loghub"}}, alternately with the
`index` and `create` actions, in chunks of 100.
"""
import datetime
import json
import sys

from elasticsearch import Elasticsearch, helpers

url, token, auth, index, path, first_ms, host = sys.argv[1:]
if auth == "bearer":
    es = Elasticsearch(url, bearer_auth=token, request_timeout=60)
else:
    es = Elasticsearch(url, basic_auth=("shipper", token), request_timeout=60)
# The client's own probe: GET / (version, and the X-Elastic-Product header).
info = es.info()
assert info["version"]["number"].startswith("8."), info
with open(path, encoding="utf-8") as f:
    lines = [l.rstrip("\r") for l in f.read().split("\n") if l.rstrip("\r")]


def actions():
    for i, line in enumerate(lines):
        at = datetime.datetime.fromtimestamp((int(first_ms) + i) / 1000, tz=datetime.timezone.utc)
        yield {
            "_index": index,
            "_op_type": "create" if i % 2 else "index",
            "@timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "message": line,
            "host": {"name": host},
            "service": {"name": "loghub"},
        }


ok, errors = helpers.bulk(es, actions(), chunk_size=100)
print(json.dumps({"ok": ok, "errors": errors}))
sys.exit(0 if ok == len(lines) and not errors else 1)
