#!/usr/bin/env bash
# Builds seed corpora for the fuzz targets from the Loghub samples:
#   fuzz/corpus/{rfc5424,rfc3164,framing,ndjson,relp_frame,elastic_bulk,loki_push}/
# Usage: fuzz/seed.sh [LOGHUB_DIR]   (default: ../shared/data/loghub from the repo root)
# The corpora are not committed (see .gitignore).
set -euo pipefail
export LC_ALL=C  # byte lengths for octet counting, byte-wise sed

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
loghub="${1:-$repo/../shared/data/loghub}"
per_file="${SEEDS_PER_FILE:-40}"

if ! ls "$loghub"/*.log >/dev/null 2>&1; then
    echo "no Loghub *.log files in $loghub" >&2
    exit 1
fi

corpus="$here/corpus"
mkdir -p "$corpus"/{rfc5424,rfc3164,framing,ndjson,relp_frame,elastic_bulk,loki_push}

# Every (2000 / per_file)-th line of each file, without its CR.
sample() {
    local step=$(( 2000 / per_file ))
    awk -v step="$step" 'NR % step == 1 { sub(/\r$/, ""); print }' "$1"
}

n=0
for f in "$loghub"/*.log; do
    base="$(basename "$f" .log)"
    i=0
    while IFS= read -r line; do
        i=$((i + 1))
        id="${base}_$i"
        # RFC 3164 target: the line as it is (raw, BSD without PRI) and with a PRI.
        printf '%s' "$line" > "$corpus/rfc3164/$id"
        printf '<%d>%s' $(( (i * 7) % 192 )) "$line" > "$corpus/rfc3164/${id}_pri"
        # RFC 5424 target: the line as MSG under a full header, some with SD and a BOM.
        printf '<%d>1 2026-01-0%dT10:%02d:00.%06d+05:30 host-%s %s %d ID%d [origin ip="10.0.0.%d" x="a\\]b"] \xef\xbb\xbf%s' \
            $(( (i * 11) % 192 )) $(( i % 9 + 1 )) $(( i % 60 )) "$i" "$base" "$base" "$i" "$i" $(( i % 255 )) "$line" \
            > "$corpus/rfc5424/$id"
        printf '<14>1 - - - - - - %s' "$line" > "$corpus/rfc5424/${id}_nil"
        # NDJSON target: first byte is the line limit selector, then a body
        # mixing a JSON object, the raw line and a blank CRLF line.
        esc="$(printf '%s' "$line" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
        printf '\xff{"message":"%s","host":"%s","ts":%d}\r\n\r\n%s\n' "$esc" "$base" $(( 1700000000 + i )) "$line" \
            > "$corpus/ndjson/$id"
        # _bulk target: the limit selector, then an index and a create item (the URL's index).
        printf '\xff{"index":{"_index":"%s","_id":"%d"}}\n{"@timestamp":"2026-01-01T00:00:%02dZ","message":"%s"}\n{"create":{}}\n{"message":"%s"}\n' \
            "$base" "$i" $(( i % 60 )) "$esc" "$esc" > "$corpus/elastic_bulk/$id"
        # Loki target: a JSON push body with one stream (protobuf seeds come from mutation).
        printf '{"streams":[{"stream":{"job":"%s","host":"h%d"},"values":[["%d000000000","%s"],["%d000000001","%s",{"trace_id":"t%d"}]]}]}' \
            "$base" "$i" $(( 1700000000 + i )) "$esc" $(( 1700000000 + i )) "$esc" "$i" > "$corpus/loki_push/$id"
        n=$((n + 1))
    done < <(sample "$f")
    # Framing target: control bytes (max_frame = 0x01ff % 512 + 1 = 512; 2 read sizes: 5, 11),
    # then a stream mixing octet-counted and newline frames.
    {
        printf '\xff\x01\x02\x05\x0b'
        j=0
        while IFS= read -r line; do
            j=$((j + 1))
            if (( j % 2 )); then
                printf '%d %s' "${#line}" "$line"
            else
                printf '%s\n' "$line"
            fi
        done < <(sample "$f" | head -n 12)
    } > "$corpus/framing/$base"
    # RELP target: the same control bytes, then a session as rsyslog's omrelp
    # sends it (open, syslog frames with RFC 3164 lines, close).
    {
        printf '\xff\x01\x02\x05\x0b'
        offers='relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog'
        printf '1 open %d %b\n' "$(printf '%b' "$offers" | wc -c)" "$offers"
        j=1
        while IFS= read -r line; do
            j=$((j + 1))
            msg="<13>Dec  6 10:00:00 host $base: $line"
            printf '%d syslog %d %s\n' "$j" "${#msg}" "$msg"
        done < <(sample "$f" | head -n 12)
        printf '%d close 0\n' $((j + 1))
    } > "$corpus/relp_frame/$base"
done
# Committed seeds of other targets (real NTP packets, chronyc output).
for d in "$here"/seeds/*/; do
    [ -d "$d" ] || continue
    mkdir -p "$corpus/$(basename "$d")"
    cp "$d"* "$corpus/$(basename "$d")/"
done
echo "seeded $n lines from $loghub into $corpus"
