// Shared-feature saliency cost on ResNet-50 (embedded Keras ImageNet weights, layer4.1, 224 px) on the gradient
// engine BENCH_ENGINE picks (auto: ONNX Runtime's VJP graph when it loads, else tfjs; tfjs runs on wasm):
// seconds per image pair with only the features that carry the β mass (ε = 0.01, chunks of the engine's size),
// against the full-Jacobian method (all C = 2048 one-hot cotangents per image), in the same run.
// The full Jacobian is not run to the end (≈ 2·C/chunk chunks): its chunks cost the same as ours (one forward +
// one backward of a chunk of cotangents), so it is timed on FULL_CHUNKS chunks of features outside K and
// extrapolated to ⌈C/chunk⌉ chunks per image.
// Readout: location (0.1, −0.15), sparse weights (10 % of features, N(0, 1), seed 11) as an L1/2-fitted readout
// is; pair: a demo object (x_out) and a demo body (x_in).
//
//   npm run bench:saliency              BENCH_ENGINE=tfjs npm run bench:saliency (the tfjs wasm engine)
import { join } from "node:path";
import type { GradientEngineChoice } from "../analysis/backbone/gradient-engine.ts";
import { mulberry32 } from "../analysis/random.ts";
import { loadGradientBackbone, sharedFeatureMaps } from "../analysis/saliency/index.ts";
import { loadImageRGB } from "../stimuli/image.ts";

const SIZE = 224;
const TAP = "layer4.1";
const FULL_CHUNKS = Number(process.env.BENCH_FULL_CHUNKS ?? 6);
const DEMO = join(import.meta.dirname, "..", "stimuli", "demo");

const bb = await loadGradientBackbone(
  { arch: "resnet50", variant: "keras", layer: TAP },
  { engine: (process.env.BENCH_ENGINE ?? "auto") as GradientEngineChoice, tfjsBackend: "wasm" },
);
const CHUNK = bb.chunkSize;
const C = bb.description.tapChannels[TAP];
const random = mulberry32(11);
const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const weights = Array.from({ length: C }, () => (random() < 0.1 ? gauss() : 0));
const readout = { location: [0.1, -0.15] as [number, number], weights };
const xOut = await loadImageRGB(join(DEMO, "objects", "object-basketball.png"), SIZE);
const xIn = await loadImageRGB(join(DEMO, "bodies", "body-bear.png"), SIZE);
console.log(
  `gradients on ${bb.summary}; ResNet-50 (Keras, embedded) ${TAP}: ${C} features, ${SIZE} px; chunks of ${CHUNK}`,
);

// Warm-up: builds the lazy input-gradient kernels or the VJP graph (not counted for either method).
const warm = { data: xOut.data, n: 1, height: SIZE, width: SIZE };
const oneHot = (features: number[]) => {
  const rows = new Float32Array(features.length * C);
  features.forEach((f, j) => {
    rows[j * C + f] = 1;
  });
  return rows;
};
await bb.readoutGradients(TAP, warm, readout.location, oneHot([0]), 1);

// Ours: ε = 0.01, both images, everything included (forwards, gradients, smoothing, normalization, bound check).
let t0 = performance.now();
const r = await sharedFeatureMaps({
  backbone: bb,
  tap: TAP,
  readout,
  xOut,
  xIn,
  sigma: 4,
  epsilon: 0.01,
  chunkSize: CHUNK,
});
const ours = (performance.now() - t0) / 1000;
const chunksOurs = 2 * Math.ceil(r.k / CHUNK);
console.log(
  `ε = 0.01: s = ${r.s.toFixed(4)}, k = ${r.k} of ${C} features (${r.topFeatures.length} with β > 0 kept), ` +
    `dropped β mass ${r.dropped.toExponential(3)} ≤ ε·s = ${(0.01 * r.s).toExponential(3)} (exact bound on ‖I_k − I_full‖)`,
);
console.log(
  `‖I(x_out)‖ = ${r.normOut.toFixed(4)}, ‖I(x_in)‖ = ${r.normIn.toFixed(4)} ≤ s = ${r.s.toFixed(4)} (eq. 7)`,
);
console.log(
  `ours: ${ours.toFixed(2)} s per pair (${chunksOurs} chunks; ${(ours / chunksOurs).toFixed(2)} s/chunk)`,
);

// Full Jacobian: FULL_CHUNKS chunks of features outside K, timed on x_out, extrapolated to ⌈C/8⌉ chunks × 2 images.
const kept = new Set(r.topFeatures.map((f) => f.index));
const others = Array.from({ length: C }, (_, i) => i).filter((i) => !kept.has(i));
t0 = performance.now();
for (let j = 0; j < FULL_CHUNKS; j++) {
  const feats = others.slice(j * CHUNK, (j + 1) * CHUNK);
  await bb.readoutGradients(TAP, warm, readout.location, oneHot(feats), feats.length);
}
const perChunk = (performance.now() - t0) / 1000 / FULL_CHUNKS;
const full = perChunk * 2 * Math.ceil(C / CHUNK);
console.log(
  `full Jacobian: ${perChunk.toFixed(2)} s/chunk (${FULL_CHUNKS} chunks timed) × 2 × ${Math.ceil(C / CHUNK)} chunks = ${full.toFixed(0)} s per pair (extrapolated)`,
);
bb.dispose();
// Cross-check: the full Jacobian extrapolated from our own chunks' cost (independent of the load when timed).
const fromOurs = (r.gradientSeconds / chunksOurs) * 2 * Math.ceil(C / CHUNK);
console.log(
  `full Jacobian from our chunk cost: ${fromOurs.toFixed(0)} s per pair (${(fromOurs / ours).toFixed(1)}× ours)`,
);
console.log(`speed-up over the full Jacobian: ${(full / ours).toFixed(1)}×`);
// The ratio is of the printed value (seconds per pair) to the baseline's: < 1 means cheaper.
console.log(`saliency: ${ours.toFixed(2)} s/pair (${(ours / full).toPrecision(2)}× full Jacobian)`);
