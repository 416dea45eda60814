#!/usr/bin/python3
"""Independent reference for analysis/optvis (feature visualization by optimization) in NumPy, SciPy and PyTorch.

Run with Debian's python (torch 1.13, scipy):  /usr/bin/python3 test/reference/optvis_reference.py

1. Fourier parameterization (lucent fft_image + to_valid_rgb, with numpy's irfft2 semantics for odd widths):
   x = sigmoid(M . irfft2(s * (re + i im), norm="ortho") / 4), s = 1/max(|f|, 1/max(h, w)), M = lucent's
   color_correlation_svd_sqrt / max column norm. Cases 6x7 (odd width) and 8x8, two images.
2. Geometric transforms: rotation by scipy.ndimage.rotate (order 1, reshape=False, mode grid-constant, cval 0.5,
   centre (n-1)/2); resize by torch.nn.functional.interpolate (bilinear, align_corners=False, size given).
3. Render loops (no transforms) in PyTorch autograd with Adam (lr 0.05, betas 0.9/0.999, eps 1e-8), 20 steps:
   tap(rgb) = relu(conv3x3(rgb / 255, W) + b) (4 features, padding 1); objective per image
   r(x) = w . grid_sample(tap, mu, align_corners=True) + b0 - 0.5 * sum_{j!=i} cos(G_i, G_j) / n
          - 0.01 * sum (x - 0.5)^2 - 0.01 * TV(x),  G = F^T F of the tap's features (lucent diversity);
   loss = -sum_i r(x_i); trace = sum_i r before each update. Pixel (decorrelated) and Fourier parameterizations.

Writes test/fixtures/optvis/optvis.json (+ optvis.bin, float32 little-endian arrays).
"""
import json
import os

import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "optvis")
torch.set_num_threads(2)

SVD_SQRT = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float64)
M = SVD_SQRT / np.max(np.linalg.norm(SVD_SQRT, axis=0))


def freqs(h, w):
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 1]  # numpy's half spectrum (lucent takes w//2+2 columns for odd w)
    return np.sqrt(fx * fx + fy * fy)


def scale(h, w, decay=1.0):
    return 1.0 / np.maximum(freqs(h, w), 1.0 / max(w, h)) ** decay


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


arrays = []


def add(name, a):
    a = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
    arrays.append((name, list(a.shape), a.tobytes()))
    return name


def fourier_cases(rng):
    cases = []
    for h, w in [(6, 7), (8, 8)]:
        n = 2
        wf = w // 2 + 1
        re = rng.normal(size=(n * 3, h, wf))
        im = rng.normal(size=(n * 3, h, wf))
        spec = scale(h, w)[None] * (re + 1j * im)
        planes = np.fft.irfft2(spec, s=(h, w), norm="ortho")  # [n*3, h, w]
        nhwc = (planes / 4).reshape(n, 3, h, w).transpose(0, 2, 3, 1)
        image = sigmoid(nhwc @ M.T)
        cases.append({
            "n": n, "height": h, "width": w,
            "re": add(f"fourier{h}x{w}.re", re), "im": add(f"fourier{h}x{w}.im", im),
            "scale": add(f"fourier{h}x{w}.scale", scale(h, w)),
            "planes": add(f"fourier{h}x{w}.planes", planes),
            "image": add(f"fourier{h}x{w}.image", image),
        })
    return cases


def transform_cases(rng):
    img = rng.uniform(size=(1, 9, 11, 3))
    rot = []
    for deg in [7.0, -10.0]:
        out = np.stack([ndi.rotate(img[0, :, :, c], deg, reshape=False, order=1, mode="grid-constant", cval=0.5)
                        for c in range(3)], axis=-1)[None]
        rot.append({"degrees": deg, "output": add(f"rotate{deg:g}", out)})
    res = []
    for oh, ow in [(10, 12), (8, 9), (17, 23)]:
        t = torch.tensor(img).permute(0, 3, 1, 2)
        out = F.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).numpy()
        res.append({"height": oh, "width": ow, "output": add(f"resize{oh}x{ow}", out)})
    return {"input": add("transform.input", img), "rotations": rot, "resizes": res}


