#!/usr/bin/env bash
# The MES load and fault run of issue 9, outside CI (it needs a release build and minutes):
# a private Postgres (initdb in a temp folder, its own port, so the machine's server is left
# alone), `genfab serve` on it, real data (concrete for appends, AI4I 2020 for a calibrated
# detector), a training and a study run working in the background, and then
# `genfab bench load`: 50 clients for 60 s mixing appends (Idempotency-Key, deliberate resends,
# retries until acknowledged), scoring and reads; with LOAD_OUTAGE=1, Postgres is stopped 15 s
# in for 30 s. Prints the JSON report (p50/p99 per route, outage answers, recovery time, the
# exactly-once row check) and fails when an acknowledged append is missing or doubled.
#
#   bash scripts/load.sh                       # no outage
#   LOAD_OUTAGE=1 bash scripts/load.sh         # Postgres down for 30 s in the middle
#   LOAD_CLIENTS=50 LOAD_SECONDS=60 GENFAB_BIN=target/release/genfab bash scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${GENFAB_BIN:-target/release/genfab}
CLIENTS=${LOAD_CLIENTS:-50}
DURATION=${LOAD_SECONDS:-60}
[ -x "$BIN" ] || cargo build --release --locked --bin genfab

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/genfab-load-XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PGPORT=$(free_port)
PORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$WORK/pg" -A trust -U postgres --no-sync >/dev/null
PGCTL="$PGBIN/pg_ctl -D $WORK/pg -o '-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1' -l $WORK/pg.log -w"
start_pg() { as_pg sh -c "$PGCTL start" >/dev/null; }
stop_pg() { as_pg sh -c "$PGBIN/pg_ctl -D $WORK/pg -m fast -w stop" >/dev/null; }
start_pg

TOKEN=load-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
BASE=http://127.0.0.1:$PORT
mkdir -p "$WORK/state"
# no per-token rate limit: the 50 clients share one token, and the run measures the service, not
# the limiter (which answers 429 within microseconds; tests/api/limits.rs covers it)
GENFAB_RATE_PER_SECOND=0 GENFAB_MAX_JOBS_PER_TOKEN=0 GENFAB_LOG=warn DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres" \
    "$BIN" --state-dir "$WORK/state" serve --bind "127.0.0.1:$PORT" --admin-token "$TOKEN" \
    ${LOAD_SERVE_ARGS:-} >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
    kill $SERVER 2>/dev/null || true
    wait $SERVER 2>/dev/null || true
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -fs "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; echo "load: the server did not start" >&2; exit 1; }

api() { curl -fsS -H "Authorization: Bearer $TOKEN" "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
upload() { api -H 'Content-Type: text/csv' --data-binary "@data/$2" "$BASE/api/v1/datasets?name=$1" | json "['id']"; }
wait_job() {
    for _ in $(seq 1 600); do
        s=$(api "$BASE/api/v1/jobs/$1" | json "['status']")
        case $s in succeeded) return 0 ;; failed|cancelled) echo "load: job $1 $s" >&2; exit 1 ;; esac
        sleep 0.5
    done
    echo "load: job $1 did not finish" >&2; exit 1
}

CONCRETE=$(upload concrete concrete/Concrete_Data.csv)
AI4I=$(upload ai4i2020 ai4i2020/ai4i2020.csv)
STEEL=$(upload steel-plates-faults steel-plates-faults/steel_plates_faults.csv)
DET=$(api -H 'Content-Type: application/json' "$BASE/api/v1/detectors" -d "{\"name\": \"press 3\", \"dataset_id\": $AI4I,
  \"normal\": {\"label\": \"Machine failure\", \"value\": 0},
  \"columns\": [\"Type\", \"Air temperature [K]\", \"Process temperature [K]\", \"Rotational speed [rpm]\", \"Torque [Nm]\", \"Tool wear [min]\"],
  \"spec\": {\"hidden\": [32], \"latent\": 4, \"epochs\": 20}, \"calibration\": {\"method\": \"max_f1\"}}")
wait_job "$(echo "$DET" | json "['job']['id']")"
DET=$(echo "$DET" | json "['id']")
head -11 data/concrete/Concrete_Data.csv >"$WORK/append.csv"
# five parts with the detector's columns and an id
python3 - "$WORK/score.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open("data/ai4i2020/ai4i2020.csv", encoding="utf-8-sig")))[:5]
cols = ["Type", "Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"]
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["_id"] + cols)
    for r in rows:
        w.writerow(["udi-" + r["UDI"]] + [r[c] for c in cols])
EOF

# work in the background while the load runs: a long training and a long study run
api -o /dev/null -H 'Content-Type: application/json' "$BASE/api/v1/models" \
    -d "{\"dataset_id\": $STEEL, \"spec\": {\"epochs\": 400, \"hidden\": [64, 64], \"latent\": 8}}"
STUDY=$(api -H 'Content-Type: application/json' "$BASE/api/v1/studies" -d '{"name": "bracket", "spec": {
  "variables": [{"name": "w", "kind": "continuous", "lo": 10, "hi": 50}, {"name": "h", "kind": "continuous", "lo": 5, "hi": 30}],
  "objectives": [{"name": "mass", "expr": "0.8 * w * h / 10"}, {"name": "stiffness", "expr": "w * h^3 / 1000", "goal": "maximize"}],
  "constraints": [{"name": "fits", "expr": "w + h <= 70"}]}}' | json "['id']")
RUN=$(api -H 'Content-Type: application/json' "$BASE/api/v1/studies/$STUDY/runs" \
    -d '{"solver": "nsga2", "budget": 50000, "seed": 1}' | json "['id']")

OUTAGE_ARGS=()
if [ "${LOAD_OUTAGE:-0}" = 1 ]; then
    # the load runs these with sh -c: small scripts with this run's paths written in
    { declare -f as_pg stop_pg; declare -p PGBIN WORK; echo stop_pg; } >"$WORK/stop-pg.sh"
    { declare -f as_pg start_pg; declare -p PGCTL; echo start_pg; } >"$WORK/start-pg.sh"
    OUTAGE_ARGS=(--outage-after 15 --outage-seconds 30
        --stop-cmd "bash $WORK/stop-pg.sh" --start-cmd "bash $WORK/start-pg.sh")
fi
set +e
GENFAB_LOAD_TOKEN=$TOKEN "$BIN" bench load --url "$BASE" --clients "$CLIENTS" --seconds "$DURATION" \
    --dataset "$CONCRETE" --append-csv "$WORK/append.csv" --detector "$DET" --score-csv "$WORK/score.csv" \
    --run "$RUN" "${OUTAGE_ARGS[@]}"
STATUS=$?
set -e
if grep -q "panicked" "$WORK/server.log"; then
    grep -m5 "panicked" "$WORK/server.log" >&2
    echo "load: the server panicked" >&2
    exit 1
fi
echo "load: background work after the run:" >&2
api "$BASE/api/v1/jobs?limit=5" | python3 -c 'import json,sys; [print("  job", j["id"], j["kind"], j["status"], file=sys.stderr) for j in json.load(sys.stdin)["items"]]'
exit $STATUS
