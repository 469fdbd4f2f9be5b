#!/usr/bin/env python3
"""Expected numbers for ml::quality::tests, computed with SDMetrics itself.

Tables are the ones written inline in src/ml/quality.rs (`fixture_a`, `holdout_a`, `fixture_b`,
`fixture_c`);
keep both in step. Numeric columns are float64 with NaN for missing, categoricals are strings with
None, booleans are True/False/None, as genfab's Table holds them.
  - Column Shapes, Column Pair Trends, overall score: sdmetrics.reports.single_table.QualityReport
    (as /work/shared/bench/synth_quality.py calls it; the unified sdmetrics.reports.QualityReport
    gives the same numbers and is checked below).
  - Detection: LogisticDetection.compute shuffles its StratifiedKFold without a seed, so the folds
    cannot be shared with Rust. Instead this runs SDMetrics' own steps (_drop_non_compute_columns,
    its HyperTransformer, LogisticDetection._fit_predict, roc_auc_score, the per-fold clamp) on the
    fixed folds FOLDS_A / FOLDS_C (row i of the stacked real-then-synthetic matrix goes to fold
    FOLDS[i]).
    It also fits the fold-0 model with sklearn (tol 1e-12) and polishes it with Newton steps, to
    check the hand-written solver.
  - Privacy: genfab's own definition (numpy/scikit-learn, after synth_quality.py).
Run: /tmp/peers/bin/python src/ml/testdata/quality_reference.py
"""
import json
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
import sdmetrics  # noqa: E402
from sdmetrics.reports import QualityReport as UnifiedQualityReport  # noqa: E402
from sdmetrics.reports.single_table import QualityReport  # noqa: E402
from sdmetrics.single_table import LogisticDetection  # noqa: E402
from sdmetrics.utils import HyperTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from sklearn.preprocessing import RobustScaler  # noqa: E402

N = np.nan
T, F = True, False

REAL_A = pd.DataFrame({
    "temp": [20.1, 21.5, 19.8, 23.0, 22.2, N, 24.8, 18.9, 21.0, 25.5, 20.7, 22.9],
    "pressure": [40.5, 43.2, 39.1, 46.3, 44.0, 45.1, 49.9, 38.2, 41.7, 51.2, 41.9, 45.5],
    "load": [3.0, 5, 2, 7, 5, 4, 8, 1, 4, 9, 3, 6],
    "shift": ["A", "B", "A", "C", "B", None, "C", "A", "B", "C", "A", "B"],
    "ok": [T, T, F, T, T, F, T, F, T, T, F, None],
})
SYNTH_A = pd.DataFrame({
    "temp": [20.5, 22.0, N, 23.5, 19.0, 24.0, 21.2, 26.0, 20.0, 22.5],
    "pressure": [41.0, 42.5, 40.0, 47.5, 39.5, 47.0, 44.0, 50.5, 42.0, 43.0],
    "load": [3.0, 6, 2, 7, 2, 6, 5, 9, 3, 4],
    "shift": ["A", "B", "A", "C", "A", "C", "B", "C", None, "B"],
    "ok": [T, F, F, T, T, T, T, F, T, None],
})
HOLDOUT_A = pd.DataFrame({
    "temp": [21.1, 23.9, 19.5, 22.0, 25.0, N],
    "pressure": [42.0, 47.0, 39.0, 44.5, 50.0, 40.0],
    "load": [4.0, 7, 2, 5, 8, 3],
    "shift": ["B", "C", "A", "B", "C", "A"],
    "ok": [T, T, F, T, F, T],
})
META_A = {"columns": {"temp": {"sdtype": "numerical"}, "pressure": {"sdtype": "numerical"},
                      "load": {"sdtype": "numerical"}, "shift": {"sdtype": "categorical"},
                      "ok": {"sdtype": "boolean"}}}
FOLDS_A = [i % 3 for i in range(len(REAL_A))] + [(j + 1) % 3 for j in range(len(SYNTH_A))]

