#!/usr/bin/env bash
# Server time of a study run page with 100,000 candidates (issue 8: under 300 ms), on SQLite and
# Postgres: a random-search run of 100,000 evaluations on the concrete study, then the run page,
# the study page and a filtered second page fetched 20 times each with curl on loopback.
#   bash scripts/dashboard_bench.sh      # needs target/release/genfab; PG = Postgres server URL
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
G=$PWD/target/release/genfab
TOKEN=dashboardbench$(date +%s)
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for store in sqlite postgres; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if [ "$store" = postgres ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS genfab_dash_bench" -c "CREATE DATABASE genfab_dash_bench" >&2
    export DATABASE_URL="$PG/genfab_dash_bench"
  else
    unset DATABASE_URL
  fi
  GENFAB_ADMIN_TOKEN=$TOKEN "$G" --state-dir "$work/$store" serve --bind "127.0.0.1:$port" >"$work/$store.log" 2>&1 &
  pid=$!
  B=http://127.0.0.1:$port
  until curl -fs "$B/readyz" >/dev/null; do sleep 0.2; done
  H="Authorization: Bearer $TOKEN"
  ds=$(curl -fs -H "$H" -H 'Content-Type: text/csv' --data-binary @data/concrete/Concrete_Data.csv "$B/api/v1/datasets?name=concrete" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  spec='{"variables": [{"name": "cement", "kind": "continuous"}, {"name": "blast_furnace_slag", "kind": "continuous"}, {"name": "fly_ash", "kind": "continuous"}, {"name": "water", "kind": "continuous"}, {"name": "superplasticizer", "kind": "continuous"}, {"name": "age_days", "kind": "integer", "lo": 28, "hi": 28}],
         "surrogates": [{"name": "strength", "target": "compressive_strength_mpa", "model": {"kind": "linear", "degree": 2}}],
         "objectives": [{"name": "cement_kg", "expr": "cement"}, {"name": "strength_mpa", "expr": "strength", "goal": "maximize"}],
         "constraints": [{"expr": "strength >= 30"}]}'
  sid=$(curl -fs -H "$H" -H 'Content-Type: application/json' -d "{\"name\": \"bench\", \"dataset_id\": $ds, \"spec\": $spec}" "$B/api/v1/studies" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  rid=$(curl -fs -H "$H" -H 'Content-Type: application/json' -d '{"solver": "random", "budget": 100000, "seed": 1}' "$B/api/v1/studies/$sid/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  until curl -fs -H "$H" "$B/api/v1/runs/$rid" | grep -q '"status":"succeeded"'; do sleep 1; done
  for path in "/runs/$rid" "/runs/$rid?pareto=true" "/runs/$rid?feasible=true&page=100" "/studies/$sid"; do
    python3 - "$B$path" "$TOKEN" "$store" <<'PY'
import json, sys, time, urllib.request
url, token, store = sys.argv[1], sys.argv[2], sys.argv[3]
# the session cookie holds the token (what the sign-in form sets)
req = urllib.request.Request(url, headers={"Cookie": f"genfab_session={token}"})
times, size = [], 0
for i in range(21):
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        assert r.status == 200 and r.url == url, (r.status, r.url)
        body = r.read()
    dt = time.perf_counter() - t
    assert b"<svg" in body, "not the page: " + body[:200].decode()
    if i: times.append(dt * 1000)
    size = len(body)
times.sort()
print(json.dumps({"bench": "dashboard", "store": store, "page": url.split("/", 3)[3], "candidates": 100000,
                  "median_ms": round(times[len(times)//2], 1), "max_ms": round(times[-1], 1), "kb": round(size/1024, 1)}))
PY
  done
  kill $pid; wait $pid 2>/dev/null || true; pid=
done
