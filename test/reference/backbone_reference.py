#!/usr/bin/python3
"""Reference features and input gradients of small torchvision ResNets for analysis/backbone.

Run with Debian's python (torch 1.13, torchvision):  /usr/bin/python3 test/reference/backbone_reference.py

For each case it writes into test/fixtures/backbone/:
  <case>.safetensors  the state dict (float16, written by hand: 8-byte LE header length, JSON header, data)
  <case>.json         arch, variant, shape, and the layout of <case>.bin
  <case>.bin          little-endian arrays: RGB images (uint8, NHWC), tap features (float32, NHWC),
                      the cotangent and d(sum(features * cotangent))/d(RGB image) (float32, NHWC)

and <case>-vjp.json / <case>-vjp.bin: input gradients for the ONNX VJP graph (analysis/backbone/onnx-vjp-graph.ts) on
small 45×39 images: a dense random cotangent at EVERY tap of one image; a batch of two images with one dense
cotangent each; and k = 3 readouts at one bilinear location (grid_sample, align_corners=True, border clamp) of one
image (two one-hot rows and one dense row), i.e. the gradient of a_k = Σ_c w[k, c]·f(μ)_c.

The networks are torchvision's BasicBlock/Bottleneck ResNets at the ImageNet depths but a reduced base width
(8 instead of 64), so the committed fixtures stay small. Batch-norm running statistics are randomized so that
folding matters; the reference is computed in float64 from the float16-rounded weights that the file holds.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

torch.set_num_threads(2)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "backbone")

TORCH_MEAN = [0.485, 0.456, 0.406]
TORCH_STD = [0.229, 0.224, 0.225]
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]


class SmallResNet(ResNet):
    """torchvision's ResNet with a base width other than 64 (same module names and blocks)."""

    def __init__(self, block, layers, width, num_classes=10):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def caffe_style(model):
    """Keras/Caffe ResNet: the stride of a downsampling bottleneck sits on its first 1×1 conv; convs carry biases."""
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        first = layer[0]
        if first.conv2.stride != (1, 1):
            first.conv1.stride = first.conv2.stride
            first.conv2.stride = (1, 1)
    gen = torch.Generator().manual_seed(7)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.bias = nn.Parameter(0.1 * torch.randn(m.out_channels, generator=gen))


def randomize_bn(model, seed):
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=gen)
            m.bias.data = 0.1 * torch.randn(n, generator=gen)
            m.running_mean.data = 0.1 * torch.randn(n, generator=gen)
            m.running_var.data = 0.5 + 1.5 * torch.rand(n, generator=gen)
            m.num_batches_tracked.data = torch.tensor(1234)


def round_to_fp16(model):
    for t in list(model.parameters()) + list(model.buffers()):
        if t.dtype.is_floating_point:
            t.data = t.data.half().double()


def write_safetensors(path, state):
    header = {"__metadata__": {"format": "pt", "source": "test/reference/backbone_reference.py"}}
    chunks = []
    offset = 0
    for name, t in state.items():
        if t.dtype.is_floating_point:
            data = t.detach().cpu().numpy().astype("<f2").tobytes()
            dtype = "F16"
        else:
            data = t.detach().cpu().numpy().astype("<i8").tobytes()
            dtype = "I64"
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def preprocess(rgb, variant):
    """rgb: N,3,H,W in 0..255 → network input (N,3,H,W)."""
    if variant == "keras":
        bgr = rgb.flip(1)
        return bgr - torch.tensor(CAFFE_MEAN_BGR, dtype=rgb.dtype).view(1, 3, 1, 1)
    mean = torch.tensor(TORCH_MEAN, dtype=rgb.dtype).view(1, 3, 1, 1)
    std = torch.tensor(TORCH_STD, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb / 255.0 - mean) / std


def build_model(block, layers, width, variant, seed):
    torch.manual_seed(seed)
    model = SmallResNet(block, layers, width)
    if variant == "keras":
        caffe_style(model)
    randomize_bn(model, seed + 1)
    round_to_fp16(model)
    model.eval()
    return model


def write_arrays(path, arrays):
    """Little-endian arrays, each 4-byte aligned; returns the layout for the JSON."""
    layout = []
    offset = 0
    with open(path, "wb") as f:
        for aname, dtype, shape, data in arrays:
            pad = (4 - offset % 4) % 4
            f.write(b"\0" * pad)
            offset += pad
            layout.append({"name": aname, "dtype": dtype, "shape": shape, "offset": offset})
            f.write(data)
            offset += len(data)
    return layout


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype("<f4")


