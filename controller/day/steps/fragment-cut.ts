// Cutting one parent image along its map into phase 3's fragments (highlighted, complement, random), written as PNGs
// with their soft masks and hashed as stimuli: pure of the store, so that the fragment step (fragment.ts) runs it in
// a worker thread (controller/compute/fragment-cut-worker.ts) — its masks and Gaussian edges take a few hundred ms
// of CPU per parent, which on the daemon's own thread would hold up phase 3's presentation loop.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readNpy, writeNpy } from "../../../analysis/features/index.ts";
import { composeFragment, randomMasks, salientMask, softenMask } from "../../../analysis/fragments/index.ts";
import { mapIntensity } from "../../../analysis/saliency/index.ts";
import type { Phase3Spec } from "../../../protocols/index.ts";
import {
  encodePng,
  type FragmentKind,
  fragmentId,
  loadImageRGB,
  sha256File,
  silhouetteMask,
  toUint8,
} from "../../../stimuli/index.ts";
import { runMessageJob } from "../../compute/worker-job.ts";
import type { StimulusRecord } from "../../store/store.ts";

/** One fragment as the "fragments" artifact keeps it. */
export interface FragmentRecord {
  stimulusId: string;
  parentId: string;
  /** Which image of the channel's pair it was cut from. */
  parentRole: "object" | "body";
  kind: Exclude<FragmentKind, "full">;
  /** 1-based index of a random fragment; 0 otherwise. */
  n: number;
  /** Share of the image left visible (the mean of the soft mask: 1 − that for a complement). */
  visible: number;
  /** The soft mask (H×W float32, 1 = the parent's pixel, 0 = grey), .npy. */
  maskPath: string;
  /** The channel's model's prediction for the fragment (spikes/s); null when its features could not be read. */
  predicted: number | null;
}

/** How the fragments are cut (the "fragments" artifact keeps them). */
export interface FragmentSettings {
  areaFraction: number;
  basis: "area" | "mass";
  softnessPx: number;
  randomCount: number;
  seed: number;
  imageSize: number;
}

/** A 32-bit FNV-1a hash of a text, for seeds that do not depend on the order channels are handled in. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface Cut {
  record: Omit<FragmentRecord, "predicted">;
  stimulus: StimulusRecord;
}

/** At most this share of the object's own pixels is highlighted, so that random fragments of the same area fit on
 *  the object (a small object would otherwise leave them no room, and a highlighted region mostly background). */
export const MAX_SILHOUETTE_SHARE = 0.5;

export interface CutParent {
  cuts: Cut[];
  /** Pixels in the salient mask, and that as a share of the image. */
  area: number;
  areaFraction: number;
  /** The protocol's area was more than MAX_SILHOUETTE_SHARE of the object's silhouette and was reduced to it. */
  capped: boolean;
  silhouette: number;
}

/** The fragments of one parent image along its map (an H×W×3 .npy of the model's input size). */
export async function cutParent(
  parent: StimulusRecord,
  role: "object" | "body",
  mapPath: string,
  channelId: string,
  spec: Phase3Spec,
  settings: FragmentSettings,
  outDir: string,
): Promise<CutParent> {
  const size = settings.imageSize;
  const map = await readNpy(mapPath);
  const [h, w, c] = map.shape;
  if (map.shape.length !== 3 || h !== size || w !== size || c !== 3)
    throw new Error(
      `fragments of ${parent.id}: ${mapPath} has shape [${map.shape.join(", ")}]; expected the model's input size [${size}, ${size}, 3]`,
    );
  const intensity = mapIntensity(map.data as ArrayLike<number>, h, w);
  const img = await loadImageRGB(parent.path, size);
  const silhouette = silhouetteMask(img);
  let onObject = 0;
  for (const v of silhouette) onObject += v ? 1 : 0;
  const cap = Math.floor(MAX_SILHOUETTE_SHARE * onObject);
  if (cap < 1)
    throw new Error(`fragments of ${parent.id}: the image has no object pixels off the background grey`);
  const options = {
    areaFraction: settings.areaFraction,
    basis: settings.basis,
    softnessPx: settings.softnessPx,
  };
  let salient = salientMask(intensity, h, w, options);
  const capped = salient.area > cap;
  if (capped)
    salient = salientMask(intensity, h, w, { ...options, basis: "area", areaFraction: cap / (h * w) });
  const seed = (settings.seed ^ hash32(`${channelId}\u0000${parent.id}`)) >>> 0;
  const wanted = new Set(spec.kinds);
  const masks: Array<{ kind: Exclude<FragmentKind, "full">; n: number; soft: Float32Array }> = [];
  if (wanted.has("highlighted")) masks.push({ kind: "highlighted", n: 0, soft: salient.soft });
  if (wanted.has("complement")) masks.push({ kind: "complement", n: 0, soft: salient.soft });
  if (wanted.has("random"))
    for (const [k, m] of randomMasks(salient.mask, silhouette, h, w, {
      count: settings.randomCount,
      seed,
    }).entries())
      masks.push({ kind: "random", n: k + 1, soft: softenMask(m, h, w, settings.softnessPx) });
  const out: Cut[] = [];
  for (const m of masks) {
    const id = fragmentId({ channelId, kind: m.kind, n: m.n, parentId: parent.id });
    const base = `${role}-${m.kind}${m.n || ""}`;
    const pngPath = join(outDir, `${base}.png`);
    const maskPath = join(outDir, `${base}.mask.npy`);
    const composed = composeFragment(img, m.soft, m.kind);
    await writeFile(pngPath, await encodePng(toUint8(composed), size, size, 3));
    await writeNpy(maskPath, m.soft, [h, w]);
    let kept = 0;
    for (const v of m.soft) kept += v;
    kept /= m.soft.length;
    out.push({
      record: {
        stimulusId: id,
        parentId: parent.id,
        parentRole: role,
        kind: m.kind,
        n: m.n,
        visible: m.kind === "complement" ? 1 - kept : kept,
        maskPath,
      },
      stimulus: {
        id,
        setId: "fragments",
        category: parent.category,
        role: "fragment",
        path: pngPath,
        sha256: await sha256File(pngPath),
      },
    });
  }
  return {
    cuts: out,
    area: salient.area,
    areaFraction: salient.area / (h * w),
    capped,
    silhouette: onObject,
  };
}

/** One parent to cut: the image, its role in the channel's pair, its map (.npy, H×W×3) and where its files go. */
export interface CutRequest {
  parent: StimulusRecord;
  role: "object" | "body";
  mapPath: string;
  channelId: string;
  outDir: string;
}

export interface CutJob {
  spec: Phase3Spec;
  settings: FragmentSettings;
  parents: CutRequest[];
}

export type CutMessage =
  | { type: "cut"; index: number; part: CutParent }
  | { type: "failed"; index: number; message: string }
  | { type: "done" }
  | { type: "error"; message: string; code?: string };

/** Each request's cut, or why it failed, in a worker thread (controller/compute/fragment-cut-worker.ts) at that nice
 *  value (ts-worker.mjs); cancellable through `signal`. */
export async function cutInWorker(
  job: CutJob,
  signal?: AbortSignal,
  nice?: number,
): Promise<Array<CutParent | Error>> {
  const out: Array<CutParent | Error> = new Array(job.parents.length);
  await runMessageJob<CutMessage>(
    new URL("../../compute/fragment-cut-worker.ts", import.meta.url),
    nice === undefined ? job : { ...job, __nice: nice },
    (m) => {
      out[m.index] = m.type === "cut" ? m.part : new Error(m.message);
    },
    signal,
    "fragment cutting worker",
  );
  return out;
}
