"""Reference fixtures for test/stimuli (independent of sharp/libvips): PIL resizes and numpy alpha compositing.

Run: /usr/bin/python3 test/reference/stimuli_reference.py  (writes test/fixtures/stimuli/)
"""
import json
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "stimuli")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(12345)

# A 97x61 RGB pattern: smooth gradients, a uniform colour patch, a fine checkerboard (aliasing bait), noise.
H, W = 61, 97
y, x = np.mgrid[0:H, 0:W].astype(np.float64)
img = np.stack([
    128 + 100 * np.sin(x / 9.0),
    128 + 90 * np.cos(y / 7.0),
    60 + 150 * (x + y) / (W + H),
], axis=-1)
img += rng.normal(0, 6, img.shape)
img[30:44, 60:90] = np.where(((x[30:44, 60:90] + y[30:44, 60:90]) % 2)[..., None] == 0, 255, 0)  # checkerboard
PATCH = {"x0": 8, "y0": 10, "x1": 48, "y1": 50, "rgb": [200, 40, 90]}  # [x0,x1) × [y0,y1)
img[PATCH["y0"]:PATCH["y1"], PATCH["x0"]:PATCH["x1"]] = PATCH["rgb"]
img = np.clip(np.round(img), 0, 255).astype(np.uint8)
Image.fromarray(img, "RGB").save(os.path.join(OUT, "pattern.png"))

src = Image.fromarray(img, "RGB")
cases = []
# Reductions only: when enlarging, sharp/libvips samples half an output pixel off PIL's (and PyTorch's
# align_corners=False) pixel-centre convention, so enlargements are not compared here.
for name, size, method in [
    ("down_lanczos_40x25", (40, 25), Image.LANCZOS),   # ×0.41: antialiased reduction
    ("down_lanczos_64x40", (64, 40), Image.LANCZOS),   # ×0.66
]:
    ref = np.asarray(src.resize(size, method), dtype=np.uint8)
    ref.tofile(os.path.join(OUT, f"{name}.u8"))
    cases.append({"name": name, "width": size[0], "height": size[1], "method": "LANCZOS"})

# RGBA with an alpha ramp: the expected flatten onto gray 128 is a*c + (1-a)*128 (straight alpha).
rgba = np.zeros((16, 24, 4), dtype=np.uint8)
rgba[..., 0] = 250
rgba[..., 1] = np.linspace(0, 255, 24).astype(np.uint8)[None, :]
rgba[..., 2] = 10
rgba[..., 3] = np.linspace(0, 255, 16).astype(np.uint8)[:, None]
Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "alpha-ramp.png"))
a = rgba[..., 3:4].astype(np.float64) / 255.0
flat = np.round(a * rgba[..., :3] + (1 - a) * 128.0).astype(np.uint8)
flat.tofile(os.path.join(OUT, "alpha-ramp-flat.u8"))

with open(os.path.join(OUT, "reference.json"), "w") as f:
    json.dump({
        "generator": "test/reference/stimuli_reference.py",
        "pil": Image.__version__ if hasattr(Image, "__version__") else __import__("PIL").__version__,
        "pattern": {"file": "pattern.png", "width": W, "height": H, "patch": PATCH},
        "resize": cases,
        "alphaRamp": {"file": "alpha-ramp.png", "flat": "alpha-ramp-flat.u8", "width": 24, "height": 16, "background": 128},
    }, f, indent=2)
print("wrote", sorted(os.listdir(OUT)))