def run_case(name, block, layers, width, variant, image_sizes, taps, grad_tap, seed):
    model = build_model(block, layers, width, variant, seed)
    write_safetensors(os.path.join(OUT, name + ".safetensors"), model.state_dict())
    model = model.double()

    modules = dict(model.named_modules())
    rng = np.random.default_rng(seed + 2)
    arrays = []  # (name, dtype, shape, bytes)
    cases = []
    for i, (h, w) in enumerate(image_sizes):
        img = rng.integers(0, 256, size=(1, h, w, 3)).astype(np.uint8)
        arrays.append((f"image{i}", "u8", list(img.shape), img.tobytes()))
        rgb = torch.tensor(img, dtype=torch.float64).permute(0, 3, 1, 2).clone().requires_grad_(True)
        feats = {}
        hooks = [modules[t].register_forward_hook(lambda m, a, o, t=t: feats.__setitem__(t, o)) for t in taps]
        model(preprocess(rgb, variant))
        for hk in hooks:
            hk.remove()
        entry = {"image": f"image{i}", "height": h, "width": w, "features": {}}
        for t in taps:
            f = feats[t].detach().permute(0, 2, 3, 1).numpy().astype("<f4")
            arrays.append((f"{t}@{i}", "f32", list(f.shape), f.tobytes()))
            entry["features"][t] = f"{t}@{i}"
            print(f"{name} image{i} {h}x{w} {t}: shape {f.shape} max {np.abs(f).max():.4g} zero frac {(f == 0).mean():.2f}")
        if grad_tap is not None and h * w <= 64 * 64:  # gradients only for the small images (fixture size)
            out = feats[grad_tap]
            cot = torch.tensor(rng.standard_normal(out.shape), dtype=torch.float64)
            (g,) = torch.autograd.grad((out * cot).sum(), rgb)
            c = cot.permute(0, 2, 3, 1).numpy().astype("<f4")
            gn = g.permute(0, 2, 3, 1).numpy().astype("<f4")
            arrays.append((f"cotangent@{i}", "f32", list(c.shape), c.tobytes()))
            arrays.append((f"gradient@{i}", "f32", list(gn.shape), gn.tobytes()))
            entry["gradient"] = {"tap": grad_tap, "cotangent": f"cotangent@{i}", "gradient": f"gradient@{i}"}
            print(f"{name} image{i} grad max {np.abs(gn).max():.4g}")
        cases.append(entry)

    layout = write_arrays(os.path.join(OUT, name + ".bin"), arrays)
    meta = {
        "arch": "resnet18" if block is BasicBlock else "resnet50",
        "variant": variant,
        "shape": {"layers": layers, "width": width},
        "weights": name + ".safetensors",
        "bin": name + ".bin",
        "cases": cases,
        "arrays": layout,
        "torch": torch.__version__,
    }
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)


VJP_SIZE = (45, 39)
READOUT_TAP = "layer3.1"
READOUT_LOCATION = (0.3, -0.45)  # (x along the width, y along the height) in [-1, 1]


