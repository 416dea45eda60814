"""Reference for the dual-form (kernel) ridge of test/analysis/readout-cowley-v4.slow.test.ts.

Primal ridge with an unpenalized intercept, solved with SciPy on random data:
  X̃ = X − mean_fit(X),  w = (X̃ᵀX̃ + αI)⁻¹ X̃ᵀ(y − ȳ),  ŷ(q) = (x_q − mean_fit(X))·w + ȳ
The TS test solves the same problem in the dual (n ≪ d): c = (X̃X̃ᵀ + αI)⁻¹(y − ȳ), ŷ = X̃_q X̃ᵀ c + ȳ.
Writes test/fixtures/cowley/ridge_reference.json.  Run: /usr/bin/python3 test/reference/cowley_ridge_reference.py
"""
import json
import pathlib

import numpy as np
import scipy.linalg

rng = np.random.default_rng(20230325)
n_fit, n_query, d = 24, 6, 60  # d > n: the regime the dual form is for
X = np.maximum(rng.normal(size=(n_fit + n_query, d)), 0).astype(np.float32)  # ReLU-like features
y = (X[:n_fit] @ rng.normal(size=d) + 3 + rng.normal(size=n_fit)).astype(np.float64)
alphas = [0.01, 1.0, 100.0]
Xf = X[:n_fit].astype(np.float64)
mu = Xf.mean(axis=0)
Xc = Xf - mu
preds = []
for a in alphas:
    w = scipy.linalg.solve(Xc.T @ Xc + a * np.eye(d), Xc.T @ (y - y.mean()), assume_a="pos")
    preds.append(((X[n_fit:].astype(np.float64) - mu) @ w + y.mean()).tolist())
out = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "cowley" / "ridge_reference.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({
    "nFit": n_fit, "nQuery": n_query, "d": d,
    "x": X.ravel().tolist(), "y": y.tolist(), "alphas": alphas, "predictions": preds,
}) + "\n")
print(f"wrote {out}")
