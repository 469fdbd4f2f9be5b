#!/usr/bin/env bash
# Load benchmark of real-time anomaly scoring, POST /api/v1/detectors/{id}/score (issue 7:
# p99 at most 5 ms for a 100-row request, at least 50,000 rows/s per core), against
# `genfab serve` on loopback, on SQLite and then on Postgres, side by side with scikit-learn's
# LocalOutlierFactor and IsolationForest scoring the same rows in process.
#
#   bash scripts/score_load.sh    # needs target/release/genfab (cargo build --release --bin genfab)
#
# The server is pinned to core 0 and wrk to core 1; the server's CPU seconds during each wrk
# run come from /proc/PID/stat. On Postgres the database's own CPU is not in that figure; it is
# reported apart (pg_cpu_s) when the postgres processes are visible on this host.
# Environment: PG (Postgres server URL), PEERS (venv with scikit-learn and pandas), DURATION
# (per wrk run, default 20s), STORES (default "sqlite postgres"), PERSISTS (the detectors' `persist`
# modes, default "before_answer after_answer"), REPEATS (peer timings, 2000).
# Prints one JSON line per measurement and a summary line; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PEERS=${PEERS:-/tmp/peers}
DURATION=${DURATION:-20s}
STORES=${STORES:-sqlite postgres}
PERSISTS=${PERSISTS:-before_answer after_answer}
REPEATS=${REPEATS:-2000}
G=$PWD/target/release/genfab
HERE=$PWD/scripts/score_load
CSV=$PWD/data/ai4i2020/ai4i2020.csv
DB=genfab_score_bench
SERVER_CORE=0
CLIENT_CORE=1

log() { echo "score_load: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -x "$G" ] || die "$G is missing; run cargo build --release --bin genfab first"
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
if [ ! -x "$PEERS/bin/python" ]; then
  log "creating the peer venv at $PEERS"
  python3 -m venv "$PEERS" >&2
  "$PEERS/bin/pip" install -q scikit-learn pandas >&2
fi
[ "$(nproc)" -ge 2 ] || log "WARNING: fewer than 2 cores; the server and wrk share a core"
read -r load1 _ </proc/loadavg
awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' &&
  log "WARNING: load average $load1 before the start; other work on this host skews the figures"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
export TOKEN
CLK_TCK=$(getconf CLK_TCK)

# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() {
  local s f
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  read -r -a f <<<"$s"
  echo $((f[11] + f[12]))
}

