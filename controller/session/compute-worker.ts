// Heavy work between phases runs here, in a worker thread, so the daemon keeps answering while it computes:
// backbone features (cached on disk) and the batched readout fit, and the phase-2 selection.
import { parentPort, workerData } from "node:worker_threads";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { computeFeatures } from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/feature-maps.ts";
import {
  fitGaussianReadouts,
  type GaussianReadoutJSON,
  readoutFromJSON,
  readoutToJSON,
} from "../../analysis/readout/index.ts";
import { selectPhase2 } from "../../analysis/selection/index.ts";
import type { ComputeJob, ComputeMessage } from "./compute-jobs.ts";
import { createFeaturePool } from "./feature-pool.ts";

const job = workerData as ComputeJob;
const post = (m: ComputeMessage) => parentPort!.postMessage(m);
const abort = new AbortController();
parentPort!.on("message", (m: { type: string }) => {
  if (m.type === "abort") abort.abort();
});

async function features(images: Array<{ id: string; path: string; sha256: string }>): Promise<FeatureMaps> {
  const extractor = await createFeaturePool(job.backbone);
  post({
    type: "progress",
    stage: "weights",
    weightsSha256: extractor.weightsSha256,
    executor: extractor.description,
  });
  try {
    return await computeFeatures({
      images,
      extractor,
      root: job.featureRoot,
      signal: abort.signal,
      onProgress: (p) => post({ type: "progress", stage: "features", ...p }),
    });
  } finally {
    await extractor.dispose();
  }
}

async function run(): Promise<void> {
  if (job.kind === "fit") {
    const maps = await features(job.images);
    const backend = await selectTfjsBackend(job.backbone.tfjsBackend);
    post({ type: "progress", stage: "fit-backend", backend: backend.name });
    const readouts = await fitGaussianReadouts(
      { features: maps, channels: job.channels, split: job.split },
      {
        penalty: job.penalty,
        learningRate: job.learningRate,
        epochs: job.epochs,
        seed: job.seed,
        signal: abort.signal,
        onProgress: (p) =>
          post({
            type: "progress",
            stage: "fit",
            epoch: p.epoch,
            bestValLoss: p.bestValLoss,
            active: p.active,
          }),
      },
    );
    post({ type: "result", readouts: readouts.map(readoutToJSON) });
    return;
  }
  const all = await features([...job.phase1, ...job.objects, ...job.controls]);
  const slice = (from: number, count: number): FeatureMaps => {
    const per = all.h * all.w * all.c;
    return { ...all, n: count, data: all.data.subarray(from * per, (from + count) * per) };
  };
  const n1 = job.phase1.length;
  const no = job.objects.length;
  const selection = selectPhase2(
    {
      readouts: job.readouts.map((r: GaussianReadoutJSON) => readoutFromJSON(r)),
      phase1: { ids: job.phase1.map((s) => s.id), features: slice(0, n1), responses: job.responses },
      objects: { ids: job.objects.map((s) => s.id), features: slice(n1, no) },
      controls: { ids: job.controls.map((s) => s.id), features: slice(n1 + no, job.controls.length) },
    },
    job.counts,
    job.seed,
  );
  post({ type: "result", selection });
}

run().catch((e: unknown) =>
  post({ type: "error", message: (e as Error).message, code: (e as { code?: string }).code }),
);
