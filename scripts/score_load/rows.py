"""Writes the scoring request body: 100 real AI4I 2020 rows, evenly spaced through the file,
as {"rows": [{column: value, ..., "_id": UDI}]} with the detector's columns only."""
import csv
import json
import sys

COLUMNS = ["Type", "Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]",
           "Tool wear [min]"]


def value(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def main(src, out, n=100):
    with open(src, newline="", encoding="utf-8-sig") as f:
        table = list(csv.DictReader(f))
    step = len(table) // n
    rows = []
    for r in table[::step][:n]:
        row = {c: value(r[c]) for c in COLUMNS}
        row["_id"] = r["UDI"]
        rows.append(row)
    with open(out, "w") as f:
        json.dump({"rows": rows}, f, separators=(",", ":"))
    failures = sum(1 for r in table[::step][:n] if r["Machine failure"] == "1")
    print(json.dumps({"body_rows": len(rows), "machine_failures_among_them": failures}), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
