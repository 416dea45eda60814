// Feature visualization in a worker thread (started by optvis.ts through ts-worker.mjs): the differentiable
// backbone on the configured engine (ONNX Runtime's VJP graph when it loads, else tfjs), then for each channel the
// synthesized images (analysis/optvis synthesizeChannel), written as PNGs (ranked by the model's prediction for the
// saved 8-bit image) with optvis.json beside them.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { createDifferentiableBackbone } from "../../analysis/backbone/differentiable-tap.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { OptvisError, synthesizeChannel } from "../../analysis/optvis/index.ts";
import { loadBackboneWeights } from "../../analysis/saliency/index.ts";
import { encodePng } from "../../stimuli/index.ts";
import { OPTVIS_FILES, type OptvisJob, type OptvisMessage, type OptvisSummary } from "./optvis-job.ts";

const job = workerData as OptvisJob;
const post = (m: OptvisMessage) => parentPort!.postMessage(m);
const abort = new AbortController();
parentPort!.on("message", (m: { type: string }) => {
  if (m.type === "abort") abort.abort();
});

/** The trace kept in optvis.json: at most ~256 values (every k-th step, the last one always). */
function thin(trace: Float32Array): { every: number; values: number[] } {
  const every = Math.max(1, Math.ceil(trace.length / 256));
  const values = [];
  for (let i = 0; i < trace.length; i += every) values.push(trace[i]);
  if ((trace.length - 1) % every !== 0) values.push(trace[trace.length - 1]);
  return { every, values };
}

async function run(): Promise<void> {
  const spec = job.backbone;
  const s = job.settings;
  await selectTfjsBackend(spec.tfjsBackend);
  const { desc, weights } = await loadBackboneWeights({
    arch: spec.arch,
    variant: spec.variant,
    layer: spec.layer,
    weightsPath: spec.weightsPath,
  });
  const bb = await createDifferentiableBackbone(desc, weights, {
    engine: spec.executor,
    threads: spec.threads,
    device: spec.device,
  });
  post({ type: "engine", summary: bb.summary });
  const taps = { [spec.layer]: bb.tap(spec.layer) };
  try {
    for (const [index, ch] of job.channels.entries()) {
      if (abort.signal.aborted) throw new OptvisError("EPHYS_ABORTED", "optvis cancelled");
      const readout = {
        channelId: ch.channelId,
        location: ch.readout.location,
        weights: ch.readout.weights,
        bias: ch.readout.bias,
      };
      const r = await synthesizeChannel({
        taps,
        tap: spec.layer,
        readout,
        settings: s,
        signal: abort.signal,
        onProgress: (progress) =>
          post({ type: "progress", channelId: ch.channelId, index, total: job.channels.length, progress }),
      });
      const { height, width } = r.result;
      const { bytes, predicted, ranking } = r;
      await mkdir(ch.outDir, { recursive: true });
      const size = height * width * 3;
      const images = [];
      for (const [k, i] of ranking.entries()) {
        const file = OPTVIS_FILES.image(k + 1);
        await writeFile(
          join(ch.outDir, file),
          await encodePng(bytes.subarray(i * size, (i + 1) * size), width, height),
        );
        images.push({ rank: k + 1, file, predicted: predicted[i], index: i });
      }
      const summary: OptvisSummary = {
        channelId: ch.channelId,
        images,
        objective: r.result.settings.objective,
        model: r.model,
        settings: r.settings,
        transforms: r.result.settings.transforms,
        parameterization: r.result.settings.parameterization,
        optimizer: r.result.settings.optimizer,
        inputSize: r.result.settings.inputSize,
        engine: bb.summary,
        backbone: {
          arch: spec.arch,
          variant: spec.variant,
          layer: spec.layer,
          imageSize: spec.imageSize,
          weights: spec.weightsPath ?? "embedded Keras ResNet-50",
        },
        readout: {
          location: [readout.location[0], readout.location[1]],
          bias: readout.bias,
          nonzeroWeights: readout.weights.filter((w) => w !== 0).length,
        },
        trace: thin(r.result.trace),
        initial: Array.from(r.result.initial),
        final: Array.from(r.result.final),
        seconds: r.result.seconds,
      };
      await writeFile(join(ch.outDir, OPTVIS_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
      post({ type: "channel", channelId: ch.channelId, dir: ch.outDir, summary });
    }
  } finally {
    bb.dispose();
  }
  post({ type: "done" });
}

run().catch((e: unknown) =>
  post({ type: "error", message: (e as Error).message, code: (e as { code?: string }).code }),
);
