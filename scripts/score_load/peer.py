"""The usual Python peers of the scoring endpoint, in process: scikit-learn's
LocalOutlierFactor(novelty=True) and IsolationForest fitted on the same normal AI4I 2020 rows
and columns as the genfab detector (Type one-hot, the rest standardised), then score_samples
on the same 100 rows as the HTTP benchmark, timed REPEATS times on one thread. No HTTP, no
parsing, no storage: a lower bound for what a Python service would cost per request.
Prints one JSON line per model.

    python peer.py ai4i2020.csv body.json [--repeats 2000]
"""
import os

for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

NUMERIC = ["Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]",
           "Tool wear [min]"]
LEVELS = ["H", "L", "M"]


def features(df, scaler):
    onehot = np.stack([(df["Type"].astype(str) == t).to_numpy(float) for t in LEVELS], axis=1)
    return np.hstack([onehot, scaler.transform(df[NUMERIC].to_numpy(float))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("body")
    ap.add_argument("--repeats", type=int, default=2000)
    a = ap.parse_args()
    data = pd.read_csv(a.csv, encoding="utf-8-sig")
    normal = data[data["Machine failure"] == 0]
    scaler = StandardScaler().fit(normal[NUMERIC].to_numpy(float))
    x_fit = features(normal, scaler)
    with open(a.body) as f:
        x = features(pd.DataFrame(json.load(f)["rows"]), scaler)
    models = {
        "LocalOutlierFactor(novelty=True)": LocalOutlierFactor(novelty=True, n_jobs=1),
        "IsolationForest": IsolationForest(random_state=0, n_jobs=1),
    }
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(x_fit)
        fit_s = time.perf_counter() - t0
        for _ in range(20):  # warm-up
            model.score_samples(x)
        times = np.empty(a.repeats)
        for i in range(a.repeats):
            t0 = time.perf_counter()
            s = model.score_samples(x)
            times[i] = time.perf_counter() - t0
        assert s.shape == (len(x),) and np.isfinite(s).all()
        p50, p90, p99 = np.percentile(times, [50, 90, 99]) * 1e3
        print(json.dumps({
            "peer": f"scikit-learn {name}", "sklearn": sklearn.__version__, "python": platform.python_version(),
            "fit_rows": len(x_fit), "fit_s": round(fit_s, 3), "rows": len(x), "repeats": a.repeats,
            "threads": 1, "p50_ms": round(p50, 3), "p90_ms": round(p90, 3), "p99_ms": round(p99, 3),
            "rows_per_s": round(len(x) * a.repeats / times.sum()),
        }), flush=True)


if __name__ == "__main__":
    main()
