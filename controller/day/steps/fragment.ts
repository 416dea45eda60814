// Phase 3's fragments (the causal test of the explanation; run by the explain step, steps/explain.ts, round by
// round as channels' maps are stored, while phase 3 presents the channels already cut): for each channel with
// shared-feature maps (the visualize step's "saliency" artifacts), its object and its body cut along their maps
// (and, with phase3.topObjects, its next recorded objects along their own pairs' maps, in subfolders
// object-<rank>/) — the highlighted fragment (only the most salient region visible, the rest the display's grey),
// its complement (that region greyed out) and random fragments (a region of the same area and shape placed at random
// on the image's own silhouette; fragment-cut.ts, in a worker thread) — written as PNGs of the model's input size,
// hashed into the session as stimuli (set "fragments", role "fragment", the parent's category), their backbone
// features computed into the cache and the channel's model's prediction for each stored: one artifact of kind
// "fragments" per channel, written last, so that a restart redoes only channels without one (and their files come
// out byte for byte the same: every choice is seeded); after each artifact the FRAGMENTS_READY event, on which
// phase 3 takes the channel's stimuli as its next part (phase3-parts.ts).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type GaussianReadoutJSON, predict, readoutFromJSON } from "../../../analysis/readout/index.ts";
import { resolvePaths } from "../../../config/index.ts";
import { SALIENCY_FILES } from "../../commands/saliency.ts";
import { runComputeJob } from "../../compute/compute-jobs.ts";
import type { StimulusRecord } from "../../store/store.ts";
import { backboneSpec, computeProgress, featureRoot, image } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";
import { cachedFeatures } from "../object-predictions.ts";
import { FRAGMENTS_READY, phase3PartIds } from "../phase3-parts.ts";
import {
  type CutParent,
  type CutRequest,
  cutInWorker,
  type FragmentRecord,
  type FragmentSettings,
  MAX_SILHOUETTE_SHARE,
} from "./fragment-cut.ts";
import { safeName } from "./synthesize.ts";
import type { SaliencyExtraPair } from "./visualize.ts";

// The cut itself (pure of the store, run in a worker) and its records: fragment-cut.ts.
export {
  type Cut,
  type CutParent,
  cutParent,
  type FragmentRecord,
  type FragmentSettings,
  MAX_SILHOUETTE_SHARE,
} from "./fragment-cut.ts";

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
  settings: FragmentSettings;
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
  return [...new Set(phase3PartIds(ctx.store, ctx.sessionId).flat())];
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
  const settings: FragmentSettings = {
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
  // 1. Cut every channel's pair (seeded: a restart writes the same files), in a worker thread: phase 3 presents
  // meanwhile on this thread's loop.
  interface Parent {
    img: StimulusRecord;
    role: "object" | "body";
    rank: number;
    part: CutParent;
  }
  interface Planned {
    channelId: string;
    object: StimulusRecord;
    body: StimulusRecord;
    readout: GaussianReadoutJSON;
    outDir: string;
    parents: Array<Omit<Parent, "part"> & { request: number }>;
  }
  const planned: Planned[] = [];
  const requests: CutRequest[] = [];
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
    const request = (parent: StimulusRecord, role: "object" | "body", mapPath: string, dir = outDir) =>
      requests.push({ parent, role, mapPath, channelId, outDir: dir }) - 1;
    const parents: Planned["parents"] = [
      {
        img: object,
        role: "object",
        rank: 0,
        request: request(object, "object", join(a.path!, SALIENCY_FILES.outMap)),
      },
      {
        img: body,
        role: "body",
        rank: 0,
        request: request(body, "body", join(a.path!, SALIENCY_FILES.inMap)),
      },
    ];
    for (const x of further) {
      const dir = join(outDir, `object-${x.rank}`); // beside the pair's files, which have the same names
      await mkdir(dir, { recursive: true });
      parents.push({
        img: x.img!,
        role: "object",
        rank: x.rank,
        request: request(x.img!, "object", join(x.dir, SALIENCY_FILES.outMap), dir),
      });
    }
    planned.push({ channelId, object, body, readout, outDir, parents });
  }
  const cut = requests.length
    ? await cutInWorker({ spec, settings, parents: requests }, signal, options.nice)
    : [];
  const pending: Array<Omit<Planned, "parents"> & { parents: Parent[] }> = [];
  for (const c of planned) {
    const failed = c.parents.map((q) => cut[q.request]).find((r) => r instanceof Error);
    if (failed) {
      skip(c.channelId, failed.message);
      continue;
    }
    pending.push({
      ...c,
      parents: c.parents.map(({ request, ...q }) => ({ ...q, part: cut[request] as CutParent })),
    });
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
