// Heavy work between phases runs here, in a worker thread, so the daemon keeps answering while it computes:
// backbone features (cached on disk) and the batched readout fit, and the phase-2 selection.
import { parentPort, workerData } from "node:worker_threads";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import {
  type ComputedFeatures,
  computeFeatures,
  countMissing,
  type FeatureExtractor,
} from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/index.ts";
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

type Image = { id: string; path: string; sha256: string };

/**
 * Below this many images to compute, one extractor in this thread does the job: starting the pool's workers (a
 * few seconds on 2 cores) costs more than its 1.2–1.4× gains back on a small set, or on a cached one.
 */
const POOL_MIN_IMAGES = 128;

/**
 * Run `work` with an extractor for `images` (the feature pool when many of them are not cached yet; its weights
 * hash and executor reported first), then close it.
 */
async function withExtractor<T>(
  images: Image[],
  work: (extractor: FeatureExtractor) => Promise<T>,
): Promise<T> {
  let extractor = await createFeaturePool({ ...job.backbone, workers: 1 });
  if ((await countMissing(images, extractor, job.featureRoot)) >= POOL_MIN_IMAGES) {
    await extractor.dispose();
    extractor = await createFeaturePool(job.backbone);
  }
  post({
    type: "progress",
    stage: "weights",
    weightsSha256: extractor.weightsSha256,
    // #25 provenance: which file ran and what the lab declared it to be (stored in the backbone/loaded record).
    weightsSource: extractor.weightsSource,
    weightsKind: job.backbone.weightsKind ?? "standard",
    executor: extractor.description,
  });
  try {
    return await work(extractor);
  } finally {
    await extractor.dispose();
  }
}

/** Features of each list of images (cached on disk), one feature pool for all of them. */
function features(...lists: Image[][]): Promise<ComputedFeatures[]> {
  return withExtractor(lists.flat(), async (extractor) => {
    const out: ComputedFeatures[] = [];
    for (const images of lists) {
      out.push(
        await computeFeatures({
          images,
          extractor,
          root: job.featureRoot,
          signal: abort.signal,
          onProgress: (p) => post({ type: "progress", stage: "features", ...p }),
        }),
      );
    }
    return out;
  });
}

async function run(): Promise<void> {
  if (job.kind === "features") {
    // In chunks, so that only one chunk's features are held at a time (nothing is returned but the counts).
    const chunk = 64;
    const total = job.images.length;
    const counts = { images: total, cached: 0, computed: 0 };
    await withExtractor(job.images, async (extractor) => {
      for (let from = 0; from < total; from += chunk) {
        const part = await computeFeatures({
          images: job.images.slice(from, from + chunk),
          extractor,
          root: job.featureRoot,
          signal: abort.signal,
          onProgress: (p) =>
            post({
              type: "progress",
              stage: "features",
              ...p,
              done: from + p.done,
              total,
              cached: counts.cached + p.cached,
              etaS: p.rate > 0 ? (total - from - p.done) / p.rate : p.etaS,
            }),
        });
        counts.cached += part.cached;
        counts.computed += part.computed;
      }
    });
    post({ type: "result", features: counts });
    return;
  }
  if (job.kind === "fit") {
    const extra = job.extraTraining;
    const [maps, extraMaps] = await features(job.images, ...(extra ? [extra.images] : []));
    if (extra) post({ type: "progress", stage: "augmentation", silhouettes: extra.images.length });
    const backend = await selectTfjsBackend(job.backbone.tfjsBackend);
    post({ type: "progress", stage: "fit-backend", backend: backend.name });
    const readouts = await fitGaussianReadouts(
      {
        features: maps,
        channels: job.channels,
        split: job.split,
        extraTraining: extra ? { features: extraMaps, targetRows: extra.targetRows } : undefined,
      },
      {
        penalty: job.penalty,
        learningRate: job.learningRate,
        initLocation: job.init ?? "scan",
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
  const [all] = await features([...job.phase1, ...job.objects, ...job.controls]);
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
