// `ephysloop saliency` as a real process on the w8 ResNet-18 fixture: the files it writes agree with
// sharedFeatureMaps in this process on the same gradient engine (auto: ONNX Runtime when it loads), which the
// summary names; a malformed READOUT.json is refused with the field named.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { readNpy } from "../../analysis/features/npy.ts";
import { loadGradientBackbone, sharedFeatureMaps } from "../../analysis/saliency/index.ts";
import { SALIENCY_FILES } from "../../controller/commands/saliency.ts";
import { loadImageRGB } from "../../stimuli/image.ts";
import { relativeL2 } from "./saliency-fixture.ts";

const run = promisify(execFile);
const REPO = join(import.meta.dirname, "..", "..");
const WEIGHTS = join(REPO, "test", "fixtures", "backbone", "resnet18-w8.safetensors");
const OBJECT = join(REPO, "stimuli", "demo", "objects", "object-beetle.png");
const BODY = join(REPO, "stimuli", "demo", "bodies", "body-bison.png");
const tmp = mkdtempSync(join(tmpdir(), "saliency-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EPHYSLOOP_")));
const readout = { location: [-0.3, 0.4], weights: Array.from({ length: 64 }, (_, i) => Math.cos(i)) };
writeFileSync(join(tmp, "readout.json"), JSON.stringify(readout));

const args = (out: string, readoutFile = join(tmp, "readout.json")) => [
  join(REPO, "bin", "ephysloop.mjs"),
  "saliency",
  "--weights",
  WEIGHTS,
  "--arch",
  "resnet18",
  "--variant",
  "torchvision",
  "--layer",
  "layer4.1",
  "--backend",
  "wasm",
  "--readout",
  readoutFile,
  "--out-image",
  OBJECT,
  "--in-image",
  BODY,
  "--size",
  "64",
  "--sigma",
  "2",
  "--out",
  out,
];

describe("ephysloop saliency", () => {
  it("writes the maps, overlays and summary that sharedFeatureMaps computes", async () => {
    const out = join(tmp, "pair");
    await run("node", args(out), { cwd: tmp, env });
    const summary = JSON.parse(readFileSync(join(out, SALIENCY_FILES.summary), "utf8"));
    const bb = await loadGradientBackbone(
      { arch: "resnet18", variant: "torchvision", layer: "layer4.1", weightsPath: WEIGHTS },
      { engine: "auto", tfjsBackend: "wasm" },
    );
    const r = await sharedFeatureMaps({
      backbone: bb,
      tap: "layer4.1",
      readout: readout as { location: [number, number]; weights: number[] },
      xOut: await loadImageRGB(OBJECT, 64),
      xIn: await loadImageRGB(BODY, 64),
      sigma: 2,
      epsilon: 0.01,
    });
    bb.dispose();
    expect(summary).toMatchObject({
      k: r.k,
      method: "gradient",
      epsilon: 0.01,
      sigma: 2,
      layer: "layer4.1",
      gradientEngine: r.gradientEngine,
    });
    expect(summary.s).toBeCloseTo(r.s, 6);
    expect(summary.dropped).toBeLessThanOrEqual(0.01 * summary.s);
    const outMap = await readNpy(join(out, SALIENCY_FILES.outMap));
    const inMap = await readNpy(join(out, SALIENCY_FILES.inMap));
    expect(outMap.shape).toEqual([64, 64, 3]);
    expect(relativeL2(outMap.data, r.outMap)).toBeLessThan(1e-6);
    expect(relativeL2(inMap.data, r.inMap)).toBeLessThan(1e-6);
    for (const f of [SALIENCY_FILES.overlay, SALIENCY_FILES.outOverlay, SALIENCY_FILES.inOverlay]) {
      expect(readFileSync(join(out, f)).subarray(1, 4).toString()).toBe("PNG");
    }
  }, 60_000);

  it("refuses a malformed READOUT.json, naming the field", async () => {
    writeFileSync(join(tmp, "bad.json"), JSON.stringify({ location: [2, 0], weights: [1] }));
    const err = await run("node", args(join(tmp, "bad"), join(tmp, "bad.json")), { cwd: tmp, env }).catch(
      (e) => e,
    );
    expect(err.code).not.toBe(0);
    expect(String(err.stderr)).toMatch(/--readout: .*location\.0/);
  }, 60_000);
});
