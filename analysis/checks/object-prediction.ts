// Does a channel's model predict objects? Pearson r between the model's predicted responses to the objects shown in
// phase 2 and the recorded ones (the mean net rate per object over its phase-2 repeats), with its two-sided p and
// the critical r at p < 0.05 for that many objects (Lappe et al. 2024, Fig. 3a). It gates the shared-feature maps
// (protocol visualization.minObjectR; the paper visualizes channels with object r > 0.4): a model that does not
// predict objects says nothing about why objects drive the site. Every channel records every phase-2 stimulus, so
// the objects are all those shown in phase 2 with data on the channel, not only the ones chosen for it.
import { criticalR } from "../report/index.ts";
import { pearson } from "../stats/index.ts";

export interface ObjectPrediction {
  /** null with fewer than 3 objects or a constant side (then `note` says which). */
  r: number | null;
  p: number | null;
  n: number;
  /** |r| above which p < 0.05 (two-sided) for n objects; null below 3. */
  criticalR: number | null;
  note: string;
}

export function objectPrediction(points: Array<{ predicted: number; recorded: number }>): ObjectPrediction {
  const n = points.length;
  if (n < 3)
    return {
      r: null,
      p: null,
      n,
      criticalR: null,
      note: `${n} object${n === 1 ? "" : "s"} recorded in phase 2: too few for a correlation (needs 3)`,
    };
  const c = pearson(
    points.map((q) => q.predicted),
    points.map((q) => q.recorded),
  );
  if (c.constantInput)
    return { r: null, p: null, n, criticalR: criticalR(n), note: "constant predictions or recordings" };
  return { r: c.r, p: c.p, n, criticalR: criticalR(n), note: "" };
}

/** Whether a channel's object prediction clears `minObjectR`, and if not, why (for the skip reason). */
export function objectPredictionGate(
  o: ObjectPrediction,
  minObjectR: number,
): { passed: boolean; reason: string } {
  if (o.r === null)
    return { passed: false, reason: `the model's object prediction cannot be judged (${o.note})` };
  if (o.r > minObjectR) return { passed: true, reason: "" };
  return {
    passed: false,
    reason:
      `its model does not predict the phase-2 objects: r = ${o.r.toFixed(2)} over ${o.n} objects, ` +
      `expected r > ${minObjectR} (visualization.minObjectR)`,
  };
}
