#!/usr/bin/env python3
"""Collapses the seven one-hot fault columns of steel-plates-faults into one `fault` column,
as issue 5's benchmark asks. Standard library only.
Usage: scripts/steel_fault.py [IN.csv] OUT.csv"""
import csv, sys

FAULTS = ["Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults"]
src = sys.argv[1] if len(sys.argv) > 2 else "data/steel-plates-faults/steel_plates_faults.csv"
out = sys.argv[-1]
with open(src, newline="") as f, open(out, "w", newline="") as g:
    r = csv.DictReader(f)
    keep = [c for c in r.fieldnames if c not in FAULTS]
    w = csv.writer(g)
    w.writerow(keep + ["fault"])
    for row in r:
        hot = [c for c in FAULTS if row[c].strip() == "1"]
        if len(hot) != 1:
            sys.exit(f"row {r.line_num}: {len(hot)} fault flags set; expected exactly one")
        w.writerow([row[c] for c in keep] + hot)
