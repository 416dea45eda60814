// Input gradients of ResNet-50 (embedded Keras ImageNet weights, folded) at layer4.1, 224 px: one image with
// k = 16 feature gradients (one-hot cotangents at the map's centre, features 0, 128, …, 1920) on ONNX Runtime's
// VJP graph (analysis/backbone/onnx-vjp-graph.ts), on tfjs wasm (the hand-written backward, chunks of 8: the wasm
// heap caps at 4 GB) and in PyTorch (the baseline: a /usr/bin/python3 worker spawned by this run, 2 threads, the same
// architecture with Keras strides and random weights). PyTorch runs k gradients of one image two ways, each at
// BENCH_THREADS threads and at 1, and the fastest is the baseline: "replicated" (the image repeated k times, one
// forward and one backward of the batch) and "sequential" (one forward, k backward passes through the retained
// graph; the faster one on a quiet machine).
// Then seconds per feature-visualization step: one image through the DifferentiableTap (forward + backward) with a
// small tfjs objective around it (jitter by pad-and-crop, mean of one channel, Adam on the image), against the same
// step in PyTorch (the faster thread count).
//
// The machine is shared: ONNX Runtime and PyTorch are measured in interleaved rounds, each at BENCH_THREADS threads and
// at 1 (on a loaded machine 1 thread can win), each number is the best (least disturbed) run, the best
// configuration of each side is compared, and the median of the paired per-round ratios is printed too, with the
// load average.
//
// --device (where ONNX Runtime runs; default cpu, the run above): on a GPU (cuda, webgpu, or auto when it finds one)
// the bench measures ONNX Runtime on that device against ONNX Runtime on the CPU (at BENCH_THREADS threads and at 1,
// the better, as above) in the same interleaved rounds, k = 16 gradients and the optvis step alike; PyTorch and tfjs
// are skipped, and the last line is the device's time with its speed-up over the CPU (CPU time / device time).
//
//   npm run bench:gradients          (about 3–5 minutes on 2 cores, more under load)
//   npm run bench:gradients -- --device cuda     (or webgpu, auto; an explicit device that cannot run ends the bench)
//   BENCH_SKIP_TFJS=1 …              skips tfjs (k = 16 gradients on wasm take 10–30 s, its optvis step ~1–3 s)
//   BENCH_THREADS=n …                ONNX Runtime and PyTorch threads (default 2)

import { availableParallelism, loadavg } from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { describeResNet } from "../analysis/backbone/describe.ts";
import {
  type DifferentiableTap,
  onnxDifferentiableTap,
  tfjsDifferentiableTap,
} from "../analysis/backbone/differentiable-tap.ts";
import { tfjsGradientBackbone } from "../analysis/backbone/gradient-engine.ts";
import { onnxAvailable } from "../analysis/backbone/onnx-executor.ts";
import { createOnnxGradients, type OnnxGradients } from "../analysis/backbone/onnx-gradients.ts";
import type { OrtDevice } from "../analysis/backbone/ort-device.ts";
import { ortVersion } from "../analysis/backbone/ort-session.ts";
import { selectTfjsBackend } from "../analysis/backbone/tfjs-backend.ts";
import { createTfjsBackbone } from "../analysis/backbone/tfjs-executor.ts";
import { loadKerasWeights } from "../analysis/backbone/weights-keras.ts";
import { benchDevice } from "./device-flag.ts";
import { PytorchWorker } from "./pytorch-worker.ts";
import { adaptiveRounds, type RoundsPolicy } from "./rounds.ts";

const SIZE = 224;
const TAP = "layer4.1";
const K = 16;
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const SKIP_TFJS = process.env.BENCH_SKIP_TFJS === "1";
/** Interleaved rounds (bench/rounds.ts): at least 3, more while under 75 s, at most 10. */
const ROUND_POLICY: RoundsPolicy = { min: 3, max: 10, seconds: 75 };
const OPTVIS_STEPS = 5;
/** The channel the feature-visualization objective maximizes. */
const CHANNEL = 100;

