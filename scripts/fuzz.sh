#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document with schemathesis (from PyPI) against
# `genfab serve` on loopback, with an admin token, on a fresh SQLite store with a few real
# datasets, and fails on any 5xx answer or any answer that breaks the document's schema.
# The count of requests and of 5xx answers comes from the server's own /metrics.
# Left out: DELETE /api/v1/tokens/{id} (it would revoke the fuzzer's own token, id 1, and leave
# every later request at 401), and schemathesis's coverage phase (schemathesis 4.32 crashes in it
# on Python 3.11 with "AST constructor recursion depth mismatch", inside hypothesis).
#
#   bash scripts/fuzz.sh                 # uses target/debug/genfab (built by the tests)
#   GENFAB_BIN=target/release/genfab FUZZ_SECONDS=300 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${GENFAB_BIN:-target/debug/genfab}
SECONDS_BUDGET=${FUZZ_SECONDS:-150}
MIN_REQUESTS=${FUZZ_MIN_REQUESTS:-2000}
VENV=${SCHEMATHESIS_VENV:-/tmp/schemathesis-venv}

[ -x "$BIN" ] || cargo build --locked --bin genfab
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'schemathesis>=4,<5'
fi

STATE=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=fuzz-admin-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
BASE=http://127.0.0.1:$PORT
unset DATABASE_URL
# no per-token rate or job limit: the fuzzer is one token sending as fast as it can, and a 429
# would end an operation's exploration early
GENFAB_RATE_PER_SECOND=0 GENFAB_MAX_JOBS_PER_TOKEN=0 GENFAB_LOG=warn "$BIN" --state-dir "$STATE" serve --bind "127.0.0.1:$PORT" --no-worker --admin-token "$TOKEN" \
    >"$STATE/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$STATE"' EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -fs "$BASE/readyz" >/dev/null || { cat "$STATE/server.log"; echo "fuzz: the server did not start" >&2; exit 1; }

# real data for the operations to find: ids 1 and 2
for f in steel-plates-faults/steel_plates_faults.csv concrete/Concrete_Data.csv; do
    name=$(basename "$(dirname "$f")")
    curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
        --data-binary "@data/$f" "$BASE/api/v1/datasets?name=$name"
done

set +e
"$VENV/bin/schemathesis" run "$BASE/api/v1/openapi.json" \
    -H "Authorization: Bearer $TOKEN" \
    --checks "${FUZZ_CHECKS:-not_a_server_error,response_schema_conformance,content_type_conformance}" \
    --phases examples,fuzzing \
    --exclude-path-regex '^/api/v1/tokens/' \
    --max-time "$SECONDS_BUDGET" \
    --workers 2 \
    --request-timeout 30 \
    --suppress-health-check all \
    --continue-on-failure
ST=$?
set -e

METRICS=$(curl -fs "$BASE/metrics")
TOTAL=$(echo "$METRICS" | awk '/^genfab_http_requests_total\{/ && !/route="\/metrics"/ && !/route="\/readyz"/ {s+=$NF} END {print s+0}')
SERVER_ERRORS=$(echo "$METRICS" | awk '/^genfab_http_requests_total\{/ && /status="5[0-9][0-9]"/ {s+=$NF} END {print s+0}')
echo "fuzz: $TOTAL requests answered, $SERVER_ERRORS with 5xx, schemathesis exit $ST"
if grep -qi "panicked" "$STATE/server.log"; then
    grep -i -A3 "panicked" "$STATE/server.log" >&2
    echo "fuzz: the server panicked" >&2
    exit 1
fi
[ "$SERVER_ERRORS" -eq 0 ] || { tail -50 "$STATE/server.log" >&2; echo "fuzz: 5xx answers" >&2; exit 1; }
[ "$TOTAL" -ge "$MIN_REQUESTS" ] || { echo "fuzz: only $TOTAL requests (want $MIN_REQUESTS)" >&2; exit 1; }
[ "$ST" -eq 0 ] || { echo "fuzz: schemathesis found failures (above)" >&2; exit 1; }
echo "fuzz: ok"
