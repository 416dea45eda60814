#!/usr/bin/python3
"""Convert a PyTorch ResNet checkpoint (e.g. an adversarially trained, "robust" ResNet-50) into the .safetensors
state dict that ephysloop reads (config `weights.path`, `weights.variant: torchvision`).

Run with Debian's python (python3-torch; the pyenv python3 first on PATH cannot import it):

  /usr/bin/python3 test/reference/torch_checkpoint_to_safetensors.py CHECKPOINT OUT.safetensors \
      [--dtype f32|f16] [--trust-pickle]

What it reads: a file written by torch.save that holds a ResNet state dict in torchvision's layout (conv1, bn1,
layer1..layer4 of BasicBlock or Bottleneck blocks with conv1..3 / bn1..3 / downsample.0 / downsample.1, fc),
found in one of these places:
  - checkpoint["model"]       the robustness library (MadryLab/robustness; also Salman et al. 2020's robust ImageNet
                              models, saved with it): {"model", "optimizer", "schedule", "epoch"}, where "model" is
                              the state dict of an AttackerModel wrapped in DataParallel:
                                module.normalizer.new_mean / new_std       input normalization (ImageNet mean/std)
                                module.model.<torchvision key>             the classifier
                                module.attacker.normalize.new_mean / new_std
                                module.attacker.model.<torchvision key>    the same classifier again (shared tensors)
  - checkpoint["state_dict"]  the robustness library's legacy key, and many training scripts
  - checkpoint["model_state_dict"], or the checkpoint itself when it is a bare state dict
  - a pickled nn.Module (needs --trust-pickle): its state_dict()
Prefixes: the first of "module.model.", "model.", "module.", "" (none) under which conv1.weight exists is stripped
("module.model." robustness with DataParallel; "model." robustness without it, or RobustBench's
Sequential(normalize, model); "module." DataParallel alone). A second copy of the network under
"module.attacker.model." / "attacker.model." is checked to be identical and dropped. Normalization buffers stored
with the model (normalizer.new_mean/new_std, normalize.mean/std) are checked to be torchvision's ImageNet mean and
std, which ephysloop's torchvision variant applies to RGB/255 — other values are refused, since the model would
see other inputs than it was trained on. Any other key is refused by name.

What it writes: the torchvision-named tensors (fc.* and the batch norms' num_batches_tracked included, so the file
is a complete torchvision state dict), float32 (or float16 with --dtype f16: half the size, weights rounded to 11
significant bits), integers as int64. Batch norm is NOT folded: ephysloop folds it into the convs when it loads
(analysis/backbone/weights-safetensors.ts, eps 1e-5 as torchvision). The format is safetensors: an 8-byte
little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} (plus __metadata__ naming the
source, its sha256 and the prefix), then the little-endian data. Before writing, the tensors are loaded with
strict=True into a torchvision ResNet of the inferred depth and width, so a missing or misshapen tensor fails here.

Loading: torch.load(weights_only=True), which unpickles tensors and plain containers only. A checkpoint that needs
more (custom classes, a whole nn.Module) is refused unless --trust-pickle is given — only for files from a source
you trust, since unpickling can run code.

Prints what it found and dropped, the sha256 of OUT, and the config lines to use; exit code 1 with one message on
any problem.
"""
import argparse
import hashlib
import json
import os
import re
import struct
import sys
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
PREFIXES = ["module.model.", "model.", "module.", ""]
COPY_PREFIXES = {"module.model.": "module.attacker.model.", "model.": "attacker.model."}
CONTAINER_KEYS = ["model", "state_dict", "model_state_dict"]
BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
TORCHVISION_KEY = re.compile(
    rf"^(conv1\.(weight|bias)|bn1\.{BN}|fc\.(weight|bias)|"
    rf"layer[1-4]\.\d+\.(conv[1-3]\.(weight|bias)|bn[1-3]\.{BN}|downsample\.0\.(weight|bias)|downsample\.1\.{BN}))$"
)
NORMALIZER_KEY = re.compile(r"(^|\.)(normalizer|normalize)\.(new_mean|new_std|mean|std)$")
KNOWN_ARCHS = {("bottleneck", (3, 4, 6, 3)): "resnet50", ("basic", (2, 2, 2, 2)): "resnet18"}


