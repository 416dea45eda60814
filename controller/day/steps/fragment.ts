// Phase 3's fragments (the causal test of the explanation; run by the explain step, steps/explain.ts, round by
// round as channels' maps are stored, while phase 3 presents the channels already cut): for each channel with
// shared-feature maps (the visualize step's "saliency" artifacts), its object and its body cut along their maps
// (and, with phase3.topObjects, its next recorded objects along their own pairs' maps, in subfolders
// object-<rank>/) — the highlighted fragment
// (only the most salient region visible, the rest the display's grey), its complement (that region greyed out) and
// random fragments (a region of the same area and shape placed at random on the image's own silhouette) — written
// as PNGs of the model's input size, hashed into the session as stimuli (set "fragments", role "fragment", the
// parent's category), their backbone features computed into the cache and the channel's model's prediction for
// each stored: one artifact of kind "fragments" per channel, written last, so that a restart redoes only channels
// without one (and their files come out byte for byte the same: every choice is seeded); after each artifact the
// FRAGMENTS_READY event, on which phase 3 takes the channel's stimuli as its next part (phase3-parts.ts).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readNpy, writeNpy } from "../../../analysis/features/index.ts";
import { composeFragment, randomMasks, salientMask, softenMask } from "../../../analysis/fragments/index.ts";
import { type GaussianReadoutJSON, predict, readoutFromJSON } from "../../../analysis/readout/index.ts";
import { mapIntensity } from "../../../analysis/saliency/index.ts";
import { resolvePaths } from "../../../config/index.ts";
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
import { SALIENCY_FILES } from "../../commands/saliency.ts";
import { runComputeJob } from "../../compute/compute-jobs.ts";
import type { StimulusRecord } from "../../store/store.ts";
import { backboneSpec, computeProgress, featureRoot, image } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";
import { cachedFeatures } from "../object-predictions.ts";
import { FRAGMENTS_READY } from "../phase3-parts.ts";
import { safeName } from "./synthesize.ts";
import type { SaliencyExtraPair } from "./visualize.ts";

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

/** The meta of a channel's "fragments" artifact. */
export interface FragmentsArtifactMeta {
  objectId: string;
  bodyId: string;
  parents: Array<{
    id: string;
    role: "object" | "body";
    /** 0: the image is of the visualized pair; k ≥ 1: the channel's object of that recorded rank, cut for
     *  phase3.topObjects along its own pair's map (absent in artifacts written before the option: 0). */
    rank?: number;
    predicted: number | null;
    /** Pixels highlighted (the complement greys these out; each random fragment has as many). */
    area: number;
    areaFraction: number;
    /** The protocol's area was more than MAX_SILHOUETTE_SHARE of the object's pixels and was reduced to that. */
    capped: boolean;
    /** The object's own pixels (stimuli/silhouette.ts). */
    silhouette: number;
  }>;
  fragments: FragmentRecord[];
  /** What phase 3 shows for this channel: its fragments, and the parents again when kinds has "full". */
  stimuli: string[];
  settings: {
    areaFraction: number;
    basis: "area" | "mass";
    softnessPx: number;
    randomCount: number;
    seed: number;
    imageSize: number;
  };
}

export interface FragmentOptions {
  /** Only these channels (default: every channel with maps and no fragments yet). */
  channels?: string[];
  /** The features worker's nice value (phase 3: below the presentation's; controller/compute/ts-worker.mjs). */
  nice?: number;
}

export interface FragmentOutcome {
  done: Array<{ channelId: string; fragments: number }>;
  skipped: Array<{ channelId: string; reason: string }>;
}

