// The concepts job's heavy part, in a worker thread (started by concepts-job.ts through ts-worker.mjs): the images'
// backbone features from the feature cache (computed where missing), concept discovery (analysis/concepts), and
// the files: per-image concept maps and a montage (PNG), clusters.json, concepts.csv and channels.csv.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { conceptMap, discoverConcepts } from "../../analysis/concepts/index.ts";
import { computeFeatures, createFeatureExtractor } from "../../analysis/features/index.ts";
import { encodePng, loadImageRGB, toUint8 } from "../../stimuli/index.ts";
import { CONCEPT_FILES, type ConceptJob, type ConceptMessage, type ConceptSummary } from "./concepts-job.ts";

const job = workerData as ConceptJob;
const post = (m: ConceptMessage) => parentPort!.postMessage(m);
const abort = new AbortController();
parentPort!.on("message", (m: { type: string }) => {
  if (m.type === "abort") abort.abort();
});

/** Side of each tile (image or map) in the PNGs. */
const TILE = 112;

/** Nearest-neighbour upsampling of an h × w × 3 map to size × size. */
function upsample(map: Uint8Array, h: number, w: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const r = Math.min(h - 1, Math.floor((y * h) / size));
    for (let x = 0; x < size; x++) {
      const c = Math.min(w - 1, Math.floor((x * w) / size));
      for (let t = 0; t < 3; t++) out[(y * size + x) * 3 + t] = map[(r * w + c) * 3 + t];
    }
  }
  return out;
}

/** Tiles (size × size RGB) laid out in rows of `perRow`, with a 4-pixel white gutter. */
function grid(
  tiles: Uint8Array[],
  size: number,
  perRow: number,
): { data: Uint8Array; width: number; height: number } {
  const gap = 4;
  const cols = Math.min(perRow, tiles.length);
  const rows = Math.ceil(tiles.length / perRow);
  const width = cols * size + (cols - 1) * gap;
  const height = rows * size + (rows - 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(255);
  tiles.forEach((tile, i) => {
    const x0 = (i % perRow) * (size + gap);
    const y0 = Math.floor(i / perRow) * (size + gap);
    for (let y = 0; y < size; y++)
      data.set(tile.subarray(y * size * 3, (y + 1) * size * 3), ((y0 + y) * width + x0) * 3);
  });
  return { data, width, height };
}

const csvCell = (v: unknown) => {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csv = (rows: unknown[][]) => `${rows.map((r) => r.map(csvCell).join(",")).join("\n")}\n`;

async function run(): Promise<void> {
  const extractor = await createFeatureExtractor(job.backbone);
  let features: Awaited<ReturnType<typeof computeFeatures>>;
  try {
    features = await computeFeatures({
      images: job.images,
      extractor,
      root: job.featureRoot,
      imageSize: job.backbone.imageSize,
      signal: abort.signal,
      onProgress: (p) => post({ type: "features", done: p.done, total: p.total }),
    });
  } finally {
    await extractor.dispose();
  }
  const s = job.settings;
  const result = await discoverConcepts(features, job.readouts, {
    k: s.k,
    gamma: s.gamma,
    m: s.m,
    knn: s.knn,
    concepts: s.concepts,
    reduce: s.reduce,
    seed: s.seed,
    signal: abort.signal,
    onProgress: (p) => post({ type: "progress", ...p }),
  });
  const ids = job.images.map((im) => im.id);
  const mapsDir = join(job.outDir, CONCEPT_FILES.maps);
  await mkdir(mapsDir, { recursive: true });
  // Per image: the image and its concept map side by side; the montage shows the first `montageImages` pairs.
  const pairs: Uint8Array[] = [];
  for (const [i, im] of job.images.entries()) {
    const picture = toUint8(await loadImageRGB(im.path, TILE));
    const map = upsample(conceptMap(result, i), result.h, result.w, TILE);
    const pair = grid([picture, map], TILE, 2);
    const name = `${String(i).padStart(4, "0")}_${im.id.replace(/[^A-Za-z0-9._-]/g, "_")}.png`;
    await writeFile(join(mapsDir, name), await encodePng(pair.data, pair.width, pair.height));
    if (i < job.montageImages) pairs.push(picture, map);
  }
  const montage = grid(pairs, TILE, 8);
  await writeFile(
    join(job.outDir, CONCEPT_FILES.montage),
    await encodePng(montage.data, montage.width, montage.height),
  );
  const t = result.table;
  const summary: ConceptSummary = {
    images: result.images,
    nodes: result.nodes,
    grid: [result.h, result.w],
    channels: result.channelIds.length,
    settings: { ...result.settings },
    eigenvalues: result.eigenvalues,
    seconds: Object.fromEntries(Object.entries(result.seconds).map(([k, v]) => [k, Number(v!.toFixed(3))])),
    imageIds: ids,
    concepts: t.concepts.map((c) => ({
      id: c.id,
      nodes: c.nodes,
      fraction: c.fraction,
      color: c.color,
      topImages: c.topImages.map((x) => ({ imageId: ids[x.image], share: x.share })),
      channels: c.channels,
    })),
    channelTable: t.channels.map((c) => ({
      channelId: c.channelId,
      dominant: c.dominant,
      distribution: c.distribution,
      lift: c.lift,
      topImageIds: c.topImages.map((i) => ids[i]),
    })),
    channelClusters: t.channelClusters,
  };
  await writeFile(join(job.outDir, CONCEPT_FILES.clusters), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(
    join(job.outDir, CONCEPT_FILES.concepts),
    csv([
      ["concept", "nodes", "fraction", "color", "channels", "top_images"],
      ...summary.concepts.map((c) => [
        c.id,
        c.nodes,
        c.fraction.toFixed(4),
        `#${c.color.map((v) => v.toString(16).padStart(2, "0")).join("")}`,
        c.channels.join(" "),
        c.topImages.map((x) => `${x.imageId}:${x.share.toFixed(2)}`).join(" "),
      ]),
    ]),
  );
  await writeFile(
    join(job.outDir, CONCEPT_FILES.channels),
    csv([
      [
        "channel",
        "dominant_concept",
        ...summary.concepts.map((c) => `share_${c.id}`),
        ...summary.concepts.map((c) => `lift_${c.id}`),
        "top_images",
      ],
      ...summary.channelTable.map((c) => [
        c.channelId,
        c.dominant,
        ...c.distribution.map((v) => v.toFixed(4)),
        ...c.lift.map((v) => v.toFixed(3)),
        c.topImageIds.join(" "),
      ]),
    ]),
  );
  post({ type: "done", summary });
}

run().catch((e: unknown) =>
  post({ type: "error", message: (e as Error).message, code: (e as { code?: string }).code }),
);
