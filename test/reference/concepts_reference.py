#!/usr/bin/python3
"""Reference values for analysis/concepts from SciPy (Debian's SciPy, numpy).

Run:  /usr/bin/python3 test/reference/concepts_reference.py
Writes test/fixtures/concepts/concepts_reference.json, read by test/analysis/concepts-eigen.test.ts.
Inputs are drawn here with a fixed numpy seed (node features stored as float32 values, so both sides start from the
same numbers) and stored with scipy.linalg.eigh's eigenpairs:
- a dense symmetric matrix with eigenvalues of both signs (the dense solver on its own);
- a graph of pixel-like nodes: A_ij = exp(-(1 - cos(x_i, x_j)) / gamma), D = diag(A 1), M = D^-1/2 A D^-1/2,
  with the degrees and the top-k eigenpairs of M (the normalized cut's embedding).
"""
import json
import os

import numpy as np
import scipy
import scipy.linalg

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "concepts", "concepts_reference.json")
rng = np.random.default_rng(20240611)


def fl(a):
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


# A dense symmetric matrix (n = 40) with a spread of positive and negative eigenvalues.
n_dense = 40
B = rng.standard_normal((n_dense, n_dense))
S = (B + B.T) / 2
w_dense, v_dense = scipy.linalg.eigh(S)
order = np.argsort(-w_dense)

# A graph of n = 300 nodes in d = 6: 6 clusters of unequal size around random directions, plus noise.
n, d, clusters, gamma, k = 300, 6, 6, 0.25, 8
centres = rng.standard_normal((clusters, d))
sizes = np.array([90, 70, 50, 40, 30, 20])
labels = np.repeat(np.arange(clusters), sizes)
X = (centres[labels] + 0.45 * rng.standard_normal((n, d))).astype(np.float32)
Xd = X.astype(np.float64)
U = Xd / np.linalg.norm(Xd, axis=1, keepdims=True)
A = np.exp(-(1.0 - U @ U.T) / gamma)
deg = A.sum(axis=1)
M = A / np.sqrt(np.outer(deg, deg))
w, v = scipy.linalg.eigh(M)
top = np.argsort(-w)[:k]

json.dump(
    {
        "generator": "test/reference/concepts_reference.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "dense": {
            "n": n_dense,
            "matrix": fl(S),
            "values": fl(w_dense[order]),
            "vectors": fl(v_dense[:, order]),
        },
        "graph": {
            "n": n,
            "d": d,
            "gamma": gamma,
            "k": k,
            "features": fl(X),
            "labels": [int(v) for v in labels],
            "degree": fl(deg),
            "values": fl(w[top]),
            "vectors": fl(v[:, top]),
            "nextValue": float(w[np.argsort(-w)[k]]),
        },
    },
    open(OUT, "w"),
)
print(f"wrote {OUT}: top eigenvalues {np.round(w[top], 6)}")
