"""Sends lines as OTLP log records with the OpenTelemetry Python SDK and its
OTLP/HTTP protobuf exporter (gzip), through Python's logging as an
application would. Run by crates/cli/tests/shippers_otlp.rs:

    python3 send_logs.py URL TOKEN FILE

Each line of FILE (CR LF or LF) is one record's body, logged inside a span
(so records carry its trace and span ids, printed first as `TRACE SPAN`).
Exits 1 if any export failed.
"""

import logging
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

url, token, path = sys.argv[1:4]


class Checked(OTLPLogExporter):
    """The exporter, counting the batches it could not deliver."""

    failures = 0

    def export(self, batch):
        r = super().export(batch)
        if r != LogRecordExportResult.SUCCESS:
            Checked.failures += 1
        return r


exporter = Checked(
    endpoint=url,
    headers={"Authorization": f"Bearer {token}"},
    compression=Compression.Gzip,
)
provider = LoggerProvider(
    resource=Resource.create({"service.name": "loghub-py", "host.name": "py-host"})
)
provider.add_log_record_processor(
    BatchLogRecordProcessor(exporter, max_export_batch_size=500, max_queue_size=8192)
)
log = logging.getLogger("loghub")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))

tracer = TracerProvider().get_tracer("pramaan.tests")
with open(path, "rb") as f:
    lines = [l.rstrip(b"\r") for l in f.read().split(b"\n") if l.strip(b"\r")]
with tracer.start_as_current_span("send") as span:
    c = span.get_span_context()
    print(f"{c.trace_id:032x} {c.span_id:016x}", flush=True)
    for i, line in enumerate(lines, 1):
        log.warning(line.decode("utf-8"), extra={"loghub.line": i})
provider.shutdown()
if Checked.failures:
    sys.exit(f"{Checked.failures} export(s) failed")