class ConversionError(Exception):
    pass


class WidthResNet(ResNet):
    """torchvision's ResNet (same module names and blocks) with any stem width; 64 is torchvision's own."""

    def __init__(self, block, layers, width, num_classes):
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


def is_state_dict(obj):
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def find_state_dict(obj):
    """(state dict, where it was found)."""
    if isinstance(obj, nn.Module):
        return obj.state_dict(), "a pickled nn.Module"
    if is_state_dict(obj):
        return obj, "a bare state dict"
    if isinstance(obj, Mapping):
        for key in CONTAINER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                return inner.state_dict(), f'checkpoint["{key}"] (a pickled nn.Module)'
            if is_state_dict(inner):
                return inner, f'checkpoint["{key}"]'
        keys = ", ".join(repr(k) for k in list(obj)[:10])
        raise ConversionError(
            f"checkpoint: a dict with keys {keys}; expected a state dict of tensors, or one under "
            + " / ".join(f'"{k}"' for k in CONTAINER_KEYS)
        )
    raise ConversionError(f"checkpoint: a {type(obj).__name__}; expected a state dict (a dict of tensors)")


def load_checkpoint(path, trust_pickle):
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except FileNotFoundError:
        raise ConversionError(f"checkpoint: {path} does not exist")
    except Exception as e:  # noqa: BLE001 — torch raises UnpicklingError, RuntimeError, … for a restricted load
        if trust_pickle:
            raise ConversionError(f"checkpoint: torch.load({path}) failed: {e}")
        raise ConversionError(
            f"checkpoint: {path} holds more than tensors and plain containers ({str(e).splitlines()[0]}); "
            "if you trust its source, run again with --trust-pickle"
        )


def check_normalizer(key, value):
    expected = IMAGENET_MEAN if key.endswith("mean") else IMAGENET_STD
    got = value.detach().double().flatten().tolist()
    if len(got) != 3 or any(abs(a - b) > 1e-4 for a, b in zip(got, expected)):
        raise ConversionError(
            f"{key}: {[round(v, 6) for v in got]}; expected torchvision's ImageNet "
            f"{'mean' if key.endswith('mean') else 'std'} {expected} (ephysloop's torchvision variant normalizes "
            "RGB/255 with these; a network trained on other inputs would see the wrong images)"
        )


def convert(state):
    """(torchvision state dict, report lines, prefix)."""
    prefix = next((p for p in PREFIXES if p + "conv1.weight" in state), None)
    if prefix is None:
        keys = ", ".join(list(state)[:8])
        raise ConversionError(
            f"state dict: no conv1.weight under any of the prefixes {PREFIXES} (first keys: {keys}); "
            "expected a torchvision-layout ResNet"
        )
    copy_prefix = COPY_PREFIXES.get(prefix)
    out = OrderedDict()
    copies = []
    normalizers = []
    unknown = []
    for key, value in state.items():
        if copy_prefix and key.startswith(copy_prefix):
            copies.append(key)
        elif NORMALIZER_KEY.search(key) and not (key.startswith(prefix) and TORCHVISION_KEY.match(key[len(prefix):])):
            check_normalizer(key, value)
            normalizers.append(key)
        elif key.startswith(prefix) and TORCHVISION_KEY.match(key[len(prefix):]):
            out[key[len(prefix):]] = value
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:8]) + (f", … ({len(unknown)} in all)" if len(unknown) > 8 else "")
        raise ConversionError(
            f"state dict: keys that are not torchvision ResNet tensors under prefix {prefix!r}: {shown}; expected "
            "conv1, bn1, layer1..4 blocks and fc only (plus the robustness library's attacker copy and normalizer)"
        )
    for key in copies:
        own = out.get(key[len(copy_prefix):])
        if own is None or not torch.equal(own, state[key]):
            raise ConversionError(
                f"{key}: differs from {prefix}{key[len(copy_prefix):]}; expected the attacker's copy of the model "
                "to hold the same tensors (which of the two networks is the model?)"
            )
    notes = [f"prefix {prefix!r} stripped" if prefix else "no prefix"]
    if copies:
        notes.append(f"dropped {len(copies)} tensors under {copy_prefix!r} (identical to the model's)")
    if normalizers:
        notes.append(f"checked and dropped {len(normalizers)} normalization buffers (ImageNet mean/std): "
                     + ", ".join(normalizers))
    return out, notes, prefix


