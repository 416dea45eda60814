// Seeded train / validation / test split of stimulus ids with the protocol's counts (model.split).
// The ids are sorted first, so the split depends only on the set of ids and the seed, not on their order.

import { mulberry32, shuffleInPlace } from "../random.ts";
import { ReadoutError } from "./errors.ts";

export interface SplitCounts {
  train: number;
  validation: number;
  test: number;
}

export interface StimulusSplit {
  train: string[];
  validation: string[];
  test: string[];
  /** Ids beyond the requested counts (not used by the fit). */
  unused: string[];
  /** The same split as indices into the `ids` given (for features and responses in that order). */
  rows: { train: number[]; validation: number[]; test: number[] };
}

export function splitStimuli(ids: readonly string[], counts: SplitCounts, seed: number): StimulusSplit {
  for (const key of ["train", "validation", "test"] as const) {
    const v = counts[key];
    if (!(Number.isInteger(v) && v >= 0)) {
      throw new ReadoutError("EPHYS_BAD_SPLIT", `split.${key}: expected a whole number ≥ 0; found ${v}`);
    }
  }
  const row = new Map<string, number>();
  ids.forEach((id, i) => {
    if (row.has(id))
      throw new ReadoutError("EPHYS_BAD_SPLIT", `ids[${i}]: "${id}" appears twice; expected unique ids`);
    row.set(id, i);
  });
  const need = counts.train + counts.validation + counts.test;
  if (need > ids.length) {
    throw new ReadoutError(
      "EPHYS_BAD_SPLIT",
      `split: train ${counts.train} + validation ${counts.validation} + test ${counts.test} = ${need} images, ` +
        `but only ${ids.length} stimuli are available`,
    );
  }
  const order = shuffleInPlace([...ids].sort(), mulberry32(seed));
  const train = order.slice(0, counts.train);
  const validation = order.slice(counts.train, counts.train + counts.validation);
  const test = order.slice(counts.train + counts.validation, need);
  const toRows = (list: string[]) => list.map((id) => row.get(id)!);
  return {
    train,
    validation,
    test,
    unused: order.slice(need),
    rows: { train: toRows(train), validation: toRows(validation), test: toRows(test) },
  };
}
