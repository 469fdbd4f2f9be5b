#!/usr/bin/env bash
# Side-by-side measurements for the issue notes; prints one JSON line per run.
#   bash scripts/bench.sh vae      # genfab bench vae vs the PyTorch peer (needs a venv with torch at $PEERS)
#   bash scripts/bench.sh upload   # upload throughput on SQLite and Postgres (needs $PG, a Postgres server URL)
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
    ;;
esac
