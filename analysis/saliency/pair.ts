// The image pair to explain for a channel: among its top recorded out-of-category images (objects) and top
// recorded in-category images (bodies), the pair with the highest neuron-specific similarity s (eq. 2).
import { checkFeatureMaps, extractAtLocation, type FeatureMaps } from "../readout/index.ts";
import { neuronSimilarity } from "../similarity.ts";
import { SaliencyError } from "./errors.ts";
import type { SaliencyReadout } from "./shared-features.ts";

export interface PairCandidates {
  ids: string[];
  /** Features of the images in `ids` order. */
  features: FeatureMaps;
}

export interface BestPair {
  objectId: string;
  bodyId: string;
  objectIndex: number;
  bodyIndex: number;
  s: number;
  /** The ids searched, by recorded response descending. */
  topObjectIds: string[];
  topBodyIds: string[];
}

/** Indices of the `n` largest finite responses (descending; ties: lower index first). */
function topIndices(responses: ArrayLike<number>, n: number): number[] {
  return Array.from({ length: responses.length }, (_, i) => i)
    .filter((i) => Number.isFinite(responses[i]))
    .sort((a, b) => responses[b] - responses[a] || a - b)
    .slice(0, n);
}

/**
 * The (object, body) pair with the highest s among the top `topObjects` objects × top `topBodies` bodies by recorded
 * response (NaN = not recorded, skipped). Ties: the higher-ranked object, then body. Throws EPHYS_NO_PAIR when a side
 * has no recorded image.
 */
export function bestPair(
  readout: SaliencyReadout,
  objects: PairCandidates,
  bodies: PairCandidates,
  responses: { objects: ArrayLike<number>; bodies: ArrayLike<number> },
  topObjects = 5,
  topBodies = 15,
): BestPair {
  for (const [what, set, r] of [
    ["objects", objects, responses.objects],
    ["bodies", bodies, responses.bodies],
  ] as const) {
    checkFeatureMaps(set.features, `${what}.features`);
    if (set.ids.length !== set.features.n || r.length !== set.ids.length) {
      throw new SaliencyError(
        "EPHYS_BAD_SALIENCY",
        `${what}: expected as many ids, feature rows and responses; found ${set.ids.length}, ${set.features.n} and ${r.length}`,
      );
    }
  }
  const oi = topIndices(responses.objects, topObjects);
  const bi = topIndices(responses.bodies, topBodies);
  if (oi.length === 0 || bi.length === 0) {
    throw new SaliencyError(
      "EPHYS_NO_PAIR",
      `no pair to explain: ${oi.length} recorded object(s) and ${bi.length} recorded body image(s); expected ≥ 1 of each`,
    );
  }
  const aObj = extractAtLocation(objects.features, readout.location);
  const aBody = extractAtLocation(bodies.features, readout.location);
  const c = objects.features.c;
  let best = { o: oi[0], b: bi[0], s: Number.NEGATIVE_INFINITY };
  for (const o of oi) {
    for (const b of bi) {
      const s = neuronSimilarity(
        aObj.subarray(o * c, (o + 1) * c),
        aBody.subarray(b * c, (b + 1) * c),
        readout.weights,
      );
      if (s > best.s) best = { o, b, s };
    }
  }
  return {
    objectId: objects.ids[best.o],
    bodyId: bodies.ids[best.b],
    objectIndex: best.o,
    bodyIndex: best.b,
    s: best.s,
    topObjectIds: oi.map((i) => objects.ids[i]),
    topBodyIds: bi.map((i) => bodies.ids[i]),
  };
}
