// The report's phase-2 numbers, from the rate table and the stored models: each channel's model predictions against
// its recorded responses to the objects shown (Fig. 3a), and its responses to the visualized objects against its
// mean object and mean body responses (Fig. 3b). Pure.
import { type GaussianReadoutJSON, predict, readoutFromJSON } from "../readout/index.ts";
import { meanRates, type RateTable } from "../stats/index.ts";
import type { ReportSource, SourceSelection, SourceStimulus } from "./source.ts";
import type { ReportObjectPredictions, ReportResponses } from "./types.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The objects (role "object") recorded in phase 2 on any channel, in stimulus order. */
export function shownObjects<S extends SourceStimulus>(stimuli: S[], rates2: RateTable): S[] {
  return stimuli.filter(
    (s) => s.role === "object" && [...rates2.values()].some((m) => (m.get(s.id)?.length ?? 0) > 0),
  );
}

/** The readouts among the stored models. */
export function readoutsOf(models: ReportSource["models"]): GaussianReadoutJSON[] {
  return models.filter((m) => m.kind === "gaussian-readout").map((m) => m.params as GaussianReadoutJSON);
}

/** Per channel: model predictions vs phase-2 recorded mean rates for the objects shown in phase 2. */
export function objectPredictions(src: ReportSource): ReportObjectPredictions[] {
  const readouts = readoutsOf(src.models);
  const shown = shownObjects(src.stimuli, src.rates2);
  const ids = shown.map((s) => s.id);
  const cached = cachedPredictions(src.objectFeatures, ids, readouts);
  const out: ReportObjectPredictions[] = [];
  for (const r of readouts) {
    const recorded = meanRates(src.rates2.get(r.channelId), ids);
    const fromCache = cached?.get(r.channelId);
    if (fromCache) {
      const points = ids.flatMap((stimulusId, i) =>
        Number.isFinite(recorded[i]) ? [{ stimulusId, predicted: fromCache[i], recorded: recorded[i] }] : [],
      );
      if (points.length)
        out.push({
          channelId: r.channelId,
          source: "the readout applied to the cached backbone features of every phase-2 object",
          points,
        });
      continue;
    }
    // Without the feature cache: the predicted responses stored with the selection (top and bottom objects).
    const byId = storedObjectScores(src.selections, r.channelId);
    const points = ids.flatMap((stimulusId, i) => {
      const p = byId.get(stimulusId);
      return p !== undefined && Number.isFinite(recorded[i])
        ? [{ stimulusId, predicted: p, recorded: recorded[i] }]
        : [];
    });
    if (points.length)
      out.push({
        channelId: r.channelId,
        source: "predicted responses stored with the phase-2 selection (top and bottom objects)",
        points,
      });
  }
  return out;
}

/** The predicted responses stored with a channel's top and bottom objects. */
function storedObjectScores(selections: SourceSelection[], channelId: string): Map<string, number> {
  const byId = new Map<string, number>();
  for (const c of selections)
    if (
      c.channelId === channelId &&
      (c.rule === "top-object" || c.rule === "bottom-object") &&
      c.score !== null
    )
      byId.set(c.stimulusId, c.score);
  return byId;
}

/** Each readout's predictions for the objects `ids` from their cached features; null when they are not all there. */
function cachedPredictions(
  features: ReportSource["objectFeatures"],
  ids: string[],
  readouts: GaussianReadoutJSON[],
): Map<string, Float32Array> | null {
  if (!features || ids.length === 0 || readouts.length === 0) return null;
  if (features.ids.length !== ids.length || features.ids.some((id, i) => id !== ids[i])) return null;
  try {
    return new Map(readouts.map((r) => [r.channelId, predict(readoutFromJSON(r), features.maps)]));
  } catch {
    return null;
  }
}

/** Fig. 3b data: each channel's visualized objects against its mean object and mean body responses in phase 2. */
export function responses(
  channels: string[],
  stimuli: SourceStimulus[],
  rates2: RateTable,
  visualizedOf: (channelId: string) => string[],
): ReportResponses[] {
  const objects = stimuli.filter((s) => s.category === "object" || s.role === "object");
  const bodies = stimuli.filter((s) => s.category === "body" && s.role !== "object");
  const out: ReportResponses[] = [];
  for (const id of channels) {
    const table = rates2.get(id);
    if (!table) continue;
    const meansOf = (set: SourceStimulus[]) =>
      Array.from(
        meanRates(
          table,
          set.map((s) => s.id),
        ),
      ).filter((v) => Number.isFinite(v));
    const o = meansOf(objects);
    const b = meansOf(bodies);
    const visualized = visualizedOf(id).flatMap((sid) => {
      const xs = table.get(sid);
      return xs?.length ? [{ stimulusId: sid, rate: mean(xs) }] : [];
    });
    out.push({
      channelId: id,
      visualized,
      meanObject: o.length ? mean(o) : null,
      meanBody: b.length ? mean(b) : null,
      nObjects: o.length,
      nBodies: b.length,
    });
  }
  return out;
}
