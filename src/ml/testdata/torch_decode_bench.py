#!/usr/bin/env python3
"""PyTorch peer for the decode half of `genfab bench vae`: z ~ N(0, I) through the decoder of the
same MLP VAE as ../shared/bench/torch_vae.py (hidden 128,128 reversed, latent 16, 32 outputs).
Prints one JSON line: best-of-3 seconds and rows/s for `--n` prior samples (no grad).
Usage: torch_decode_bench.py [--n 100000 --dims 32 --hidden 128,128 --latent 16 --threads 2]
"""
import argparse, json, time
import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=100000)
p.add_argument("--dims", type=int, default=32)
p.add_argument("--hidden", default="128,128")
p.add_argument("--latent", type=int, default=16)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
hs = [int(h) for h in a.hidden.split(",")]
sizes = [a.latent] + hs[::-1] + [a.dims]
layers = []
for i in range(len(sizes) - 1):
    layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    if i < len(sizes) - 2:
        layers.append(nn.ReLU())
dec = nn.Sequential(*layers)
best = float("inf")
with torch.no_grad():
    for _ in range(3):
        t0 = time.perf_counter()
        out = dec(torch.randn(a.n, a.latent))
        best = min(best, time.perf_counter() - t0)
print(json.dumps({"peer": "pytorch", "torch": torch.__version__, "threads": a.threads, "decode_rows": a.n,
                  "decode_seconds": round(best, 4), "decode_rows_per_s": round(a.n / best, 1)}))