def render_cases(rng):
    n, h, w, c = 2, 12, 12, 4
    conv_w = rng.normal(size=(c, 3, 3, 3)) * 0.5
    conv_b = rng.normal(size=(c,)) * 0.1
    ro_w = rng.normal(size=(c,))
    ro_b = 0.3
    mu = (0.3, -0.2)
    lam_div, lam_l2, lam_tv = 0.5, 0.01, 0.01
    steps, lr = 20, 0.05
    Wt = torch.tensor(conv_w)
    bt = torch.tensor(conv_b)
    Mt = torch.tensor(M)
    common = {"n": n, "height": h, "width": w, "features": c, "location": list(mu), "readoutBias": ro_b,
              "diversity": lam_div, "l2": lam_l2, "tv": lam_tv, "steps": steps, "learningRate": lr,
              "convWeight": add("render.convWeight", conv_w), "convBias": add("render.convBias", conv_b),
              "readoutWeights": add("render.readoutWeights", ro_w)}

    def objective(x):  # x [n, h, w, 3] in [0, 1] -> per-image values [n]
        rgb = (x * 255).permute(0, 3, 1, 2)
        a = torch.relu(F.conv2d(rgb / 255, Wt, bt, padding=1))  # [n, c, h, w]
        grid = torch.tensor([[[list(mu)]]], dtype=a.dtype).expand(n, 1, 1, 2)
        feat = F.grid_sample(a, grid, align_corners=True)[:, :, 0, 0]  # [n, c]
        pred = feat @ torch.tensor(ro_w) + ro_b
        flat = a.reshape(n, c, -1)
        grams = flat @ flat.transpose(1, 2)
        grams = grams.reshape(n, -1)
        grams = grams / grams.norm(dim=1, keepdim=True)
        cos = grams @ grams.T
        div = -lam_div * (cos.sum(1) - cos.diagonal()) / n
        l2 = -lam_l2 * ((x - 0.5) ** 2).sum((1, 2, 3))
        tv = -lam_tv * ((x[:, 1:] - x[:, :-1]).abs().sum((1, 2, 3)) + (x[:, :, 1:] - x[:, :, :-1]).abs().sum((1, 2, 3)))
        return pred + div + l2 + tv

    def run(params, image_fn):
        opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
        trace = []
        for _ in range(steps):
            opt.zero_grad()
            v = objective(image_fn()).sum()
            trace.append(v.item())
            (-v).backward()
            opt.step()
        with torch.no_grad():
            x = image_fn()
            return x.numpy(), np.array(trace), objective(x).numpy()

    out = []
    p0 = rng.normal(size=(n, h, w, 3)) * 0.5
    p = torch.tensor(p0, requires_grad=True)
    img, trace, final = run([p], lambda: torch.sigmoid(p @ Mt.T))
    out.append({**common, "kind": "pixels", "initial": add("render.pixels.initial", p0),
                "images": add("render.pixels.images", img), "trace": add("render.pixels.trace", trace),
                "final": add("render.pixels.final", final)})

    wf = w // 2 + 1
    re0 = rng.normal(size=(n * 3, h, wf)) * 0.5
    im0 = rng.normal(size=(n * 3, h, wf)) * 0.5
    re = torch.tensor(re0, requires_grad=True)
    im = torch.tensor(im0, requires_grad=True)
    s = torch.tensor(scale(h, w))

    def fourier():
        planes = torch.fft.irfft2(torch.complex(s * re, s * im), s=(h, w), norm="ortho")
        nhwc = (planes / 4).reshape(n, 3, h, w).permute(0, 2, 3, 1)
        return torch.sigmoid(nhwc @ Mt.T)

    img, trace, final = run([re, im], fourier)
    out.append({**common, "kind": "fourier", "initialRe": add("render.fourier.re", re0),
                "initialIm": add("render.fourier.im", im0),
                "images": add("render.fourier.images", img), "trace": add("render.fourier.trace", trace),
                "final": add("render.fourier.final", final)})
    return out


def main():
    rng = np.random.default_rng(20240610)
    meta = {
        "colorMatrix": M.tolist(),
        "fourier": fourier_cases(rng),
        "transforms": transform_cases(rng),
        "render": render_cases(rng),
        "torch": torch.__version__,
        "bin": "optvis.bin",
    }
    os.makedirs(OUT, exist_ok=True)
    layout, offset = [], 0
    with open(os.path.join(OUT, "optvis.bin"), "wb") as f:
        for name, shape, data in arrays:
            f.write(data)
            layout.append({"name": name, "shape": shape, "offset": offset})
            offset += len(data)
    meta["arrays"] = layout
    with open(os.path.join(OUT, "optvis.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {len(layout)} arrays ({offset} bytes) to {OUT}")


if __name__ == "__main__":
    main()