# Nasty cases: x all missing in the synthetic table, c constant in the real table, g has a level
# ("r") that only the synthetic table uses, w is only weakly related to the others (pairs below
# SDMetrics' relevance thresholds).
REAL_B = pd.DataFrame({
    "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    "c": [5.0] * 8,
    "y": [2.1, 3.9, 6.2, 8.1, 9.7, 12.2, 14.1, 15.8],
    "g": ["p", "p", "q", "q", "p", "q", "p", None],
    "w": [0.3, -0.2, 0.5, -0.4, 0.1, 0.6, -0.3, 0.2],
})
SYNTH_B = pd.DataFrame({
    "x": [N] * 6,
    "c": [5.0, 5.0, 5.0, 6.0, 5.0, 5.0],
    "y": [2.5, 4.0, 7.5, 9.0, 12.5, 15.0],
    "g": ["p", "q", "r", "q", "p", "r"],
    "w": [0.1, 0.4, -0.2, 0.3, -0.5, 0.2],
})
# Detection needs tables a classifier can tell apart: the synthetic t is shifted by about one sd.
REAL_C = pd.DataFrame({
    "t": [50.00, 51.19, 48.90, 46.44, 48.18, 46.03, 50.24, 55.36, 48.03, 47.52, 51.96, 51.43, 50.42,
          46.28, N, 52.78, 44.62, 48.17, 42.40, 44.84, 42.63, 49.06, 44.93, 51.09],
    "p": [25.24, 25.31, 20.67, 22.41, 24.02, 23.18, 22.82, 26.96, 22.55, 22.55, 27.57, 24.50, 25.16,
          24.47, 24.06, 26.22, 22.48, 24.18, 19.36, 22.53, 23.35, 22.21, 23.75, 25.72],
    "m": ["m" + c for c in "121111313222211111312132"],
})
SYNTH_C = pd.DataFrame({
    "t": [53.21, 58.63, 56.36, 52.29, 52.13, 52.60, 59.69, 51.89, 52.39, 55.01, 53.12, 52.81, 49.14,
          53.55, 51.83, 58.26, 56.21, 53.50, N, 52.24, 57.81],
    "p": [26.60, 30.19, 26.24, 26.67, 23.53, 23.25, 29.39, 24.60, 26.44, 30.87, 25.31, 25.47, 24.88,
          27.51, 25.65, 28.82, 29.16, 27.53, 26.58, 26.00, 28.96],
    "m": ["m" + c for c in "312313323112123221323"],
})
META_C = {"columns": {"t": {"sdtype": "numerical"}, "p": {"sdtype": "numerical"},
                      "m": {"sdtype": "categorical"}}}
FOLDS_C = [i % 3 for i in range(len(REAL_C))] + [(j + 2) % 3 for j in range(len(SYNTH_C))]

META_B = {"columns": {"x": {"sdtype": "numerical"}, "c": {"sdtype": "numerical"},
                      "y": {"sdtype": "numerical"}, "g": {"sdtype": "categorical"},
                      "w": {"sdtype": "numerical"}}}


