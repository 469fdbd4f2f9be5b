#!/usr/bin/env bash
# Side-by-side measurements for the issue notes; prints one JSON line per run.
#   bash scripts/bench.sh vae      # genfab bench vae vs the PyTorch peer (needs a venv with torch at $PEERS)
#   bash scripts/bench.sh upload   # upload throughput on SQLite and Postgres (needs $PG, a Postgres server URL)
#   bash scripts/bench.sh queue    # empty jobs through the queue on Postgres with 1 and 3 workers
#   bash scripts/bench.sh synth    # genfab synth vs SDV's TVAE, both judged by synth_quality.py
#   bash scripts/bench.sh optimize # genfab's solvers vs Optuna's samplers (50 evaluations, seeds 0-9), and
#                                  # candidates stored per second by a 100,000-evaluation run on Postgres
#   bash scripts/bench.sh anomaly  # genfab's VAE detectors vs scikit-learn's (anomaly_peer.py), same splits
#   bash scripts/bench.sh score    # load test of POST /api/v1/detectors/{id}/score with wrk against serve on
#                                  # SQLite and Postgres (server and wrk on one core each) vs scikit-learn's
#                                  # LOF and IsolationForest in process (scripts/score_load.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/tmp/peers}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
SHARED=${SHARED:-../shared}
cargo build --release --bin genfab >&2
G=target/release/genfab

case "${1:-all}" in
  vae|all)
    for i in 1 2; do
      "$PEERS/bin/python" "$SHARED/bench/torch_vae.py" --rows 50000 --dims 32 --hidden 128,128 --latent 16 --batch 256 --epochs 20 --threads 2
      "$G" bench vae --rows 50000 --dims 32 --epochs 20 --threads 2 --batch 256 --decode-rows 100000
      "$PEERS/bin/python" src/ml/testdata/torch_decode_bench.py --n 100000 --threads 2
    done
    # Identical data for both: validation loss per row compares directly.
    "$G" bench vae --dump-csv /tmp/genfab-ref.csv
    "$PEERS/bin/python" "$SHARED/bench/torch_vae.py" --csv /tmp/genfab-ref.csv --hidden 128,128 --latent 16 --batch 256 --epochs 20 --threads 2
    "$G" bench vae --csv /tmp/genfab-ref.csv
    ;;&
  upload|all)
    big=$(mktemp -d)
    state=$(mktemp -d)
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS genfab_bench" -c "CREATE DATABASE genfab_bench" >&2
    for store in sqlite postgres; do
      if [ "$store" = postgres ]; then export DATABASE_URL="$PG/genfab_bench"; else unset DATABASE_URL; fi
      "$G" --state-dir "$state" bench upload --file data/ai4i2020/ai4i2020.csv
      "$G" --state-dir "$state" bench upload --rows 1000000 --columns 20
    done
    rm -rf "$big" "$state"
    ;;&
  queue|all)
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS genfab_queue_bench" -c "CREATE DATABASE genfab_queue_bench" >&2
    for w in 1 3; do
      DATABASE_URL="$PG/genfab_queue_bench" "$G" bench queue --jobs 2000 --workers "$w"
    done
    ;;&
  synth|all)
    out=$(mktemp -d)
    python3 scripts/steel_fault.py "$out/steel.csv"
    # label: fault (steel), Machine failure (ai4i; ids dropped), the pass/fail column of SECOM
    python3 scripts/ai4i_failure_mode.py "$out/ai4i-fm.csv"
    for spec in "steel.csv:fault:" "ai4i.csv:Machine failure:UDI,Product ID" "ai4i-fm.csv:failure_mode:"; do
      IFS=: read -r file label drop <<<"$spec"
      [ "$file" = ai4i.csv ] && cp data/ai4i2020/ai4i2020.csv "$out/ai4i.csv"
      "$PEERS/bin/python" "$SHARED/bench/sdv_tvae.py" "$out/$file" "$out/tvae-$file" --epochs 300 --drop "$drop"
      "$G" synth "$out/$file" --label "$label" --like-real --threads 2 --out "$out/genfab-$file" --report "$out/genfab-$file.report.json"
      for who in tvae genfab; do
        echo "{\"judge\": \"$who\", \"data\": \"$file\"}"
        "$PEERS/bin/python" "$SHARED/bench/synth_quality.py" "$out/$file" "$out/$who-$file" --label "$label" --drop "$drop"
      done
      python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({'genfab_own_report': sys.argv[2], 'quality': r['quality'], 'detection': r['detection'], 'privacy': r['privacy']['passed'], 'exact_copies': r['privacy']['measures']['exact_copies']}))" "$out/genfab-$file.report.json" "$file"
    done
    # SECOM (392 rows x 590 sensors, pass/fail in y): SDMetrics needs over 20 minutes for its
    # 174,000 column pairs, so genfab report (the same definitions, checked against SDMetrics)
    # judges both; the index column is dropped for both generators
    cut -d, -f2- data/secom/secom_raw_subset_392rows.csv > "$out/secom.csv"
    "$PEERS/bin/python" "$SHARED/bench/sdv_tvae.py" "$out/secom.csv" "$out/tvae-secom.csv" --epochs 300
    "$G" synth "$out/secom.csv" --label y --like-real --threads 2 --out "$out/genfab-secom.csv"
    for who in tvae genfab; do
      echo "{\"judge\": \"genfab report\", \"who\": \"$who\", \"data\": \"secom.csv\"}"
      "$G" report "$out/secom.csv" "$out/$who-secom.csv" --label y
    done
    rm -rf "$out"
    ;;
  optimize|all)
    "$PEERS/bin/python" "$SHARED/bench/optuna_peer.py" --budget 50 --seeds 10 --samplers tpe,cmaes,gp
    "$G" bench optimize --budget 50 --seeds 10
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS genfab_study_bench" -c "CREATE DATABASE genfab_study_bench" >&2
    DATABASE_URL="$PG/genfab_study_bench" "$G" bench study --evaluations 100000
    state=$(mktemp -d)
    "$G" --state-dir "$state" bench study --evaluations 100000
    rm -rf "$state"
    ;;
  anomaly|all)
    "$PEERS/bin/python" "$SHARED/bench/anomaly_peer.py" "$SHARED/data"
    "$G" bench anomaly --data-dir "$SHARED/data"
    ;;&
  score|all)
    PG="$PG" PEERS="$PEERS" bash scripts/score_load.sh
    ;;
esac
