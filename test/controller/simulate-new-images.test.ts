// The simulator's side of a preload (controller/simulate/run.ts newImageLearner): images the protocol does not list
// arrive as bytes, their features come from the shared feature cache (by the bytes' sha256) or the real extractor,
// and the neurons answer them — a small ResNet-18 fixture at 96 px through ONNX Runtime, real demo images.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import {
  computeFeatures,
  createFeatureExtractor,
  type FeatureExtractor,
} from "../../analysis/features/index.ts";
import { buildGroundTruth, type GroundTruth } from "../../controller/simulate/neurons.ts";
import { newImageLearner } from "../../controller/simulate/run.ts";
import { encodePng, fragmentId, loadImageRGBBytes, sha256File } from "../../stimuli/index.ts";
import { loadReference } from "../analysis/backbone-fixtures.ts";

if (!(await onnxAvailable()))
  throw new Error("onnxruntime-node does not load on this machine; this suite needs it (npm ci installs it)");

const DEMO = join(import.meta.dirname, "..", "..", "stimuli", "demo");
const SIZE = 96;
const CHANNELS = ["ch001", "ch002", "ch003", "ch004", "ch005", "ch006"];
const objectIds = (
  JSON.parse(readFileSync(join(DEMO, "objects", "manifest.json"), "utf8")) as {
    images: Array<{ id: string }>;
  }
).images
  .slice(0, 2)
  .map((img) => img.id);
const stimuli = [
  ...["body-badger", "body-albino-peahen", "body-adelaide-rosella"].map((name) => ["bodies", name, "body"]),
  ...objectIds.map((name) => ["objects", name, "object"]),
].map(([set, name, category]) => ({ id: `${set}/${name}`, path: join(DEMO, set, `${name}.png`), category }));

let root: string;
let extractor: FeatureExtractor;
/** Protocol features as the simulator reads them once the daemon has filled the cache. */
let truthOf: (newImages?: "features" | "parent") => Promise<GroundTruth>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ephys-new-images-"));
  extractor = await createFeatureExtractor({
    arch: "resnet18",
    variant: "torchvision",
    layer: "layer4.1",
    weightsPath: loadReference("resnet18-w8").weightsPath,
    executor: "onnx",
    threads: 2,
    imageSize: SIZE,
  });
  const images = await Promise.all(stimuli.map(async (s) => ({ ...s, sha256: await sha256File(s.path) })));
  await computeFeatures({ images, extractor, root }); // the daemon's prepare step
  const features = await computeFeatures({ images, extractor, root });
  expect(features.cached).toBe(stimuli.length);
  truthOf = (newImages = "features") =>
    buildGroundTruth({
      channels: CHANNELS,
      stimuli,
      preferredCategory: "body",
      baselineRate: 8,
      peakRate: 80,
      seed: 5,
      features,
      nonSelective: [2],
      unstable: [3],
      objectGain: 0.5,
      newImages,
    });
});
afterAll(async () => {
  await extractor?.dispose();
  await rm(root, { recursive: true, force: true });
});

const bytes = (path: string) => new Uint8Array(readFileSync(path));
const full = (parentId: string) => fragmentId({ channelId: "ch001", kind: "full", n: 0, parentId });

/** The image with its left half painted the background grey, as PNG bytes. */
async function halfGrey(path: string): Promise<Uint8Array> {
  const img = await loadImageRGBBytes(path);
  const data = img.data.slice();
  for (let y = 0; y < img.height; y++)
    data.fill(128, y * img.width * 3, (y * img.width + (img.width >> 1)) * 3);
  return new Uint8Array(await encodePng(data, img.width, img.height));
}

describe("newImageLearner", () => {
  it("answers a byte copy of a protocol image exactly as the protocol image, from the shared cache", async () => {
    const truth = await truthOf();
    const lines: string[] = [];
    const learner = newImageLearner({
      truth,
      stimuli,
      extractor: async () => extractor,
      featureCache: root,
      log: (l) => lines.push(l),
    });
    const [body, , , object] = stimuli;
    const grey = fragmentId({ channelId: "ch001", kind: "complement", n: 0, parentId: body.id });
    try {
      await learner.learn([
        { id: body.id, bytes: bytes(body.path) }, // known: left as it is
        { id: full(body.id), bytes: bytes(body.path) },
        { id: full(object.id), bytes: bytes(object.path) },
        { id: "synthesized/ch001-1", bytes: bytes(object.path) },
        { id: grey, bytes: await halfGrey(body.path) },
      ]);
    } finally {
      await learner.close();
    }
    // Four new images, the three copies read from the cache, the altered one computed.
    expect(lines).toEqual([
      expect.stringMatching(/learned 4 new image\(s\) \(4 from their features, 1 computed\)/),
    ]);
    for (const ch of CHANNELS) {
      for (const phase of [1, 2, 3] as const) {
        expect(truth.rate(ch, full(body.id), phase)).toBe(truth.rate(ch, body.id, 1));
        expect(truth.rate(ch, full(object.id), phase)).toBe(truth.rate(ch, object.id, 1));
      }
      // No parent: outside the category, as the object is (ch003 is non-selective: its category is random).
      if (ch !== "ch003") expect(truth.rate(ch, "synthesized/ch001-1", 1)).toBe(truth.rate(ch, object.id, 1));
    }
    expect(CHANNELS.some((ch) => truth.rate(ch, grey, 1) !== truth.rate(ch, body.id, 1))).toBe(true);
  });

  it('with newImages "parent": fragments need no features and answer as their parents', async () => {
    const truth = await truthOf("parent");
    const lines: string[] = [];
    const learner = newImageLearner({
      truth,
      stimuli,
      extractor: () => Promise.reject(new Error("no extractor should be needed")),
      featureCache: root,
      log: (l) => lines.push(l),
    });
    const body = stimuli[1];
    const grey = fragmentId({ channelId: "ch002", kind: "highlighted", n: 0, parentId: body.id });
    await learner.learn([{ id: grey, bytes: await halfGrey(body.path) }]);
    await learner.close();
    expect(lines).toEqual([
      expect.stringMatching(/learned 1 new image\(s\) \(0 from their features, 0 computed\)/),
    ]);
    for (const ch of CHANNELS)
      for (const phase of [1, 2, 3] as const)
        expect(truth.rate(ch, grey, phase)).toBe(truth.rate(ch, body.id, phase));
  });
});
