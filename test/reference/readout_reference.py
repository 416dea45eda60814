"""Reference numbers for the readout, similarity and synthetic-neuron tests (PyTorch grid_sample, NumPy).

Run: /usr/bin/python3 test/reference/readout_reference.py  → test/fixtures/readout/readout_reference.json
"""
import json
import os

import numpy as np
import torch

torch.set_num_threads(2)
rng = np.random.default_rng(20240514)
out = {}

# 1. Bilinear sampling at readout locations: grid_sample(align_corners=True, padding_mode="border").
n, h, w, c = 2, 5, 6, 3
feat = rng.random((n, h, w, c)).astype(np.float32)
locations = [[0.0, 0.0], [-1.0, -1.0], [1.0, 1.0], [0.37, -0.61], [-0.9, 0.45], [1.0, -0.2], [0.999, 0.3],
             [1.4, -1.3], [-0.2, 1.0]]
x = torch.from_numpy(feat).permute(0, 3, 1, 2)  # NCHW
samples = []
for loc in locations:
    grid = torch.tensor(loc, dtype=torch.float32).view(1, 1, 1, 2).expand(n, 1, 1, 2)
    y = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    samples.append(y[:, :, 0, 0].numpy().astype(float).ravel().tolist())  # N×C
out["grid_sample"] = {"n": n, "h": h, "w": w, "c": c, "features": feat.ravel().astype(float).tolist(),
                      "locations": locations, "samples": samples}

# 1b. Gradient of a readout's MSE w.r.t. location, weights and bias (autograd through grid_sample).
loc = torch.tensor([[0.21, -0.43]], dtype=torch.float64, requires_grad=True)
wt = torch.tensor(rng.normal(size=c), dtype=torch.float64, requires_grad=True)
b = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
target = torch.tensor(rng.normal(size=n), dtype=torch.float64)
a = torch.nn.functional.grid_sample(x.double(), loc.view(1, 1, 1, 2).expand(n, 1, 1, 2), mode="bilinear",
                                    padding_mode="border", align_corners=True)[:, :, 0, 0]
loss = ((a @ wt + b - target) ** 2).mean()
loss.backward()
out["readout_gradient"] = {"location": loc.detach().numpy().ravel().tolist(), "weights": wt.detach().numpy().tolist(),
                           "bias": 0.3, "target": target.numpy().tolist(), "loss": loss.item(),
                           "dLocation": loc.grad.numpy().ravel().tolist(), "dWeights": wt.grad.numpy().tolist(),
                           "dBias": b.grad.item()}

# 2. Neuron-specific similarity s = <a1⊙w, a2⊙w>/(‖a1⊙w‖‖a2⊙w‖) (Lappe et al. 2024, eq. 2).
cs = 16
a1 = rng.random(cs)
a2 = rng.random(cs)
ws = rng.normal(size=cs)
u, v = a1 * ws, a2 * ws
out["similarity"] = {"a1": a1.tolist(), "a2": a2.tolist(), "w": ws.tolist(),
                     "s": float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))}

# 3. Top eigenvector of A_inᵀA_in − A_outᵀA_out (dense numpy eigh), signed so that Σ A_in v ≥ 0.
ce = 12
a_in = np.maximum(rng.normal(0.3, 1.0, size=(9, ce)), 0)
a_out = np.maximum(rng.normal(0.2, 1.0, size=(14, ce)), 0)
m = a_in.T @ a_in - a_out.T @ a_out
vals, vecs = np.linalg.eigh(m)
top = vecs[:, -1]
if (a_in @ top).sum() < 0:
    top = -top
out["category_eigen"] = {"c": ce, "a_in": a_in.ravel().tolist(), "a_out": a_out.ravel().tolist(),
                         "value": float(vals[-1]), "vector": top.tolist(), "second": float(vals[-2])}

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "readout", "readout_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
