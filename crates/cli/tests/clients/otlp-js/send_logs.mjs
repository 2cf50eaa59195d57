// Sends lines as OTLP log records with the OpenTelemetry JS SDK's OTLP/HTTP
// exporter (JSON), as an application would. Run by crates/cli/tests/shippers_otlp.rs:
//   node send_logs.mjs URL TOKEN FILE TRACE_ID SPAN_ID
// Each line of FILE (CR LF or LF) is one record's body; exits 1 if any export failed.
import { readFileSync } from 'node:fs';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';

const [url, token, file, traceId, spanId] = process.argv.slice(2);
const exporter = new OTLPLogExporter({ url, headers: { Authorization: `Bearer ${token}` } });
let failures = 0;
const checked = {
  export(logs, done) {
    exporter.export(logs, (r) => {
      if (r.code !== 0) {
        failures += 1;
        console.error(`export failed: ${r.error}`);
      }
      done(r);
    });
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush(),
};
const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': 'loghub-js', 'host.name': 'js-host' }),
  processors: [new BatchLogRecordProcessor({ exporter: checked, maxExportBatchSize: 256, maxQueueSize: 8192 })],
});
const logger = provider.getLogger('pramaan.tests', '1.0.0');
const ctx = trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: TraceFlags.SAMPLED });
const lines = readFileSync(file, 'utf8').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l !== '');
lines.forEach((line, i) => {
  logger.emit({
    severityNumber: 17,
    severityText: 'ERROR',
    body: line,
    attributes: { 'loghub.line': i + 1, 'loghub.file': file.split('/').pop() },
    context: ctx,
  });
});
await provider.shutdown();
if (failures > 0) process.exit(1);
console.log(`sent ${lines.length}`);
