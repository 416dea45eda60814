#!/usr/bin/python3
"""Independent reference for analysis/saliency (Lappe et al. 2024, eqs. 2-7) in PyTorch autograd + SciPy.

Run with Debian's python (torch 1.13, scipy):  /usr/bin/python3 test/reference/saliency_reference.py

Network: the committed ResNet-18 fixture of width 8 (test/fixtures/backbone/resnet18-w8.safetensors), float64.
Images: four demo stimuli (stimuli/demo) flattened on gray 128, resized to 64x64 with PIL's Lanczos, dithered
(uniform integers in [-6, 6]; max-pool ties on flat backgrounds have no unique gradient).
Readout: tap layer3.1 (4x4x32 at 64 px), location mu = (0.3, -0.2), weights ~ N(0, 1) (seed 5).
a(x) = grid_sample(features, mu, align_corners=True); s = <a1*w, a2*w>/(|a1*w||a2*w|)   (eq. 2)
beta_i = a_in,i w_i a_out,i w_i / (|a_in*w||a_out*w|)                                    (eq. 5)
K: smallest prefix by |beta| descending (stable) with sum of dropped |beta| <= eps*s
I(x) = sum_{i in K} c_i unit(gaussian_filter(da_i/dx, (sigma, sigma, 0), mode=reflect))  (eq. 6)
  c_i = beta_i ("gradient", "ig") or 1 ("unweighted"); "ig" averages da_i/dx at x0 + (t-1/2)/m (x - x0),
  x0 = the image whose preprocessed input is zero (255*mean), without the (x - x0) factor.
Gradients are w.r.t. the RGB image in 0..255 (HWC), one autograd.grad per feature (no batching tricks).

Writes test/fixtures/saliency/saliency.json (+ saliency.bin, float32 little-endian arrays).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import gaussian_filter
from torchvision.models.resnet import BasicBlock

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT = os.path.join(ROOT, "test", "fixtures", "saliency")
sys.path.insert(0, HERE)
from backbone_reference import SmallResNet  # noqa: E402  (same module names as torchvision's ResNet)

torch.set_num_threads(2)
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
TAP = "layer3.1"
LOCATION = (0.3, -0.2)
SIZE = 64
IMAGES = ["objects/object-basketball.png", "bodies/body-bear.png", "bodies/body-bison.png", "objects/object-beetle.png"]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = {"F16": "<f2", "F32": "<f4", "I64": "<i8"}[e["dtype"]]
        out[name] = torch.tensor(np.frombuffer(data[a:b], dtype=dt).reshape(e["shape"]).astype(np.float64 if dt != "<i8" else np.int64))
    return out


def load_model():
    model = SmallResNet(BasicBlock, [2, 2, 2, 2], 8)
    state = read_safetensors(os.path.join(ROOT, "test", "fixtures", "backbone", "resnet18-w8.safetensors"))
    model = model.double()
    model.load_state_dict(state)
    return model.eval()


def load_image(rel):
    im = Image.open(os.path.join(ROOT, "stimuli", "demo", rel)).convert("RGBA")
    bg = Image.new("RGBA", im.size, (128, 128, 128, 255))
    im = Image.alpha_composite(bg, im).convert("RGB").resize((SIZE, SIZE), Image.LANCZOS)
    # Dither by ±6 levels: on a flat background, max-pool windows tie, and PyTorch and tfjs route a tie's gradient
    # to different (equally valid) positions; the dither makes the subgradient unique so the maps are comparable.
    dither = np.random.default_rng(sum(map(ord, rel))).integers(-6, 7, size=(SIZE, SIZE, 3))
    return np.clip(np.asarray(im, dtype=np.int64) + dither, 0, 255).astype(np.uint8)


class Channel:
    def __init__(self, model, weights):
        self.model = model
        self.w = torch.tensor(weights, dtype=torch.float64)
        self.feats = {}
        dict(model.named_modules())[TAP].register_forward_hook(lambda m, a, o: self.feats.__setitem__("f", o))

    def features(self, rgb):
        """rgb: torch (H, W, 3) float64 in 0..255 -> a (C,) at the readout location."""
        x = rgb.permute(2, 0, 1).unsqueeze(0) / 255.0
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        self.model(x)
        grid = torch.tensor([[[LOCATION]]], dtype=torch.float64)  # (1, 1, 1, 2): (x, y)
        return F.grid_sample(self.feats["f"], grid, mode="bilinear", align_corners=True).view(-1)


def similarity(a1, a2, w):
    u, v = a1 * w, a2 * w
    return float((u * v).sum() / (np.linalg.norm(u) * np.linalg.norm(v)))


def select(beta, s, eps):
    order = np.argsort(-np.abs(beta), kind="stable")
    mags = np.abs(beta[order])
    for k in range(len(order) + 1):
        if mags[k:].sum() <= max(0.0, eps * s):
            return order[:k], float(mags[k:].sum())
    raise AssertionError


def gradients(ch, img, feats, method, steps):
    """da_i/dx (H, W, 3) for i in feats, averaged along the IG path for method 'ig'."""
    x_img = torch.tensor(img, dtype=torch.float64)
    zero = torch.tensor(255.0 * MEAN)
    points = [x_img] if method != "ig" else [zero + (t - 0.5) / steps * (x_img - zero) for t in range(1, steps + 1)]
    total = [np.zeros(img.shape) for _ in feats]
    for p in points:
        x = p.clone().requires_grad_(True)
        a = ch.features(x)
        for j, i in enumerate(feats):
            (g,) = torch.autograd.grad(a[int(i)], x, retain_graph=True)
            total[j] += g.numpy()
    return [t / len(points) for t in total]


def saliency(ch, img, feats, coef, sigma, method, steps):
    acc = np.zeros(img.shape)
    for c, g in zip(coef, gradients(ch, img, feats, method, steps)):
        sm = gaussian_filter(g, sigma=(sigma, sigma, 0), mode="reflect", truncate=4.0)
        n = np.linalg.norm(sm)
        if n > 0:
            acc += c * sm / n
    return acc


def main():
    os.makedirs(OUT, exist_ok=True)
    model = load_model()
    rng = np.random.default_rng(5)
    weights = rng.standard_normal(32)
    ch = Channel(model, weights)
    images = [load_image(p) for p in IMAGES]
    arrays = []  # (name, shape, float32 bytes)

    def add(name, arr):
        a = np.asarray(arr, dtype="<f4")
        arrays.append((name, list(a.shape), a.tobytes()))
        return name

    for i, im in enumerate(images):
        add(f"image{i}", im)
    with torch.no_grad():
        feats = [ch.features(torch.tensor(im, dtype=torch.float64)).numpy() for im in images]
    for i, a in enumerate(feats):
        add(f"a{i}", a)
    x_out, x_in = images[0], images[1]
    a_out, a_in = feats[0], feats[1]
    s = similarity(a_in, a_out, weights)
    beta = a_in * weights * a_out * weights / (np.linalg.norm(a_in * weights) * np.linalg.norm(a_out * weights))
    add("beta", beta)
    print(f"s = {s:.6f}, sum beta = {beta.sum():.6f}, min a = {min(a_out.min(), a_in.min()):.3g}, nonzero beta {np.count_nonzero(beta)}")

    cases = []
    for name, method, sigma, eps, steps in [
        ("gradient", "gradient", 2.0, 0.01, 1),
        ("gradient-full", "gradient", 2.0, 0.0, 1),
        ("gradient-raw", "gradient", 0.0, 0.05, 1),
        ("ig", "ig", 2.0, 0.05, 4),
        ("unweighted", "unweighted", 2.0, 0.05, 1),
    ]:
        keep, dropped = select(beta, s, eps)
        coef = np.ones(len(keep)) if method == "unweighted" else beta[keep]
        out_map = saliency(ch, x_out, keep, coef, sigma, method, steps)
        in_map = saliency(ch, x_in, keep, coef, sigma, method, steps)
        cases.append({
            "name": name, "method": method, "sigma": sigma, "epsilon": eps, "igSteps": steps,
            "k": int(len(keep)), "indices": [int(i) for i in keep], "dropped": dropped,
            "normOut": float(np.linalg.norm(out_map)), "normIn": float(np.linalg.norm(in_map)),
            "outMap": add(f"{name}/out", out_map), "inMap": add(f"{name}/in", in_map),
        })
        print(f"{name}: k={len(keep)} dropped={dropped:.3g} |I_out|={np.linalg.norm(out_map):.4f} |I_in|={np.linalg.norm(in_map):.4f}")

    smooth = []
    noise = rng.standard_normal((13, 17, 3))
    add("noise", noise)
    for sg in [0.7, 1.5, 5.0]:
        smooth.append({"sigma": sg, "array": add(f"smooth/{sg}", gaussian_filter(noise, sigma=(sg, sg, 0), mode="reflect", truncate=4.0))})

    layout, offset = [], 0
    with open(os.path.join(OUT, "saliency.bin"), "wb") as f:
        for aname, shape, data in arrays:
            layout.append({"name": aname, "shape": shape, "offset": offset})
            f.write(data)
            offset += len(data)
    meta = {
        "network": "../backbone/resnet18-w8.safetensors", "arch": "resnet18", "variant": "torchvision",
        "tap": TAP, "location": list(LOCATION), "weights": weights.tolist(), "images": IMAGES,
        "s": s, "cases": cases, "smooth": smooth, "bin": "saliency.bin", "arrays": layout,
        "torch": torch.__version__,
    }
    with open(os.path.join(OUT, "saliency.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
