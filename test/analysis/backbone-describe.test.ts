import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { activationSizes, convOps, describeResNet, tapNames } from "../../analysis/backbone/describe.ts";
import type { ConvOp } from "../../analysis/backbone/description.ts";
import { parseSafetensors, torchvisionNames } from "../../analysis/backbone/weights-safetensors.ts";
import { loadReference } from "./backbone-fixtures.ts";

const conv = (ops: ConvOp[], name: string) => ops.find((o) => o.name === name)!;

describe("describeResNet", () => {
  it("describes torchvision ResNet-50 through layer4: 53 convs, 16 blocks, 7×7×2048 at 224 px", () => {
    const d = describeResNet("resnet50", "torchvision");
    expect(convOps(d)).toHaveLength(53); // 1 stem + 16 blocks × 3 + 4 downsample convs
    expect(d.ops.filter((o) => o.op === "add_relu")).toHaveLength(16);
    expect(Object.keys(d.taps)).toEqual(tapNames({ layers: [3, 4, 6, 3], width: 64 }));
    expect(d.tapChannels["layer4.2"]).toBe(2048);
    expect(d.tapStride["layer4.1"]).toBe(32);
    const sizes = activationSizes(d, 224, 224);
    expect(sizes.get(d.taps["layer4.1"])).toEqual([7, 7]);
    expect(sizes.get(d.taps["layer1.2"])).toEqual([56, 56]);
    expect(d.preprocessing.mode).toBe("torch");
  });

  it("puts the bottleneck stride on conv2 (torchvision) or conv1 (keras)", () => {
    const tv = convOps(describeResNet("resnet50", "torchvision"));
    const ks = convOps(describeResNet("resnet50", "keras"));
    for (const stage of [2, 3, 4]) {
      expect(conv(tv, `layer${stage}.0.conv1`).stride).toBe(1);
      expect(conv(tv, `layer${stage}.0.conv2`).stride).toBe(2);
      expect(conv(ks, `layer${stage}.0.conv1`).stride).toBe(2);
      expect(conv(ks, `layer${stage}.0.conv2`).stride).toBe(1);
      expect(conv(ks, `layer${stage}.0.downsample`).stride).toBe(2);
    }
    expect(conv(tv, "layer1.0.downsample").stride).toBe(1);
    expect(describeResNet("resnet50", "keras").preprocessing).toEqual({
      mode: "caffe",
      mean: [103.939, 116.779, 123.68],
      std: [1, 1, 1],
    });
  });

  it("describes ResNet-18 with basic blocks and 512 channels at layer4", () => {
    const d = describeResNet("resnet18", "torchvision");
    expect(convOps(d)).toHaveLength(20);
    expect(d.tapChannels["layer4.1"]).toBe(512);
    expect(conv(convOps(d), "layer2.0.conv1").stride).toBe(2);
  });

  it("stops at the requested tap", () => {
    const d = describeResNet("resnet50", "torchvision", "layer3.1");
    const last = d.ops[d.ops.length - 1];
    expect(last).toMatchObject({ op: "add_relu", output: "layer3.1" });
    expect(Object.keys(d.taps)).not.toContain("layer3.2");
    expect(Object.keys(d.taps)).toContain("layer2.3");
  });

  it("names exactly the convs a torchvision state dict holds (fixture nets with reduced width)", () => {
    for (const name of ["resnet18-w8", "resnet50-w8"]) {
      const ref = loadReference(name);
      const tensors = parseSafetensors(readFileSync(ref.weightsPath));
      const inFile = [...tensors.keys()]
        .filter((k) => k.endsWith(".weight") && tensors.get(k)!.shape.length === 4)
        .map((k) => k.slice(0, -".weight".length))
        .sort();
      const described = convOps(describeResNet(ref.arch, ref.variant, undefined, ref.shape))
        .map((o) => torchvisionNames(o.name).conv)
        .sort();
      expect(described).toEqual(inFile);
      for (const op of convOps(describeResNet(ref.arch, ref.variant, undefined, ref.shape))) {
        expect(tensors.get(`${torchvisionNames(op.name).conv}.weight`)!.shape).toEqual([
          op.outChannels,
          op.inChannels,
          op.kernel,
          op.kernel,
        ]);
      }
    }
  });

  it("rejects what it cannot describe with EPHYS_BAD_BACKBONE", () => {
    expect(() => describeResNet("resnet18", "keras")).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_BACKBONE" }),
    );
    expect(() => describeResNet("resnet50", "torchvision", "layer4.3")).toThrow(
      /layer4\.3.*layer1\.0\.\.layer4\.2/,
    );
    expect(() =>
      describeResNet("resnet50", "torchvision", undefined, { layers: [1, 0, 1, 1], width: 8 }),
    ).toThrow(expect.objectContaining({ code: "EPHYS_BAD_BACKBONE" }));
    expect(() => activationSizes(describeResNet("resnet18", "torchvision"), 0, 5)).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_IMAGE" }),
    );
  });
});