const PYTORCH = `
import sys, time
import torch, torchvision
threads, K, C0 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = torchvision.models.resnet50()
for layer in (m.layer2, m.layer3, m.layer4):  # Keras/Caffe strides: on a block's first 1x1 conv
    layer[0].conv1.stride, layer[0].conv2.stride = layer[0].conv2.stride, (1, 1)
net = torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4[:2]).eval()
for p in net.parameters():
    p.requires_grad_(False)
x0 = torch.rand(1, 3, 224, 224) * 255
def best(fn, runs):
    b = float("inf")
    for _ in range(runs):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b
def cotangents(y):
    cot = torch.zeros_like(y)
    for k in range(K):
        cot[k, k * (y.shape[1] // K), y.shape[2] // 2, y.shape[3] // 2] = 1
    return cot
def replicated():
    x = x0.repeat(K, 1, 1, 1).requires_grad_(True)
    y = net(x)
    (g,) = torch.autograd.grad(y, x, cotangents(y))
    return g
def sequential():
    x = x0.clone().requires_grad_(True)
    y = net(x)
    cot = cotangents(y.expand(K, -1, -1, -1))
    return [torch.autograd.grad(y, x, cot[k:k + 1], retain_graph=k < K - 1)[0] for k in range(K)]
param = x0.clone().requires_grad_(True)
opt = torch.optim.Adam([param], lr=1.0)
steps = [0]
def step():
    s = steps[0]; steps[0] += 1
    dy, dx = (s * 3) % 9, (s * 5) % 9
    x = torch.nn.functional.pad(param, (4, 4, 4, 4))[:, :, dy:dy + 224, dx:dx + 224]
    loss = -net(x)[0, C0].mean()
    opt.zero_grad(); loss.backward(); opt.step()
replicated(); sequential(); step()
print("ready", torch.__version__, torch.get_num_threads(), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "replicated":
        print(best(replicated, int(cmd[1])), flush=True)
    elif cmd[0] == "sequential":
        print(best(sequential, int(cmd[1])), flush=True)
    elif cmd[0] == "step":
        print(best(step, int(cmd[1])), flush=True)
    else:
        break
`;

