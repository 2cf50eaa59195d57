// Sends the lines of a file to pramaan's Loki push endpoint with the npm
// package winston-loki, as an application logging through winston would,
// then exits 0 once every batch was acknowledged (non-zero on any error).
//
// usage: node send.js URL TOKEN protobuf|json LABELS_JSON FILE FIRST_MS
//
// The token goes as the Basic password (winston-loki only does Basic). Line
// i of FILE (LF-separated, a trailing CR dropped, empty lines skipped) is
// sent with the timestamp FIRST_MS + i milliseconds.
'use strict'
const fs = require('fs')
const [url, token, mode, labels, file, firstMs] = process.argv.slice(2)
if (mode !== 'protobuf' && mode !== 'json') throw new Error(`mode ${mode}: protobuf or json`)
// winston-loki quietly falls back to JSON without snappy: fail loudly instead.
if (mode === 'protobuf') require('snappy')
const winston = require('winston')
const LokiTransport = require('winston-loki')

let failed = null
const transport = new LokiTransport({
  host: url,
  basicAuth: `shipper:${token}`,
  json: mode === 'json',
  labels: JSON.parse(labels),
  replaceTimestamp: false,
  gracefulShutdown: false,
  interval: 0.2,
  timeout: 30000,
  format: winston.format.printf(info => info.message),
  onConnectionError: err => { failed = err }
})
const logger = winston.createLogger({ level: 'info', transports: [transport] })
const lines = fs.readFileSync(file, 'utf8').split('\n')
  .map(l => l.replace(/\r$/, '')).filter(l => l.length > 0)
lines.forEach((line, i) => {
  logger.info({ message: line, timestamp: new Date(Number(firstMs) + i).toISOString() })
})
// Once winston has handed every line to the transport, flush and stop.
logger.on('finish', () => {
  transport.close().then(() => {
    if (failed) {
      console.error(`winston-loki: ${failed.message}`)
      process.exit(1)
    }
    console.log(`sent ${lines.length} lines`)
  })
})
logger.end()
