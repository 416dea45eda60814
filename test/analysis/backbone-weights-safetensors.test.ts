import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeResNet } from "../../analysis/backbone/describe.ts";
import {
  foldTorchvisionWeights,
  loadSafetensorsWeights,
  parseSafetensors,
  readSafetensorsWeights,
  sha256OfFile,
} from "../../analysis/backbone/weights-safetensors.ts";
import { loadReference } from "./backbone-fixtures.ts";

/** A safetensors file built by hand: { name: [dtype, shape, raw little-endian bytes] }. */
function build(entries: Record<string, [string, number[], number[]]>): Uint8Array {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, [dtype, shape, bytes]] of Object.entries(entries)) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(Uint8Array.from(bytes));
    offset += bytes.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const r18 = loadReference("resnet18-w8");
const r18desc = describeResNet(r18.arch, r18.variant, undefined, r18.shape);

describe("parseSafetensors", () => {
  it("decodes F32, F16 and BF16 little-endian values", () => {
    const t = parseSafetensors(
      build({
        f32: ["F32", [2], [0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x20, 0xc1]], // 1.5, -10
        f16: ["F16", [3], [0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]], // 1, -2, 2^-24 (subnormal)
        bf16: ["BF16", [1, 2], [0x80, 0x3f, 0x49, 0x40]], // 1, 3.140625
        steps: ["I64", [], [1, 0, 0, 0, 0, 0, 0, 0]],
      }),
    );
    expect([...t.get("f32")!.data!]).toEqual([1.5, -10]);
    expect([...t.get("f16")!.data!]).toEqual([1, -2, 2 ** -24]);
    expect(t.get("bf16")!.shape).toEqual([1, 2]);
    expect([...t.get("bf16")!.data!]).toEqual([1, 3.140625]);
    expect(t.get("steps")!.data).toBeNull();
  });

  it("rejects truncated files and inconsistent offsets with EPHYS_BAD_WEIGHTS", () => {
    const good = build({ a: ["F32", [2], [0, 0, 0, 0, 0, 0, 0, 0]] });
    expect(() => parseSafetensors(good.subarray(0, good.length - 1))).toThrow(/tensor a: data_offsets/);
    expect(() => parseSafetensors(good.subarray(0, 4))).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_WEIGHTS" }),
    );
    expect(() => parseSafetensors(build({ a: ["F32", [3], [0, 0, 0, 0, 0, 0, 0, 0]] }))).toThrow(
      /do not hold 3 × F32/,
    );
  });
});

describe("torchvision weights", () => {
  it("folds every conv of the description and ignores fc.* and num_batches_tracked", () => {
    const tensors = parseSafetensors(readFileSync(r18.weightsPath));
    expect(tensors.has("fc.weight")).toBe(true);
    expect(tensors.get("bn1.num_batches_tracked")!.dtype).toBe("I64");
    const w = foldTorchvisionWeights(tensors, r18desc);
    expect([...w.keys()]).toContain("layer2.0.downsample");
    expect(w.size).toBe(20);
    expect(w.get("conv1")!.weight).toHaveLength(8 * 3 * 7 * 7);
  });

  it("names a missing tensor and its expected shape", () => {
    const tensors = parseSafetensors(readFileSync(r18.weightsPath));
    tensors.delete("layer3.1.bn2.running_var");
    expect(() => foldTorchvisionWeights(tensors, r18desc)).toThrow(
      expect.objectContaining({
        code: "EPHYS_BAD_WEIGHTS",
        message: "weights lack tensor layer3.1.bn2.running_var; expected shape [32]",
      }),
    );
  });

  it("names a tensor of the wrong shape", () => {
    const wrongWidth = describeResNet("resnet18", "torchvision", undefined, {
      layers: [2, 2, 2, 2],
      width: 16,
    });
    expect(() => loadSafetensorsWeights(readFileSync(r18.weightsPath), wrongWidth)).toThrow(
      "tensor conv1.weight has shape [8, 3, 7, 7]; expected [16, 3, 7, 7]",
    );
  });

  it("reads from a path, with a clear error for a missing file", async () => {
    expect((await readSafetensorsWeights(r18.weightsPath, r18desc)).size).toBe(20);
    await expect(readSafetensorsWeights("/nonexistent/w.safetensors", r18desc)).rejects.toMatchObject({
      code: "EPHYS_BAD_WEIGHTS",
    });
  });
});

describe("sha256OfFile", () => {
  it("hashes a file's bytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sha-"));
    writeFileSync(join(dir, "empty"), "");
    expect(await sha256OfFile(join(dir, "empty"))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    expect(await sha256OfFile(r18.weightsPath)).toBe(
      createHash("sha256").update(readFileSync(r18.weightsPath)).digest("hex"),
    );
  });
});