const fmt = (x: number, digits = 2) => x.toFixed(digits);
const load = () => fmt(loadavg()[0], 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function image(): Float32Array {
  let seed = 7;
  return Float32Array.from({ length: SIZE * SIZE * 3 }, () => {
    seed = (seed * 16807) % 2147483647;
    return seed % 256;
  });
}

async function seconds(fn: () => unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Seconds per feature-visualization step through `tap` (best of `steps` after one warm-up step). */
async function optvisStep(tap: DifferentiableTap, pixels: Float32Array, steps: number): Promise<number> {
  const param = tf.variable(tf.tensor4d(pixels, [1, SIZE, SIZE, 3]));
  const optimizer = tf.train.adam(1);
  let s = 0;
  const step = () => {
    const [dy, dx] = [(s * 3) % 9, (s * 5) % 9];
    s++;
    optimizer.minimize(() => {
      const x = tf.slice(
        tf.pad(param, [
          [0, 0],
          [4, 4],
          [4, 4],
          [0, 0],
        ]),
        [0, dy, dx, 0],
        [1, SIZE, SIZE, 3],
      );
      const f = tap(x as tf.Tensor4D);
      return tf.neg(tf.mean(tf.slice(f, [0, 0, 0, CHANNEL], [1, f.shape[1], f.shape[2], 1]))) as tf.Scalar;
    });
  };
  step();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < steps; i++) best = Math.min(best, await seconds(step));
  optimizer.dispose();
  param.dispose();
  return best;
}

/** The network, the image and the k one-hot readout rows every measurement here uses (printed once). */
async function setUp() {
  const started = performance.now();
  const desc = describeResNet("resnet50", "keras", TAP);
  const weights = await loadKerasWeights(desc);
  const C = desc.tapChannels[TAP];
  console.log(
    `model: resnet50 (embedded Keras weights, folded) to ${TAP} at ${SIZE} px; k = ${K} one-hot cotangents at ` +
      `the centre of the 7×7 map; ${availableParallelism()} cores, ${THREADS} threads, load average ${load()} at start`,
  );
  const pixels = image();
  const one = { data: pixels, n: 1, height: SIZE, width: SIZE };
  const rows = new Float32Array(K * C);
  for (let j = 0; j < K; j++) rows[j * C + j * (C / K)] = 1;
  return { started, desc, weights, C, pixels, one, rows };
}

/**
 * A GPU run: k = 16 gradients and the optvis step on ONNX Runtime on `device` (THREADS threads) against ONNX
 * Runtime on the CPU (THREADS threads and 1, the better), interleaved; no PyTorch, no tfjs.
 */
async function deviceMain(device: OrtDevice): Promise<void> {
  const { started, desc, weights, pixels, one, rows } = await setUp();

  const setups: Array<{ device: OrtDevice; threads: number }> = [
    { device, threads: THREADS },
    ...[...new Set([THREADS, 1])].map((threads) => ({ device: "cpu" as const, threads })),
  ];
  const engines: Array<{ label: string; device: OrtDevice; engine: OnnxGradients; best: number }> = [];
  for (const s of setups) {
    const engine = await createOnnxGradients(desc, weights, { threads: s.threads, device: s.device });
    const label = `${s.device} ${s.threads}t`;
    const build = await seconds(() => engine.readoutGradients(TAP, one, [0, 0], rows, K));
    console.log(
      `onnxruntime ${ortVersion()} ${label}: VJP graph generated, session created and first run in ${fmt(build)} s`,
    );
    engines.push({ label, device: s.device, engine, best: Number.POSITIVE_INFINITY });
  }
  const onDevice = engines[0];
  const onCpu = engines.slice(1);

  const ratios: number[] = [];
  let deviceGradient: Float32Array = new Float32Array(0);
  let cpuGradient: Float32Array = new Float32Array(0);
  const rounds = await adaptiveRounds(ROUND_POLICY, async (round) => {
    const times: number[] = [];
    for (const e of engines) {
      const t = performance.now();
      const g = await e.engine.readoutGradients(TAP, one, [0, 0], rows, K);
      times.push((performance.now() - t) / 1000);
      e.best = Math.min(e.best, times[times.length - 1]);
      if (e === onDevice) deviceGradient = g;
      else cpuGradient = g;
    }
    ratios.push(Math.min(...times.slice(1)) / times[0]);
    console.log(
      `round ${round}: onnxruntime ${engines.map((e, i) => `${e.label} ${fmt(times[i])} s`).join(", ")}; ` +
        `load average ${load()}`,
    );
  });
  const deviceBest = onDevice.best;
  const cpuBest = Math.min(...onCpu.map((e) => e.best));

  await selectTfjsBackend("wasm");
  const steps: number[] = [];
  for (const e of engines)
    steps.push(await optvisStep(onnxDifferentiableTap(e.engine, TAP), pixels, OPTVIS_STEPS));
  const deviceStep = steps[0];
  const cpuStep = Math.min(...steps.slice(1));
  console.log(
    `optvis step: onnxruntime ${engines.map((e, i) => `${e.label} ${fmt(steps[i])} s`).join(", ")}; ` +
      `load average ${load()}`,
  );
  for (const e of engines) e.engine.dispose();

  console.log(`--- best of ${rounds} interleaved rounds (pytorch and tfjs skipped on a ${device} run) ---`);
  console.log(
    `k=${K} gradients of one image: onnxruntime ${engines.map((e) => `${e.label} ${fmt(e.best)} s`).join(", ")}; ` +
      `${device} vs cpu max|Δ|/max|g| = ${relError(deviceGradient, cpuGradient).toExponential(1)}`,
  );
  console.log(
    `speed-up over the cpu's better setting (its time / ${device}'s): best ${fmt(cpuBest / deviceBest)}×, median of ` +
      `${rounds} paired rounds ${fmt(median(ratios))}×; optvis step ${fmt(cpuStep / deviceStep)}×`,
  );
  console.log(
    `load average ${load()} at the end; bench took ${fmt((performance.now() - started) / 1000, 0)} s`,
  );
  console.log(`gradients: ${fmt(deviceBest)} s/image k=${K} (${fmt(cpuBest / deviceBest)}× cpu)`);
}

async function main(): Promise<void> {
  const { device } = await benchDevice();
  if (device !== "cpu") return deviceMain(device);
  if (!(await onnxAvailable())) throw new Error("onnxruntime-node cannot be loaded here; nothing to measure");
  const { started, desc, weights, C, pixels, one, rows } = await setUp();

  // PyTorch at THREADS threads and at 1 (on a loaded machine its 2-thread runs can lose to 1): the best is the baseline.
  const pyThreads = [...new Set([THREADS, 1])];
  const workers = await Promise.all(
    pyThreads.map((n) => PytorchWorker.start(PYTORCH, [String(n), String(K), String(CHANNEL)])),
  );
  // onnxruntime likewise at THREADS threads and at 1; the best of either is ours.
  const engines: Array<{
    threads: number;
    engine: Awaited<ReturnType<typeof createOnnxGradients>>;
    best: number;
  }> = [];
  for (const threads of pyThreads) {
    const engine = await createOnnxGradients(desc, weights, { threads });
    const build = await seconds(() => engine.readoutGradients(TAP, one, [0, 0], rows, K));
    console.log(
      `onnxruntime ${ortVersion()} ${threads}t: VJP graph generated, session created and first run in ${fmt(build)} s`,
    );
    engines.push({ threads, engine, best: Number.POSITIVE_INFINITY });
  }
  console.log(`pytorch ${workers[0].version}`);

  // k = 16 gradients, interleaved rounds: onnxruntime, then each PyTorch way at each thread count.
  const ways = pyThreads.flatMap((threads, w) =>
    (["replicated", "sequential"] as const).map((way) => ({
      threads,
      way,
      worker: workers[w].worker,
      best: Infinity,
    })),
  );
  const ratios: number[] = [];
  let ortGradient: Float32Array = new Float32Array(0);
  const rounds = await adaptiveRounds(ROUND_POLICY, async (round) => {
    const ours: number[] = [];
    for (const e of engines) {
      const t = performance.now();
      ortGradient = await e.engine.readoutGradients(TAP, one, [0, 0], rows, K);
      ours.push((performance.now() - t) / 1000);
      e.best = Math.min(e.best, ours[ours.length - 1]);
    }
    const o = Math.min(...ours);
    const times: number[] = [];
    for (const way of ways) {
      const v = await way.worker.ask(`${way.way} 1`);
      way.best = Math.min(way.best, v);
      times.push(v);
    }
    ratios.push(Math.min(...times) / o);
    console.log(
      `round ${round}: onnxruntime ${engines.map((e, i) => `${e.threads}t ${fmt(ours[i])} s`).join(", ")}; pytorch ` +
        ways.map((w, i) => `${w.way} ${w.threads}t ${fmt(times[i])} s`).join(", ") +
        `; load average ${load()}`,
    );
  });
  const pyBest = Math.min(...ways.map((w) => w.best));
  const ortBest = Math.min(...engines.map((e) => e.best));

  // Feature-visualization steps.
  await selectTfjsBackend("wasm");
  const ortSteps: number[] = [];
  for (const e of engines)
    ortSteps.push(await optvisStep(onnxDifferentiableTap(e.engine, TAP), pixels, OPTVIS_STEPS));
  const ortStep = Math.min(...ortSteps);
  const pySteps: number[] = [];
  for (const w of workers) pySteps.push(await w.worker.ask(`step ${OPTVIS_STEPS}`));
  const pyStep = Math.min(...pySteps);
  console.log(
    `optvis step: onnxruntime ${engines.map((e, i) => `${e.threads}t ${fmt(ortSteps[i])} s`).join(", ")}; pytorch ` +
      pyThreads.map((n, i) => `${n}t ${fmt(pySteps[i])} s`).join(", ") +
      `; load average ${load()}`,
  );
  for (const w of workers) w.worker.stop();

  // tfjs wasm: the same k = 16 gradients (chunks of 8) and the same optvis step.
  let tfjsLine = "tfjs: skipped (BENCH_SKIP_TFJS=1)";
  if (!SKIP_TFJS) {
    const bb = createTfjsBackbone(desc, weights);
    const engine = tfjsGradientBackbone(bb);
    const chunk = engine.chunkSize;
    const run = async () => {
      const out = new Float32Array(K * SIZE * SIZE * 3);
      for (let j = 0; j < K; j += chunk) {
        const g = await engine.readoutGradients(
          TAP,
          one,
          [0, 0],
          rows.subarray(j * C, (j + chunk) * C),
          chunk,
        );
        out.set(g, j * SIZE * SIZE * 3);
      }
      return out;
    };
    await engine.readoutGradients(TAP, one, [0, 0], rows.subarray(0, C), 1); // builds the lazy gradient kernels
    let tfGradient: Float32Array = new Float32Array(0);
    const tfTime = await seconds(async () => {
      tfGradient = await run();
    });
    const tfStep = await optvisStep(tfjsDifferentiableTap(bb, TAP), pixels, 2);
    engine.dispose();
    tfjsLine =
      `tfjs ${tf.getBackend()}: k=${K} gradients ${fmt(tfTime)} s (chunks of ${chunk}; onnxruntime vs tfjs ` +
      `max|Δ|/max|g| = ${relError(ortGradient, tfGradient).toExponential(1)}), optvis step ${fmt(tfStep)} s`;
  }
  for (const e of engines) e.engine.dispose();

  console.log(`--- best of ${rounds} interleaved rounds ---`);
  console.log(
    `k=${K} gradients of one image: onnxruntime ${engines.map((e) => `${e.threads}t ${fmt(e.best)} s`).join(", ")}; pytorch ` +
      ways.map((w) => `${w.way} ${w.threads}t ${fmt(w.best)} s`).join(", "),
  );
  console.log(tfjsLine);
  console.log(
    `speed-up over pytorch's faster way (its time / ours): best ${fmt(pyBest / ortBest)}×, median of ${rounds} ` +
      `paired rounds ${fmt(median(ratios))}×; optvis step ${fmt(pyStep / ortStep)}×`,
  );
  console.log(
    `load average ${load()} at the end; bench took ${fmt((performance.now() - started) / 1000, 0)} s`,
  );
  console.log(`gradients: ${fmt(ortBest)} s/image k=${K} (${fmt(pyBest / ortBest)}× PyTorch)`);
}

await main();