def run_vjp_case(name, block, layers, width, variant, seed):
    """Input-gradient references for the VJP graph (see the module docstring); weights as run_case writes them."""
    model = build_model(block, layers, width, variant, seed).double()
    modules = dict(model.named_modules())
    taps = [f"layer{i + 1}.{b}" for i, n in enumerate(layers) for b in range(n)]
    rng = np.random.default_rng(seed + 5)
    h, w = VJP_SIZE
    imgs = rng.integers(0, 256, size=(2, h, w, 3)).astype(np.uint8)
    arrays = [("images", "u8", list(imgs.shape), imgs.tobytes())]

    def forward(rgb):
        feats = {}
        hooks = [modules[t].register_forward_hook(lambda m, a, o, t=t: feats.__setitem__(t, o)) for t in taps]
        model(preprocess(rgb, variant))
        for hk in hooks:
            hk.remove()
        return feats

    def rgb_of(batch):
        return torch.tensor(batch, dtype=torch.float64).permute(0, 3, 1, 2).clone().requires_grad_(True)

    # Every tap, image 0, one dense cotangent each.
    every = {}
    for t in taps:
        rgb = rgb_of(imgs[:1])
        out = forward(rgb)[t]
        cot = torch.tensor(rng.standard_normal(out.shape), dtype=torch.float64)
        (g,) = torch.autograd.grad((out * cot).sum(), rgb)
        arrays.append((f"cotangent@{t}", "f32", list(out.permute(0, 2, 3, 1).shape), nhwc(cot).tobytes()))
        arrays.append((f"gradient@{t}", "f32", [1, h, w, 3], nhwc(g).tobytes()))
        every[t] = {"cotangent": f"cotangent@{t}", "gradient": f"gradient@{t}"}
    # Two images, one dense cotangent each, at the deepest tap.
    deepest = taps[-1]
    rgb = rgb_of(imgs)
    out = forward(rgb)[deepest]
    cot = torch.tensor(rng.standard_normal(out.shape), dtype=torch.float64)
    (g,) = torch.autograd.grad((out * cot).sum(), rgb)
    arrays.append(("batch_cotangent", "f32", list(out.permute(0, 2, 3, 1).shape), nhwc(cot).tobytes()))
    arrays.append(("batch_gradient", "f32", [2, h, w, 3], nhwc(g).tobytes()))
    # k = 3 bilinear readouts at one location of image 0 (rows: one-hot 5, one-hot C-1, dense).
    grads = []
    rgb = rgb_of(imgs[:1])
    fmap = forward(rgb)[READOUT_TAP]
    channels = fmap.shape[1]
    readout = np.zeros((3, channels))
    readout[0, 5] = 1
    readout[1, channels - 1] = 1
    readout[2] = rng.standard_normal(channels)
    grid = torch.tensor([[[READOUT_LOCATION]]], dtype=torch.float64)  # 1 x 1 x 1 x 2
    sampled = torch.nn.functional.grid_sample(fmap, grid, mode="bilinear", padding_mode="border",
                                              align_corners=True)[0, :, 0, 0]
    for k in range(3):
        (g,) = torch.autograd.grad((sampled * torch.tensor(readout[k])).sum(), rgb, retain_graph=True)
        grads.append(nhwc(g))
    arrays.append(("readout_weights", "f32", [3, channels], readout.astype("<f4").tobytes()))
    arrays.append(("readout_gradient", "f32", [3, h, w, 3], np.concatenate(grads).tobytes()))
    print(f"{name}-vjp: {len(taps)} taps, readout at {READOUT_TAP} {READOUT_LOCATION}, "
          f"max grad {max(np.abs(x).max() for x in grads):.4g}")

    layout = write_arrays(os.path.join(OUT, name + "-vjp.bin"), arrays)
    meta = {
        "arch": "resnet18" if block is BasicBlock else "resnet50",
        "variant": variant,
        "shape": {"layers": layers, "width": width},
        "weights": name + ".safetensors",
        "bin": name + "-vjp.bin",
        "height": h,
        "width": w,
        "images": "images",
        "everyTap": every,
        "batch": {"tap": deepest, "cotangent": "batch_cotangent", "gradient": "batch_gradient"},
        "readout": {"tap": READOUT_TAP, "location": list(READOUT_LOCATION), "weights": "readout_weights",
                    "gradient": "readout_gradient"},
        "arrays": layout,
        "torch": torch.__version__,
    }
    with open(os.path.join(OUT, name + "-vjp.json"), "w") as f:
        json.dump(meta, f, indent=1)


def main():
    os.makedirs(OUT, exist_ok=True)
    run_case("resnet18-w8", BasicBlock, [2, 2, 2, 2], 8, "torchvision", [(64, 64), (61, 57), (224, 224)],
             ["layer3.1", "layer4.1"], "layer4.1", 11)
    run_case("resnet50-w8", Bottleneck, [3, 4, 6, 3], 8, "torchvision", [(64, 64), (61, 57)],
             ["layer3.1", "layer4.1", "layer4.2"], "layer4.1", 21)
    run_case("resnet50caffe-w8", Bottleneck, [1, 2, 2, 2], 8, "keras", [(64, 64), (61, 57)],
             ["layer3.1", "layer4.1"], "layer4.1", 31)
    run_vjp_case("resnet18-w8", BasicBlock, [2, 2, 2, 2], 8, "torchvision", 11)
    run_vjp_case("resnet50-w8", Bottleneck, [3, 4, 6, 3], 8, "torchvision", 21)
    run_vjp_case("resnet50caffe-w8", Bottleneck, [1, 2, 2, 2], 8, "keras", 31)


if __name__ == "__main__":
    main()
