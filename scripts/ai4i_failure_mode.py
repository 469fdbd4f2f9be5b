#!/usr/bin/env python3
"""Collapses ai4i2020's failure-mode flags (TWF, HDF, PWF, OSF, RNF) into one `failure_mode`
column (none, one mode, or `multiple`) and drops the ids and `Machine failure`, for issue 5's
benchmark with the failure mode as label. Standard library only.
Usage: scripts/ai4i_failure_mode.py [IN.csv] OUT.csv"""
import csv, sys

MODES = ["TWF", "HDF", "PWF", "OSF", "RNF"]
DROP = ["UDI", "Product ID", "Machine failure"] + MODES
src = sys.argv[1] if len(sys.argv) > 2 else "data/ai4i2020/ai4i2020.csv"
with open(src, newline="", encoding="utf-8-sig") as f, open(sys.argv[-1], "w", newline="") as g:
    r = csv.DictReader(f)
    keep = [c for c in r.fieldnames if c not in DROP]
    w = csv.writer(g)
    w.writerow(keep + ["failure_mode"])
    for row in r:
        hot = [m for m in MODES if row[m].strip() == "1"]
        mode = "none" if not hot else hot[0] if len(hot) == 1 else "multiple"
        w.writerow([row[c] for c in keep] + [mode])
