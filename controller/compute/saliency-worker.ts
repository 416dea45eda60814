// The visualize step's heavy part, in a worker thread (started by visualize.ts through ts-worker.mjs): candidate
// features from the feature cache, the best pair per channel, then the shared-feature maps on the gradient engine
// the config picks (compute.executor: ONNX Runtime's VJP graph when it loads, else tfjs), on a pool of one engine
// per worker thread where the thread budget allows (gradient-pool.ts), written to each channel's folder.
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { computeFeatures, createFeatureExtractor } from "../../analysis/features/index.ts";
import { selectImages } from "../../analysis/readout/index.ts";
import { bestPair, SaliencyError, sharedFeatureMaps } from "../../analysis/saliency/index.ts";
import { loadImageRGB } from "../../stimuli/index.ts";
import { writeSaliencyFiles } from "../commands/saliency.ts";
import type {
  SaliencyCandidate,
  SaliencyExtraPair,
  SaliencyJob,
  SaliencyMessage,
} from "../day/steps/visualize.ts";
import { createGradientPool } from "./gradient-pool.ts";

const job = workerData as SaliencyJob;
const post = (m: SaliencyMessage) => parentPort!.postMessage(m);
const abort = new AbortController();
parentPort!.on("message", (m: { type: string }) => {
  if (m.type === "abort") abort.abort();
});

async function run(): Promise<void> {
  const spec = job.backbone;
  // Candidate features (cached by the fit and select steps), every distinct image once.
  const images = new Map<string, { id: string; path: string; sha256: string }>();
  for (const ch of job.channels) {
    for (const c of [...ch.objects, ...ch.bodies])
      images.set(c.id, { id: c.id, path: c.path, sha256: c.sha256 });
  }
  const list = [...images.values()];
  const row = new Map(list.map((img, i) => [img.id, i]));
  const extractor = await createFeatureExtractor(spec);
  let features: Awaited<ReturnType<typeof computeFeatures>>;
  try {
    features = await computeFeatures({
      images: list,
      extractor,
      root: job.featureRoot,
      signal: abort.signal,
      onProgress: (p) =>
        post({ type: "progress", channelId: "*", stage: "features", done: p.done, total: p.total }),
    });
  } finally {
    await extractor.dispose();
  }
  // One engine per worker thread when the thread budget makes a pool (gradient-pool.ts), else this thread's.
  const backbone = await createGradientPool(
    { arch: spec.arch, variant: spec.variant, layer: spec.layer, weightsPath: spec.weightsPath },
    { engine: spec.executor, threads: spec.threads, tfjsBackend: spec.tfjsBackend, device: spec.device },
  );
  post({ type: "progress", channelId: "*", stage: `gradients on ${backbone.summary}` });
  const { settings } = job;
  try {
    for (const ch of job.channels) {
      if (abort.signal.aborted) throw new SaliencyError("EPHYS_ABORTED", "visualize cancelled");
      const readout = { location: ch.readout.location, weights: ch.readout.weights };
      let pair: ReturnType<typeof bestPair>;
      try {
        pair = bestPair(
          readout,
          {
            ids: ch.objects.map((c) => c.id),
            features: selectImages(
              features,
              ch.objects.map((c) => row.get(c.id)!),
            ),
          },
          {
            ids: ch.bodies.map((c) => c.id),
            features: selectImages(
              features,
              ch.bodies.map((c) => row.get(c.id)!),
            ),
          },
          { objects: ch.objects.map((c) => c.response), bodies: ch.bodies.map((c) => c.response) },
          settings.topObjects,
          settings.topBodies,
        );
      } catch (e) {
        if ((e as SaliencyError).code !== "EPHYS_NO_PAIR") throw e;
        post({
          type: "skipped",
          channelId: ch.channelId,
          code: "EPHYS_NO_PAIR",
          message: (e as Error).message,
        });
        continue;
      }
      const object = ch.objects[pair.objectIndex];
      const body = ch.bodies[pair.bodyIndex];
      const maps = async (o: SaliencyCandidate, b: SaliencyCandidate, label: string) => {
        const [xOut, xIn] = await Promise.all([
          loadImageRGB(o.path, spec.imageSize),
          loadImageRGB(b.path, spec.imageSize),
        ]);
        const result = await sharedFeatureMaps({
          backbone,
          tap: spec.layer,
          readout,
          xOut,
          xIn,
          sigma: settings.smoothingSigmaPx,
          epsilon: settings.epsilon,
          method: settings.method,
          igSteps: settings.igSteps,
          signal: abort.signal,
          onProgress: (p) =>
            post({
              type: "progress",
              channelId: ch.channelId,
              stage: `gradients ${label}${p.image}`,
              done: p.done,
              total: p.total,
            }),
        });
        return { xOut, xIn, result };
      };
      const { xOut, xIn, result } = await maps(object, body, "");
      // Phase 3's further objects (phase3.topObjects): the channel's next recorded objects by response, each with
      // the body most similar to it among the same top bodies, in subfolders; written before the pair's summary,
      // which the step stores last.
      const extraPairs: SaliencyExtraPair[] = [];
      const further = ch.objects
        .map((o, i) => ({ o, i }))
        .filter(({ i }) => i !== pair.objectIndex)
        .slice(0, settings.extraObjects);
      for (const { o, i } of further) {
        if (abort.signal.aborted) throw new SaliencyError("EPHYS_ABORTED", "visualize cancelled");
        const mine = bestPair(
          readout,
          { ids: [o.id], features: selectImages(features, [row.get(o.id)!]) },
          {
            ids: ch.bodies.map((c) => c.id),
            features: selectImages(
              features,
              ch.bodies.map((c) => row.get(c.id)!),
            ),
          },
          { objects: [o.response], bodies: ch.bodies.map((c) => c.response) },
          1,
          settings.topBodies,
        );
        const b = ch.bodies[mine.bodyIndex];
        const extra = await maps(o, b, `${o.id} `);
        const dir = join(ch.outDir, `object-${i + 1}`);
        await writeSaliencyFiles(dir, extra.xOut, extra.xIn, extra.result, {
          channelId: ch.channelId,
          objectId: o.id,
          bodyId: b.id,
          objectResponse: o.response,
          bodyResponse: b.response,
          objectRank: i + 1,
          pairS: mine.s,
          arch: spec.arch,
          variant: spec.variant,
          layer: spec.layer,
        });
        extraPairs.push({ objectId: o.id, bodyId: b.id, rank: i + 1, s: mine.s, dir });
      }
      const summary = await writeSaliencyFiles(ch.outDir, xOut, xIn, result, {
        channelId: ch.channelId,
        objectId: object.id,
        bodyId: body.id,
        objectResponse: object.response,
        bodyResponse: body.response,
        pairS: pair.s,
        topObjectIds: pair.topObjectIds,
        topBodyIds: pair.topBodyIds,
        arch: spec.arch,
        variant: spec.variant,
        layer: spec.layer,
        ...(settings.method === "ig" ? { igSteps: settings.igSteps } : {}),
      });
      post({
        type: "channel",
        channelId: ch.channelId,
        dir: ch.outDir,
        objectId: object.id,
        bodyId: body.id,
        summary,
        extraPairs,
      });
    }
  } finally {
    await backbone.close();
  }
  post({ type: "done" });
}

run().catch((e: unknown) =>
  post({ type: "error", message: (e as Error).message, code: (e as { code?: string }).code }),
);