def check_structure(sd):
    """Load into a torchvision ResNet of the inferred shape (strict); returns (arch name or None, block, layers, width)."""
    block = "bottleneck" if "layer1.0.conv3.weight" in sd else "basic"
    layers = []
    for stage in range(1, 5):
        indices = {int(m.group(1)) for k in sd for m in [re.match(rf"^layer{stage}\.(\d+)\.", k)] if m}
        if not indices or indices != set(range(len(indices))):
            raise ConversionError(f"state dict: layer{stage} has blocks {sorted(indices)}; expected 0, 1, … n−1")
        layers.append(len(indices))
    width = sd["conv1.weight"].shape[0]
    classes = sd["fc.weight"].shape[0] if "fc.weight" in sd else 1000
    model = WidthResNet(Bottleneck if block == "bottleneck" else BasicBlock, layers, width, classes)
    probe = OrderedDict(sd)
    if "fc.weight" not in probe:  # a backbone saved without its classifier still converts
        probe["fc.weight"] = model.fc.weight
        probe["fc.bias"] = model.fc.bias
    try:
        model.load_state_dict(probe, strict=True)
    except RuntimeError as e:
        raise ConversionError(
            f"state dict: does not load into a torchvision ResNet ({block} blocks {layers}, width {width}): {e}"
        )
    return KNOWN_ARCHS.get((block, tuple(layers))) if width == 64 else None, block, layers, width


def write_safetensors(path, sd, dtype, metadata):
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    chunks = []
    offset = 0
    for name, t in sd.items():
        t = t.detach().cpu().contiguous()
        if t.dtype.is_floating_point:
            code, np_dtype = ("F16", "<f2") if dtype == "f16" else ("F32", "<f4")
            data = t.float().numpy().astype(np_dtype).tobytes()
        else:
            code = "I64"
            data = t.long().numpy().astype("<i8").tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a torch.save file: robustness-library checkpoint or a state dict")
    parser.add_argument("out", help="the .safetensors file to write")
    parser.add_argument("--dtype", choices=["f32", "f16"], default="f32", help="float storage (default f32)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow full unpickling (custom classes, whole modules): only for trusted files")
    args = parser.parse_args(argv)
    try:
        state, where = find_state_dict(load_checkpoint(args.checkpoint, args.trust_pickle))
        sd, notes, prefix = convert(state)
        arch, block, layers, width = check_structure(sd)
        source_sha = sha256_of(args.checkpoint)
        write_safetensors(args.out, sd, args.dtype, {
            "format": "pt",
            "source": os.path.basename(args.checkpoint),
            "source_sha256": source_sha,
            "prefix": prefix,
            "converter": "test/reference/torch_checkpoint_to_safetensors.py",
        })
    except ConversionError as e:
        print(f"torch_checkpoint_to_safetensors: {e}", file=sys.stderr)
        return 1
    sha = sha256_of(args.out)
    print(f"read {args.checkpoint} (sha256 {source_sha}): {where}; " + "; ".join(notes))
    print(f"ResNet with {block} blocks {layers}, width {width}" + (f" ({arch})" if arch else "")
          + f": {len(sd)} tensors, floats as {args.dtype}")
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB), sha256 {sha}")
    print("config (declare the kind: robust for an adversarially trained network, else standard):")
    config_arch = arch or ("resnet50" if block == "bottleneck" else "resnet18")
    print(f"  weights:\n    path: {os.path.abspath(args.out)}\n    arch: {config_arch}\n    variant: torchvision\n"
          "    kind: robust")
    return 0


if __name__ == "__main__":
    sys.exit(main())