def nan_to_none(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def quality(real, synth, meta):
    rep = QualityReport()
    rep.generate(real, synth, meta, verbose=False)
    unified = UnifiedQualityReport()
    unified.generate({"t": real}, {"t": synth}, {"tables": {"t": meta}}, verbose=False)
    assert np.isclose(rep.get_score(), unified.get_score(), rtol=0, atol=1e-15, equal_nan=True)
    shapes = rep.get_details("Column Shapes")
    pairs = rep.get_details("Column Pair Trends")
    props = rep.get_properties().set_index("Property")["Score"].to_dict()
    out = {
        "quality": nan_to_none(rep.get_score()),
        "column_shapes": nan_to_none(props["Column Shapes"]),
        "column_pair_trends": nan_to_none(props["Column Pair Trends"]),
        "shapes": [[r["Column"], r["Metric"], nan_to_none(r["Score"]),
                    None if "Error" not in r or r["Error"] is None else r["Error"]]
                   for _, r in shapes.iterrows()],
        "pairs": [[r["Column 1"], r["Column 2"], r["Metric"], nan_to_none(r["Score"]),
                   nan_to_none(r["Real Correlation"]), nan_to_none(r["Synthetic Correlation"]),
                   nan_to_none(r["Real Association"]), bool(r["Meets Threshold?"] is True),
                   None if "Error" not in r or pd.isna(r["Error"]) else r["Error"]]
                  for _, r in pairs.iterrows()],
    }
    return out


def detection_fixed_folds(real, synth, meta, folds):
    r, s = LogisticDetection._drop_non_compute_columns(real.copy(), synth.copy(), meta)
    ht = HyperTransformer()
    R = ht.fit_transform(r).to_numpy().astype(float)
    S = ht.transform(s).to_numpy().astype(float)
    X = np.concatenate([R, S])
    y = np.hstack([np.ones(len(R)), np.zeros(len(S))])
    folds = np.asarray(folds)
    aucs, scores = [], []
    for k in range(3):
        train, test = folds != k, folds == k
        pred = LogisticDetection._fit_predict(X[train], y[train], X[test])
        auc = roc_auc_score(y[test], pred)
        aucs.append(float(auc))
        scores.append(max(0.5, auc) * 2 - 1)
    # the fold-0 model solved to convergence, on SDMetrics' imputed and robust-scaled features
    train = folds != 0
    Xt = RobustScaler().fit_transform(SimpleImputer().fit_transform(X[train]))
    lr = LogisticRegression(tol=1e-12, max_iter=100000).fit(Xt, y[train])
    # L-BFGS also stops on a relative objective change of 64 eps, which leaves the coefficients
    # about 1e-7 off; polish with Newton steps on the same objective (sum log-loss + |w|^2 / 2C).
    A = np.hstack([Xt, np.ones((len(Xt), 1))])
    theta = np.append(lr.coef_[0], lr.intercept_[0])
    reg = np.append(np.ones(Xt.shape[1]), 0.0)
    for _ in range(5):
        p = 1 / (1 + np.exp(-A @ theta))
        g = A.T @ (p - y[train]) + reg * theta
        H = A.T @ (A * (p * (1 - p))[:, None]) + np.diag(reg)
        theta = theta - np.linalg.solve(H, g)
    p = 1 / (1 + np.exp(-A @ theta))
    grad = np.abs(A.T @ (p - y[train]) + reg * theta).max()
    return {"score": float(1 - np.mean(scores)), "fold_auc": aucs, "n_features": X.shape[1],
            "fold0_coef_sklearn": lr.coef_[0].tolist(), "fold0_intercept_sklearn": float(lr.intercept_[0]),
            "fold0_coef": theta[:-1].tolist(), "fold0_intercept": float(theta[-1]), "fold0_grad": float(grad)}


def privacy(real, synth, holdout):
    num = real.select_dtypes("number").columns
    mu, sd = real[num].mean(), real[num].std().replace(0, 1)
    R = ((real[num] - mu) / sd).fillna(0).to_numpy()
    S = ((synth[num] - mu) / sd).fillna(0).to_numpy()
    H = ((holdout[num] - mu) / sd).fillna(0).to_numpy()
    nn = NearestNeighbors(n_neighbors=1).fit(R)
    d_syn = nn.kneighbors(S)[0][:, 0]
    d_hold = nn.kneighbors(H)[0][:, 0]
    p5 = np.percentile(d_hold, 5)
    return {"dcr_median_syn": float(np.median(d_syn)), "dcr_median_holdout": float(np.median(d_hold)),
            "dcr_holdout_p5": float(p5), "share_syn_below_holdout_p5": float(np.mean(d_syn < p5)),
            "d_syn": d_syn.tolist()}


out = {
    "versions": {"sdmetrics": sdmetrics.__version__, "numpy": np.__version__},
    "a": quality(REAL_A, SYNTH_A, META_A),
    "a_identical": quality(REAL_A, REAL_A.copy(), META_A),
    "a_detection": detection_fixed_folds(REAL_A, SYNTH_A, META_A, FOLDS_A),
    "a_privacy": privacy(REAL_A, SYNTH_A, HOLDOUT_A),
    "b": quality(REAL_B, SYNTH_B, META_B),
    "c": quality(REAL_C, SYNTH_C, META_C),
    "c_detection": detection_fixed_folds(REAL_C, SYNTH_C, META_C, FOLDS_C),
}
print(json.dumps(out, indent=1))
