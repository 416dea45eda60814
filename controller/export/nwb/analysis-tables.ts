// /analysis: the between-phase decisions as tables.
//   phase2_selections: every (channel, stimulus, rule) the selection chose for phase 2, with its score (the
//     model's predicted response or similarity; NaN when none); channel "*" marks the shared retest subset.
//   readout_splits: the train/validation/test split of the phase-1 stimuli the readouts were fitted on.
import type { SessionStore } from "../../store/store.ts";
import { type Group, H5 } from "./h5.ts";
import { TableWriter } from "./hdmf.ts";

export function writeAnalysisTables(analysis: Group, store: SessionStore, sessionId: string): string[] {
  const written: string[] = [];
  const selections = store.selections(sessionId);
  if (selections.length) {
    const t = new TableWriter(analysis, "phase2_selections", selections.length, {
      description:
        "The stimuli chosen per channel for phase 2 after the phase-1 fit: one row per (channel, stimulus, rule).",
    });
    t.text(
      "channel_id",
      "The channel the stimulus was chosen for; * for the retest subset shown to every channel.",
      selections.map((s) => s.channelId),
    );
    t.text(
      "stimulus_id",
      "The chosen stimulus.",
      selections.map((s) => s.stimulusId),
    );
    t.text(
      "rule",
      "Why it was chosen: top-object, bottom-object, similar-object, top-control, bottom-control, similar-control, retest, synthesized, ...",
      selections.map((s) => s.rule),
    );
    t.numbers(
      "score",
      "The rule's score: predicted response (spikes/s) or model similarity; NaN when the rule has none.",
      Float64Array.from(selections, (s) => s.score ?? Number.NaN),
      H5.f64,
    );
    t.finish();
    written.push("phase2_selections");
  }
  const splits = Object.entries(store.splits(sessionId)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (splits.length) {
    const t = new TableWriter(analysis, "readout_splits", splits.length, {
      description: "The split of the phase-1 stimuli used to fit and test the readouts.",
    });
    t.text(
      "stimulus_id",
      "A phase-1 stimulus.",
      splits.map(([id]) => id),
    );
    t.text(
      "split",
      "train, validation (early stopping) or test (held out; model_test_r in /units).",
      splits.map(([, s]) => s),
    );
    t.finish();
    written.push("readout_splits");
  }
  return written;
}
