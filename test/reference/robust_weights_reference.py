#!/usr/bin/python3
"""Checkpoints laid out as robust-model releases are, and PyTorch's features and gradients of the network in them,
for test/analysis/backbone-robust-weights.test.ts (which then runs torch_checkpoint_to_safetensors.py on them).

Run with Debian's python (torch 1.13, torchvision):  /usr/bin/python3 test/reference/robust_weights_reference.py DIR

The network is a random torchvision Bottleneck ResNet at ResNet-50 depth [3, 4, 6, 3] with base width 8 (as the
resnet50-w8 fixtures of backbone_reference.py), its batch-norm statistics randomized so that folding matters. It
is saved in DIR four ways:
  robustness.pt   the robustness library's layout: {"model": DataParallel(AttackerModel).state_dict(), "optimizer",
                  "schedule", "epoch"}, i.e. module.normalizer.new_mean/new_std, module.model.*,
                  module.attacker.normalize.*, module.attacker.model.* (AttackerModel's modules as the library names
                  them: normalizer, model, attacker.normalize, attacker.model)
  robustbench.pt  {"state_dict": Sequential(normalize=ImageNormalizer, model=net).state_dict()}: normalize.mean/std,
                  model.*
  bare.pt         net.state_dict()
  cifar.pt        the robustness layout with CIFAR-10's normalization (the converter must refuse it)
and DIR/reference.json holds, from robustness.pt loaded back into an AttackerModel and run in float64 as the
library runs it (model(normalizer(x)), x = RGB/255): the torchvision keys, two random RGB images (NHWC uint8),
their features at layer3.1 and layer4.1 (NHWC), the input gradient (RGB 0..255 units, NHWC) of Σ f·cotangent at
layer4.1 for a dense random cotangent of image 0, and the gradients of k = 2 bilinear readouts (grid_sample,
align_corners=True, border) at one location of layer4.1: a one-hot row and a dense row.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backbone_reference import SmallResNet, randomize_bn  # noqa: E402

torch.set_num_threads(2)
LAYERS = [3, 4, 6, 3]
WIDTH = 8
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CIFAR = ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
SIZES = [(64, 64), (57, 61)]
TAPS = ["layer3.1", "layer4.1"]
GRAD_TAP = "layer4.1"
LOCATION = (0.3, -0.45)  # (x along the width, y along the height) in [-1, 1]


class InputNormalize(nn.Module):
    """robustness.tools.helpers.InputNormalize: buffers new_mean, new_std of shape [3, 1, 1]; input in [0, 1]."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("new_mean", torch.tensor(mean)[..., None, None])
        self.register_buffer("new_std", torch.tensor(std)[..., None, None])

    def forward(self, x):
        return (torch.clamp(x, 0, 1) - self.new_mean) / self.new_std


class Attacker(nn.Module):
    def __init__(self, model, mean, std):
        super().__init__()
        self.normalize = InputNormalize(mean, std)
        self.model = model


class AttackerModel(nn.Module):
    """robustness.attacker.AttackerModel's module names: normalizer, model, attacker (normalize, model)."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.normalizer = InputNormalize(mean, std)
        self.model = model
        self.attacker = Attacker(model, mean, std)


class ImageNormalizer(nn.Module):
    """RobustBench's ImageNormalizer: buffers mean, std of shape [1, 3, 1, 1]."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))


def network(seed):
    torch.manual_seed(seed)
    net = SmallResNet(Bottleneck, LAYERS, WIDTH, num_classes=10)
    randomize_bn(net, seed + 1)
    return net.eval()


def robustness_checkpoint(net, mean, std):
    wrapped = nn.DataParallel(AttackerModel(net, mean, std))  # on a CPU-only torch: just the "module." prefix
    return {"model": wrapped.state_dict(), "optimizer": {"state": {}, "param_groups": []}, "schedule": None,
            "epoch": 90}


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype(np.float64)


def main(out):
    os.makedirs(out, exist_ok=True)
    net = network(41)
    torch.save(robustness_checkpoint(net, *IMAGENET), os.path.join(out, "robustness.pt"))
    robustbench = nn.Sequential()
    robustbench.add_module("normalize", ImageNormalizer(*IMAGENET))
    robustbench.add_module("model", net)
    torch.save({"state_dict": robustbench.state_dict()}, os.path.join(out, "robustbench.pt"))
    torch.save(net.state_dict(), os.path.join(out, "bare.pt"))
    torch.save(robustness_checkpoint(net, *CIFAR), os.path.join(out, "cifar.pt"))

    # The reference runs what the robustness library would run: the checkpoint loaded back into an AttackerModel.
    loaded = AttackerModel(SmallResNet(Bottleneck, LAYERS, WIDTH, num_classes=10), *IMAGENET)
    state = torch.load(os.path.join(out, "robustness.pt"))["model"]
    loaded.load_state_dict({k[len("module."):]: v for k, v in state.items()})
    loaded = loaded.double().eval()
    modules = dict(loaded.model.named_modules())

    def forward(rgb):
        feats = {}
        hooks = [modules[t].register_forward_hook(lambda m, a, o, t=t: feats.__setitem__(t, o)) for t in TAPS]
        loaded.model(loaded.normalizer(rgb / 255.0))
        for hk in hooks:
            hk.remove()
        return feats

    rng = np.random.default_rng(42)
    images = []
    for i, (h, w) in enumerate(SIZES):
        img = rng.integers(0, 256, size=(1, h, w, 3)).astype(np.uint8)
        rgb = torch.tensor(img, dtype=torch.float64).permute(0, 3, 1, 2).clone().requires_grad_(True)
        feats = forward(rgb)
        entry = {"height": h, "width": w, "rgb": img.ravel().tolist(),
                 "features": {t: {"shape": list(nhwc(feats[t]).shape), "data": nhwc(feats[t]).ravel().tolist()}
                              for t in TAPS}}
        if i == 0:
            out_map = feats[GRAD_TAP]
            cot = torch.tensor(rng.standard_normal(out_map.shape), dtype=torch.float64)
            (g,) = torch.autograd.grad((out_map * cot).sum(), rgb, retain_graph=True)
            entry["gradient"] = {"tap": GRAD_TAP, "cotangent": nhwc(cot).ravel().tolist(),
                                 "gradient": nhwc(g).ravel().tolist()}
            channels = out_map.shape[1]
            readout = np.zeros((2, channels))
            readout[0, 5] = 1
            readout[1] = rng.standard_normal(channels)
            grid = torch.tensor([[[LOCATION]]], dtype=torch.float64)
            sampled = torch.nn.functional.grid_sample(out_map, grid, mode="bilinear", padding_mode="border",
                                                      align_corners=True)[0, :, 0, 0]
            grads = []
            for k in range(2):
                (gk,) = torch.autograd.grad((sampled * torch.tensor(readout[k])).sum(), rgb, retain_graph=True)
                grads.append(nhwc(gk).ravel())
            entry["readout"] = {"tap": GRAD_TAP, "location": list(LOCATION), "weights": readout.ravel().tolist(),
                                "gradient": np.concatenate(grads).tolist()}
        images.append(entry)
        print(f"image {i} {h}x{w}: " + ", ".join(f"{t} {list(nhwc(feats[t]).shape)}" for t in TAPS))

    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"shape": {"layers": LAYERS, "width": WIDTH}, "keys": list(net.state_dict().keys()),
                   "images": images, "torch": torch.__version__}, f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 test/reference/robust_weights_reference.py DIR")
    main(sys.argv[1])
