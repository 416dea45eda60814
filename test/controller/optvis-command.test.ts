// `ephysloop optvis` on a real SessionStore (SQLite file) with the w8 ResNet-18 fixture: images are synthesized in
// the worker thread for every channel with a readout, written as ranked PNGs with optvis.json (all parameters), and
// stored as "optvis" artifacts; the stored predictions are checked by re-reading the PNGs through the tfjs executor
// and the readout's own predict(); bad flags and sessions fail with EPHYS_BAD_OPTVIS_COMMAND; the CLI is wired.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { predict } from "../../analysis/readout/gaussian-readout.ts";
import { loadTfjsBackbone } from "../../analysis/saliency/load-backbone.ts";
import { optvisCommand } from "../../controller/commands/optvis.ts";
import {
  OPTVIS_FILES,
  type OptvisArtifactMeta,
  type OptvisSummary,
} from "../../controller/compute/optvis-job.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { loadImageRGB } from "../../stimuli/image.ts";
import {
  createDemoSession,
  REPO,
  saveReadouts,
  smallDemoProtocol,
  W8_RESNET18,
  w8Config,
} from "./stored-session.ts";

const dir = mkdtempSync(join(tmpdir(), "optvis-command-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const protocolText = smallDemoProtocol();
const config = w8Config(dir);

const readout = (channelId: string, k: number) => ({
  channelId,
  location: [0.3 * k - 0.2, 0.1] as [number, number],
  sigma: [0.1, 0.1] as [number, number],
  weights: Array.from({ length: 64 }, (_, i) => (i % 5 === k ? Math.sin(3 * i + k) : 0)),
  bias: 2,
  bestEpoch: 0,
  valLossCurve: [1],
  testR: 0.5,
});

beforeAll(() => {
  const store = new SessionStore(join(dir, "ephysloop.db"));
  for (const id of ["s1", "empty"]) createDemoSession(store, id, protocolText);
  store.upsertChannels("s1", [
    { id: "ch1", probe: "A", index: 0 },
    { id: "ch/2", probe: "A", index: 1 },
  ]);
  saveReadouts(store, "s1", [readout("ch1", 1), readout("ch/2", 2)]);
  store.close();
});

describe("ephysloop optvis", () => {
  it("synthesizes ranked images per channel with every parameter stored, as optvis artifacts", async () => {
    const outcome = await optvisCommand(config, "s1", { steps: "16", images: "2", seed: "3" });
    expect(outcome.skipped).toEqual([]);
    expect(outcome.done.map((d) => d.channelId).sort()).toEqual(["ch/2", "ch1"]);
    expect(outcome.engine).toMatch(/^(onnx|tfjs)/);
    const store = new SessionStore(join(dir, "ephysloop.db"));
    const artifacts = store.artifacts("s1", "optvis");
    store.close();
    expect(artifacts.map((a) => a.channelId).sort()).toEqual(["ch/2", "ch1"]);
    await selectTfjsBackend("wasm");
    const bb = await loadTfjsBackbone({
      arch: "resnet18",
      variant: "torchvision",
      layer: "layer4.1",
      weightsPath: W8_RESNET18,
    });
    try {
      for (const a of artifacts) {
        const k = a.channelId === "ch1" ? 1 : 2;
        expect(a.path).toContain(join(dir, "sessions", "s1", "optvis", "run-"));
        expect(a.path!.endsWith(k === 1 ? "ch1" : "ch_2")).toBe(true);
        const summary = JSON.parse(
          readFileSync(join(a.path!, OPTVIS_FILES.summary), "utf8"),
        ) as OptvisSummary;
        expect(summary.settings).toMatchObject({
          steps: 16,
          images: 2,
          seed: 3,
          learningRate: 0.05,
          l2: 1e-4,
          tv: 0,
          diversity: 1,
          parameterization: "fourier",
          transforms: "standard",
          size: 64,
        });
        expect(summary.transforms).toContain("pad 12 (fill 0.5) → jitter 8 → random scale");
        expect(summary.objective).toMatch(
          /^channel ch(1|\/2) \(readout at .* over layer4\.1\) − 1e-4·L2\(x − 0\.5\) − 1·similarity\(Gram at layer4\.1\)$/,
        );
        expect(summary.engine).toBe(outcome.engine);
        expect(summary.backbone).toMatchObject({ arch: "resnet18", layer: "layer4.1", imageSize: 64 });
        expect(summary.trace.values.length).toBe(16);
        expect(summary.images.map((i) => i.rank)).toEqual([1, 2]);
        expect(summary.images[0].predicted).toBeGreaterThanOrEqual(summary.images[1].predicted);
        const meta = a.meta as OptvisArtifactMeta;
        expect(meta.images.map((i) => i.predicted)).toEqual(summary.images.map((i) => i.predicted));
        expect(meta.steps).toBe(16);
        // The stored predictions are the readout's on the saved PNGs: read back, forward through the tfjs
        // executor, predict() from analysis/readout (independent of the optvis objective code).
        const params = readout(summary.channelId, k);
        for (const im of summary.images) {
          const file = join(a.path!, im.file);
          expect(await sharp(file).metadata()).toMatchObject({ width: 64, height: 64, format: "png" });
          const rgb = await loadImageRGB(file, 64);
          const maps = tf.tidy(() =>
            bb.forward(bb.preprocess(tf.tensor4d(rgb.data, [1, 64, 64, 3])), "layer4.1"),
          );
          const [, h, w, c] = maps.shape;
          const data = (await maps.data()) as Float32Array;
          maps.dispose();
          const p = predict(
            { location: params.location, weights: Float32Array.from(params.weights), bias: params.bias },
            { n: 1, h, w, c, data },
          )[0];
          expect(Math.abs(p - im.predicted)).toBeLessThan(1e-3 * Math.max(1, Math.abs(p)));
        }
        // The optimization raised the model above its start.
        expect(Math.max(...summary.final)).toBeGreaterThan(Math.max(...summary.initial));
      }
    } finally {
      bb.dispose();
    }
  }, 120_000);

  it("--channel runs one channel; bad flags, sessions and channels fail with EPHYS_BAD_OPTVIS_COMMAND", async () => {
    const one = await optvisCommand(config, "s1", { channel: "ch1", steps: "2" });
    expect(one.done.map((d) => d.channelId)).toEqual(["ch1"]);
    expect(one.done[0].summary.images).toHaveLength(1);
    expect(existsSync(join(one.done[0].dir, OPTVIS_FILES.image(1)))).toBe(true);
    const bad = { code: "EPHYS_BAD_OPTVIS_COMMAND" };
    await expect(optvisCommand(config, "nope", {})).rejects.toMatchObject({
      ...bad,
      message: expect.stringContaining('no session "nope"'),
    });
    await expect(optvisCommand(config, "empty", {})).rejects.toMatchObject({
      ...bad,
      message: expect.stringContaining("no fitted readouts"),
    });
    await expect(optvisCommand(config, "s1", { channel: "ch9" })).rejects.toMatchObject({
      ...bad,
      message: expect.stringContaining("expected one of ch/2, ch1"),
    });
    await expect(optvisCommand(config, "s1", { steps: "0" })).rejects.toMatchObject({
      ...bad,
      message: '--steps: got "0", expected a whole number of steps ≥ 1',
    });
    await expect(optvisCommand(config, "s1", { parameterization: "wavelet" })).rejects.toMatchObject({
      ...bad,
      message: '--parameterization: got "wavelet", expected one of fourier, pixels',
    });
  }, 60_000);

  it("is cancelled by its signal (EPHYS_ABORTED from the worker)", async () => {
    const ac = new AbortController();
    const run = optvisCommand(config, "s1", { channel: "ch1", steps: "5000" }, ac.signal);
    setTimeout(() => ac.abort(), 1500);
    await expect(run).rejects.toMatchObject({ code: "EPHYS_ABORTED" });
  }, 60_000);

  it("runs from the command line", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        join(REPO, "bin", "ephysloop.mjs"),
        "optvis",
        "s1",
        "--channel",
        "ch/2",
        "--steps",
        "2",
        "--data-dir",
        dir,
        "--weights",
        W8_RESNET18,
        "--backend",
        "wasm",
      ],
      { env: { ...process.env, EPHYSLOOP_CONFIG: "" }, timeout: 60_000 },
    );
    expect(stdout).toMatch(/^ch\/2 {2}1 image\(s\), best predicted -?\d+\.\d\d {2}\S+ch_2$/m);
  }, 60_000);
});