# utime + stime of every process named postgres on this host (0 if none is visible).
pg_ticks() {
  local total=0 p s f
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = postgres ] || continue
    s=$(cat "$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# api METHOD PATH OUTFILE [curl args]: prints the HTTP status; the body goes to OUTFILE.
api() {
  local method=$1 path=$2 out=$3
  shift 3
  curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN" "$@" "$BASE$path"
}

# jfield FILE a.b: a field of a JSON file.
jfield() {
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

start_server() {
  local store=$1 state=$work/state-$store port
  mkdir -p "$state"
  port=$(free_port)
  BASE=http://127.0.0.1:$port
  (
    if [ "$store" = postgres ]; then export DATABASE_URL="$PG/$DB"; else unset DATABASE_URL; fi
    export GENFAB_ADMIN_TOKEN=$TOKEN
    exec taskset -c "$SERVER_CORE" "$G" --state-dir "$state" serve --bind "127.0.0.1:$port" \
      >"$work/serve-$store.log" 2>&1
  ) &
  server_pid=$!
  for _ in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/serve-$store.log" >&2; die "genfab serve ($store) exited"; }
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && { log "$store: ready on port $port (pid $server_pid)"; return; }
    sleep 0.2
  done
  die "genfab serve ($store) was not ready after 60 s"
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# make_detector PERSIST: uploads the CSV (once per server), creates a detector storing scored rows
# PERSIST (before_answer | after_answer) and waits for its calibration; sets DETECTOR.
make_detector() {
  local code job status persist=$1
  if [ -z "${dataset:-}" ]; then
    code=$(api POST "/api/v1/datasets?name=ai4i2020" "$work/dataset.json" -H 'Content-Type: text/csv' --data-binary "@$CSV")
    [ "$code" = 201 ] || { cat "$work/dataset.json" >&2; die "upload answered $code"; }
    dataset=$(jfield "$work/dataset.json" id)
  fi
  cat >"$work/detector-req.json" <<EOF
{"name":"bench-$persist","persist":"$persist","dataset_id":$dataset,"normal":{"label":"Machine failure","value":0},
 "columns":["Type","Air temperature [K]","Process temperature [K]","Rotational speed [rpm]","Torque [Nm]","Tool wear [min]"],
 "spec":{"hidden":[32],"latent":4,"epochs":100,"batch_size":256,"conditions":["Type"]},
 "calibration":{"method":"false_alarm_rate","rate":0.01},"score":{"method":"neg_elbo","samples":8}}
EOF
  code=$(api POST /api/v1/detectors "$work/detector.json" -H 'Content-Type: application/json' --data-binary "@$work/detector-req.json")
  [ "$code" = 202 ] || { cat "$work/detector.json" >&2; echo >&2; die "POST /api/v1/detectors answered $code"; }
  DETECTOR=$(jfield "$work/detector.json" id)
  job=$(jfield "$work/detector.json" job.id)
  local t0=$SECONDS
  while :; do
    code=$(api GET "/api/v1/jobs/$job" "$work/job.json")
    [ "$code" = 200 ] || [ "$code" = 202 ] || { cat "$work/job.json" >&2; die "GET /api/v1/jobs/$job answered $code"; }
    status=$(jfield "$work/job.json" status)
    case "$status" in
      succeeded) break ;;
      failed | cancelled) cat "$work/job.json" >&2; echo >&2; die "calibration job $job $status" ;;
    esac
    [ $((SECONDS - t0)) -lt 1800 ] || die "calibration job $job still $status after 30 minutes"
    sleep 1
  done
  log "dataset $dataset, detector $DETECTOR calibrated in $((SECONDS - t0)) s (job $job)"
}

# One request checked by hand: 100 scored rows, no per-row errors. Also loads the model.
check_score() {
  local code
  code=$(api POST "/api/v1/detectors/$DETECTOR/score" "$work/score-check.json" -H 'Content-Type: application/json' --data-binary "@$work/body.json")
  [ "$code" = 200 ] || { cat "$work/score-check.json" >&2; echo >&2; die "score answered $code"; }
  python3 - "$work/score-check.json" <<'EOF' >&2
import json, sys
r = json.load(open(sys.argv[1]))
rows = r["rows"]
ok = [x for x in rows if "score" in x and "errors" not in x]
bad = [x for x in rows if "errors" in x]
print(f"score_load: check: scored={r['scored']} anomalies={r['anomalies']} errors={r['errors']} threshold={r['threshold']}")
if bad:
    print("score_load: first row error:", json.dumps(bad[0]))
if r["scored"] != 100 or r["errors"] != 0 or len(ok) != 100:
    sys.exit("score_load: ERROR: the response does not hold 100 scored rows")
EOF
}

# run_wrk STORE CONNECTIONS PERSIST: one wrk run with the server's CPU time around it; prints a JSON line.
# --timeout 10s: wrk leaves requests slower than its timeout (2 s by default) out of the
# latency percentiles, which would flatter the tail.
run_wrk() {
  local store=$1 conns=$2 persist=$3 out=$work/wrk-$1-$3-c$2.txt t0 t1 p0 p1 load
  read -r load _ </proc/loadavg
  p0=$(pg_ticks)
  t0=$(cpu_ticks "$server_pid")
  BODY=$work/body.json taskset -c "$CLIENT_CORE" wrk -t1 -c"$conns" -d"$DURATION" --timeout 10s --latency \
    -s "$HERE/post.lua" "$BASE/api/v1/detectors/$DETECTOR/score" >"$out"
  t1=$(cpu_ticks "$server_pid")
  p1=$(pg_ticks)
  sed -n '/^Running/,/^WRK_JSON/p' "$out" | grep -v '^WRK_JSON' >&2
  python3 - "$out" "$store" "$conns" "$((t1 - t0))" "$((p1 - p0))" "$CLK_TCK" "$load" "$persist" <<'EOF'
import json, sys
out, store, conns, ticks, pg_ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
load, persist = float(sys.argv[7]), sys.argv[8]
w = json.loads(next(l for l in open(out) if l.startswith("WRK_JSON "))[9:])
secs = w["duration_us"] / 1e6
cpu = ticks / hz
rows = w["requests"] * 100
line = {
    "bench": "score", "who": "genfab", "store": store, "persist": persist, "connections": conns, "threads": 1,
    "rows_per_request": 100, "duration_s": round(secs, 2), "requests": w["requests"],
    "requests_per_s": round(w["requests"] / secs, 1), "rows_per_s": round(rows / secs),
    "server_cpu_s": round(cpu, 2), "rows_per_cpu_s": round(rows / cpu) if cpu else None,
    "pg_cpu_s": round(pg_ticks / hz, 2) if store == "postgres" and pg_ticks else None,
    "rows_per_cpu_s_with_pg": round(rows / (cpu + pg_ticks / hz)) if store == "postgres" and pg_ticks else None,
    "p50_ms": w["p50_us"] / 1e3, "p90_ms": w["p90_us"] / 1e3, "p99_ms": w["p99_us"] / 1e3, "max_ms": w["max_us"] / 1e3,
    "non_2xx": w["non_2xx"], "socket_errors": w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"],
    "response_kb": round(w["bytes"] / max(w["requests"], 1) / 1024, 1), "load_1m_before": load,
}
print(json.dumps(line))
if w["non_2xx"] or line["socket_errors"]:
    print(f"score_load: WARNING: {w['non_2xx']} non-2xx answers, {line['socket_errors']} socket errors", file=sys.stderr)
EOF
}

python3 "$HERE/rows.py" "$CSV" "$work/body.json"
: >"$work/lines.jsonl"
for store in $STORES; do
  if [ "$store" = postgres ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >&2
  fi
  start_server "$store"
  dataset=
  for persist in $PERSISTS; do
    make_detector "$persist"
    check_score
    # Warm-up (connections, caches, the store's first pages); not reported.
    BODY=$work/body.json taskset -c "$CLIENT_CORE" wrk -t1 -c4 -d3s -s "$HERE/post.lua" \
      "$BASE/api/v1/detectors/$DETECTOR/score" >/dev/null
    for conns in 4 1; do
      run_wrk "$store" "$conns" "$persist" | tee -a "$work/lines.jsonl"
    done
    check_score
  done
  if [ -s "$work/serve-$store.log" ] && grep -qiE '"level":"(ERROR|WARN)"| (ERROR|WARN) ' "$work/serve-$store.log"; then
    log "$store: the server logged warnings or errors:"
    grep -iE '"level":"(ERROR|WARN)"| (ERROR|WARN) ' "$work/serve-$store.log" | head -5 >&2
  fi
  stop_server
  if [ "$store" = postgres ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >&2 || true
  fi
done

# Peers on the server's core, one thread.
taskset -c "$SERVER_CORE" "$PEERS/bin/python" "$HERE/peer.py" "$CSV" "$work/body.json" --repeats "$REPEATS" |
  tee -a "$work/lines.jsonl"

python3 - "$work/lines.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peers = {l["peer"].split()[-1].split("(")[0]: l for l in lines if "peer" in l}
out = {"bench": "score", "summary": True, "target": {"p99_ms": 5, "rows_per_cpu_s": 50000}}
for g in (l for l in lines if l.get("who") == "genfab"):
    s = out.setdefault(f'{g["store"]}/{g["persist"]}', {})
    c = g["connections"]
    if g["rows_per_cpu_s"]:
        s[f"rows_per_cpu_s_c{c}_vs_50k"] = round(g["rows_per_cpu_s"] / 50000, 3)
    s[f"rows_per_s_c{c}_vs_50k"] = round(g["rows_per_s"] / 50000, 3)
    s[f"p99_c{c}_vs_5ms"] = round(g["p99_ms"] / 5, 3)
    for name, p in peers.items():
        s[f"p99_c{c}_vs_{name}_p99"] = round(g["p99_ms"] / p["p99_ms"], 2)
print(json.dumps(out))
EOF