/** Every channel's phase-3 stimuli, from the stored "fragments" artifacts, in artifact order, each once. */
export function phase3Stimuli(ctx: StepContext): string[] {
  const ids = ctx.store
    .artifacts(ctx.sessionId, "fragments")
    .flatMap((a) => (a.meta as FragmentsArtifactMeta).stimuli);
  return [...new Set(ids)];
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
  settings: FragmentsArtifactMeta["settings"],
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

/**
 * The fragments of every visualized channel without a "fragments" artifact yet; their features; the model's
 * predictions. A channel whose maps or images cannot be read is skipped with the reason (event and log).
 */
export async function fragmentStep(
  ctx: StepContext,
  signal?: AbortSignal,
  options: FragmentOptions = {},
): Promise<FragmentOutcome> {
  const { store, sessionId, log } = ctx;
  const p = ctx.loaded.protocol;
  const outcome: FragmentOutcome = { done: [], skipped: [] };
  const spec = p.phase3;
  if (!spec) return outcome;
  const settings: FragmentsArtifactMeta["settings"] = {
    areaFraction: spec.areaFraction,
    basis: spec.basis,
    softnessPx: spec.softnessPx,
    randomCount: spec.randomCount,
    seed: spec.seed ?? p.seed,
    imageSize: p.model.imageSize,
  };
  const done = new Set(store.artifacts(sessionId, "fragments").map((a) => a.channelId));
  const stimuli = new Map(store.stimuli(sessionId).map((s) => [s.id, s]));
  const readouts = new Map(
    store
      .models(sessionId)
      .filter((m) => m.kind === "gaussian-readout")
      .map((m) => [m.channelId, m.params as GaussianReadoutJSON]),
  );
  const root = join(resolvePaths(ctx.config).dataDir, "sessions", sessionId, "fragments");
  const skip = (channelId: string, reason: string) => {
    outcome.skipped.push({ channelId, reason });
    store.appendEvent(sessionId, "fragments", "channel-skipped", { channelId, reason });
    log.warn(`fragments: channel ${channelId} skipped: ${reason}`);
  };
  const saliency = store.artifacts(sessionId, "saliency").filter((a) => a.channelId && a.path);
  const latest = new Map(saliency.map((a) => [a.channelId!, a])); // the newest artifact of a channel wins
  if (options.channels)
    for (const c of [...latest.keys()]) if (!options.channels.includes(c)) latest.delete(c);
  if (latest.size === 0 && !options.channels) {
    store.appendEvent(sessionId, "fragments", "nothing-to-cut", {
      reason: "no channel has shared-feature maps",
    });
    log.info("fragments: no channel has shared-feature maps; phase 3 has nothing to show");
  }
  const started = Date.now();
  // 1. Cut every channel's pair (seeded: a restart writes the same files).
  interface Parent {
    img: StimulusRecord;
    role: "object" | "body";
    rank: number;
    part: CutParent;
  }
  const pending: Array<{
    channelId: string;
    object: StimulusRecord;
    body: StimulusRecord;
    readout: GaussianReadoutJSON;
    outDir: string;
    parents: Parent[];
  }> = [];
  for (const [channelId, a] of latest) {
    if (done.has(channelId)) continue;
    signal?.throwIfAborted();
    const meta = a.meta as { objectId?: string; bodyId?: string; extraPairs?: SaliencyExtraPair[] };
    const object = meta.objectId ? stimuli.get(meta.objectId) : undefined;
    const body = meta.bodyId ? stimuli.get(meta.bodyId) : undefined;
    const readout = readouts.get(channelId);
    const further = (meta.extraPairs ?? []).map((x) => ({ ...x, img: stimuli.get(x.objectId) }));
    if (!object || !body || !readout || further.some((x) => !x.img)) {
      skip(
        channelId,
        !readout ? "no fitted readout stored" : "its pair's images are not stimuli of the session",
      );
      continue;
    }
    const outDir = join(root, safeName(channelId));
    await mkdir(outDir, { recursive: true });
    try {
      const cut = (img: StimulusRecord, role: "object" | "body", map: string, dir = outDir) =>
        cutParent(img, role, map, channelId, spec, settings, dir);
      const parents: Parent[] = [
        {
          img: object,
          role: "object",
          rank: 0,
          part: await cut(object, "object", join(a.path!, SALIENCY_FILES.outMap)),
        },
        {
          img: body,
          role: "body",
          rank: 0,
          part: await cut(body, "body", join(a.path!, SALIENCY_FILES.inMap)),
        },
      ];
      for (const x of further) {
        const dir = join(outDir, `object-${x.rank}`); // beside the pair's files, which have the same names
        await mkdir(dir, { recursive: true });
        parents.push({
          img: x.img!,
          role: "object",
          rank: x.rank,
          part: await cut(x.img!, "object", join(x.dir, SALIENCY_FILES.outMap), dir),
        });
      }
      pending.push({ channelId, object, body, readout, outDir, parents });
    } catch (e) {
      skip(channelId, (e as Error).message);
    }
  }
  if (pending.length === 0) return outcome;
  const cutsOf = (c: (typeof pending)[number]) => c.parents.flatMap((q) => q.part.cuts);
  const allCuts = pending.flatMap(cutsOf);
  store.insertStimuli(
    sessionId,
    allCuts.map((c) => c.stimulus),
  );
  // 2. Every fragment's features into the cache in one job (the parents' are there since preparing).
  await runComputeJob(
    {
      kind: "features",
      backbone: backboneSpec(ctx),
      featureRoot: featureRoot(ctx),
      images: allCuts.map((c) => image(c.stimulus)),
    },
    computeProgress(ctx),
    signal,
    options.nice,
  );
  // 3. The model's predictions; one artifact per channel, last.
  const weights = store.getSession(sessionId)?.weights_sha256 ?? null;
  for (const c of pending) {
    signal?.throwIfAborted();
    const cuts = cutsOf(c);
    const n = c.parents.length;
    const maps = await cachedFeatures(ctx.config, p, weights, [
      ...c.parents.map((q) => q.img),
      ...cuts.map((x) => x.stimulus),
    ]);
    const predicted = maps ? predict(readoutFromJSON(c.readout), maps) : null;
    const at = (i: number) => (predicted ? predicted[i] : null);
    const fragments: FragmentRecord[] = cuts.map((x, i) => ({ ...x.record, predicted: at(i + n) }));
    const full = spec.kinds.includes("full") ? c.parents.map((q) => q.img.id) : [];
    const artifact: FragmentsArtifactMeta = {
      objectId: c.object.id,
      bodyId: c.body.id,
      parents: c.parents.map((q, i) => ({
        id: q.img.id,
        role: q.role,
        rank: q.rank,
        predicted: at(i),
        area: q.part.area,
        areaFraction: q.part.areaFraction,
        capped: q.part.capped,
        silhouette: q.part.silhouette,
      })),
      fragments,
      stimuli: [...full, ...fragments.map((f) => f.stimulusId)],
      settings,
    };
    store.addArtifact(sessionId, {
      channelId: c.channelId,
      kind: "fragments",
      path: c.outDir,
      meta: artifact,
    });
    // Phase 3 may present them now (controller/day/phase3-parts.ts).
    store.appendEvent(sessionId, FRAGMENTS_READY.type, FRAGMENTS_READY.subtype, {
      channelId: c.channelId,
      stimuli: artifact.stimuli.length,
    });
    outcome.done.push({ channelId: c.channelId, fragments: fragments.length });
    const capped = c.parents.filter((q) => q.part.capped).map((q) => (q.rank ? `${q.img.id}` : q.role));
    log.info(
      `fragments ${c.channelId}: ${fragments.length} of ${c.parents.map((q) => q.img.id).join(", ")}` +
        (capped.length
          ? ` (${capped.join(" and ")} region reduced to ${MAX_SILHOUETTE_SHARE * 100} % of the object's pixels)`
          : ""),
    );
  }
  log.info(
    `fragments: ${outcome.done.length} channel(s) in ${((Date.now() - started) / 1000).toFixed(1)} s, ${outcome.skipped.length} skipped`,
  );
  return outcome;
}
