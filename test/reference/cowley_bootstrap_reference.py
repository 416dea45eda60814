#!/usr/bin/python3
"""Independent recomputation (numpy/SciPy) of the scores of test/analysis/readout-cowley-v4.slow.test.ts.

The slow test writes DIR/dump.json (and DIR/pooled.f32) and runs
  /usr/bin/python3 test/reference/cowley_bootstrap_reference.py DIR
which prints one JSON object on stdout. From the dump it recomputes, with its own code:
  - ridge on the globally pooled features (float32 [n, d] in pooled.f32): primal ridge with an unpenalized intercept,
    features centered on the training rows, w = (X̃ᵀX̃ + αI)⁻¹X̃ᵀ(y − ȳ) through numpy's SVD of X̃ (not the test's
    dual form and Cholesky), α = ‖X̃‖²/n_train · 10^(−4 + j/2), j = 0..count−1, chosen per neuron by the Pearson r
    (numpy.corrcoef) on the validation rows (first best), then the test rows predicted;
  - per neuron: the split-half reliability over all images (the test's half assignments `masks`, one 0/1 row per
    split; half means over present repeats, images without a repeat in both halves left out, Pearson r,
    Spearman–Brown 2r/(1+r) clipped to [−1, 1] (−1 below r = −1/3), mean over splits with ≥ 3 images);
  - per model: each neuron's r (scipy.stats.pearsonr), the median noise-corrected R² = median(r²/reliability);
  - percentile intervals (numpy.percentile, linear, 2.5 and 97.5) of the median over the test's resamples of the test
    images (r recomputed on the resampled arrays, reliability fixed) and of the neurons (scores fixed), and of the
    paired differences of medians for the listed pairs.
"""
import json
import os
import sys

import numpy as np
import scipy.stats


def pooled_ridge(dump, directory):
    p = dump["pooled"]
    X = np.fromfile(os.path.join(directory, p["file"]), dtype="<f4").reshape(p["n"], p["d"]).astype(np.float64)
    rows = dump["rows"]
    train, val, test = (np.array(rows[k]) for k in ("train", "validation", "test"))
    mu = X[train].mean(axis=0)
    alphas = ((X[train] - mu) ** 2).sum() / len(train) * 10.0 ** (-4 + 0.5 * np.arange(dump["ridgeAlphaCount"]))
    U, s, Vt = np.linalg.svd(X[train] - mu, full_matrices=False)
    chosen, predictions = [], []
    for y in dump["means"]:
        y = np.array(y)
        ybar = y[train].mean()
        uty = U.T @ (y[train] - ybar)
        best, best_r, best_w = -1, -np.inf, None
        for j, a in enumerate(alphas):
            w = Vt.T @ (s / (s * s + a) * uty)
            r = np.corrcoef((X[val] - mu) @ w + ybar, y[val])[0, 1]
            if r > best_r:
                best, best_r, best_w = j, r, w
        chosen.append(best)
        predictions.append(((X[test] - mu) @ best_w + ybar).tolist())
    return {"alphas": alphas.tolist(), "chosen": chosen, "predictions": predictions}


def spearman_brown(r):
    return np.where(r <= -1 / 3, -1.0, np.minimum(1.0, 2 * r / (1 + r)))


def pearson_rows(a, b):
    """Pearson r along the last axis, ignoring NaN pairs (a and b are NaN together); 0 for a constant side."""
    ok = ~np.isnan(a)
    n = ok.sum(axis=-1)
    a0 = np.where(ok, a, 0.0)
    b0 = np.where(ok, b, 0.0)
    ma = a0.sum(axis=-1, keepdims=True) / np.maximum(n, 1)[..., None]
    mb = b0.sum(axis=-1, keepdims=True) / np.maximum(n, 1)[..., None]
    da = np.where(ok, a0 - ma, 0.0)
    db = np.where(ok, b0 - mb, 0.0)
    sab = (da * db).sum(axis=-1)
    saa = (da * da).sum(axis=-1)
    sbb = (db * db).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where((saa > 0) & (sbb > 0), sab / np.sqrt(saa * sbb), 0.0)
    return np.clip(r, -1, 1), n


def half_means(repeats, masks):
    """repeats [images, reps] (NaN = missing), masks [splits, reps] → A, B [splits, images] (NaN unless both halves)."""
    present = ~np.isnan(repeats)
    values = np.where(present, repeats, 0.0)
    in_a = masks.astype(bool)[:, None, :] & present[None]
    in_b = (~masks.astype(bool))[:, None, :] & present[None]
    na, nb = in_a.sum(-1), in_b.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        A = np.where(in_a, values[None], 0).sum(-1) / na
        B = np.where(in_b, values[None], 0).sum(-1) / nb
    both = (na > 0) & (nb > 0)
    return np.where(both, A, np.nan), np.where(both, B, np.nan)


def reliability(A, B, idx):
    """Mean Spearman–Brown split-half r over splits, on the images at positions idx (repeats allowed)."""
    r, n = pearson_rows(A[:, idx], B[:, idx])  # [splits]
    usable = n >= 3
    return spearman_brown(r[usable]).mean()


def main(directory):
    with open(os.path.join(directory, "dump.json")) as f:
        dump = json.load(f)
    masks = np.array(dump["masks"])
    rows = dump["rows"]
    test = np.array(rows["test"])
    y = [np.array(m)[test] for m in dump["means"]]
    img = np.array(dump["imageResamples"])
    neu = np.array(dump["neuronResamples"])
    rel = []
    for rep in dump["repeats"]:
        A, B = half_means(np.array(rep, dtype=np.float64), masks)
        rel.append(reliability(A, B, np.arange(A.shape[1])))
    rel = np.array(rel)
    out = {"pooledRidge": pooled_ridge(dump, directory), "reliability": rel.tolist(), "models": {},
           "differences": {}}
    stats_img, stats_neu, estimates = {}, {}, {}
    for m in dump["models"]:
        preds = [np.array(p) for p in m["predictions"]]
        r = np.array([scipy.stats.pearsonr(p, yk)[0] for p, yk in zip(preds, y)])
        nc = r ** 2 / rel
        estimates[m["name"]] = float(np.median(nc))
        r_boot = np.stack([pearson_rows(p[img], yk[img])[0] for p, yk in zip(preds, y)])  # [neurons, resamples]
        stats_img[m["name"]] = np.median(r_boot ** 2 / rel[:, None], axis=0)
        stats_neu[m["name"]] = np.median(nc[neu], axis=1)
        out["models"][m["name"]] = {
            "r": r.tolist(),
            "median": estimates[m["name"]],
            "overImages": np.percentile(stats_img[m["name"]], [2.5, 97.5]).tolist(),
            "overNeurons": np.percentile(stats_neu[m["name"]], [2.5, 97.5]).tolist(),
        }
    for a, b in dump["pairs"]:
        out["differences"][f"{a} − {b}"] = {
            "estimate": estimates[a] - estimates[b],
            "overImages": np.percentile(stats_img[a] - stats_img[b], [2.5, 97.5]).tolist(),
            "overNeurons": np.percentile(stats_neu[a] - stats_neu[b], [2.5, 97.5]).tolist(),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 test/reference/cowley_bootstrap_reference.py DIR")
    main(sys.argv[1])
