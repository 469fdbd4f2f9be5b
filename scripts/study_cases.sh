#!/usr/bin/env bash
# The real cases of issue 6, on files with `genfab optimize` (release build); prints one JSON line each.
#   crossed-barrel: maximise a GP surrogate of toughness within the bounds of config.json
#   concrete: least cement reaching 50 MPa by a GP surrogate (mean, and mean - 2 sd), near the data
#   energy-efficiency: least heating load by a GP surrogate, in a VAE's latent space and in design space
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin genfab >&2
G=$PWD/target/release/genfab
S=$PWD/scripts/studies
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# crossed-barrel's data.csv has no header; the names come from its config.json
(echo "n,theta,r,t,toughness"; cat data/crossed-barrel/data.csv) > "$out/barrel.csv"
for s in bayesian particle_swarm; do
  "$G" optimize "$S/barrel_gp.json" --data "$out/barrel.csv" --solver $s --budget 100 --seed 1
done
for spec in concrete_gp concrete_gp_safe; do
  for s in bayesian nelder_mead; do
    "$G" optimize "$S/$spec.json" --data data/concrete/Concrete_Data.csv --solver $s --budget 200 --seed 1
  done
done
"$G" train data/energy-efficiency/ENB2012_data.csv --out "$out/energy.safetensors" --epochs 200 --latent 4 --hidden 64,64 --seed 1 --json >&2
for s in latin_hypercube bayesian nelder_mead; do
  "$G" optimize "$S/energy_latent.json" --data data/energy-efficiency/ENB2012_data.csv --model "$out/energy.safetensors" \
    --solver $s --budget 300 --seed 1 --out "$PWD/target/latent_$s.csv"
  "$G" optimize "$S/energy_design.json" --data data/energy-efficiency/ENB2012_data.csv \
    --solver $s --budget 300 --seed 1 --out "$PWD/target/design_$s.csv"
done
echo "candidates of the energy runs: target/latent_*.csv, target/design_*.csv" >&2
