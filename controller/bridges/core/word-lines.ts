// The checks every bridge's channel map makes on its digital lines: no line used twice (event word, strobe,
// photodiode), and two bytes per code only with a strobe to tell them apart. Issues go to the map's zod context.
import type { z } from "zod";

export interface WordLines {
  eventLines: readonly number[];
  strobeLine?: number;
  wordBytes: 1 | 2;
  photodiodeLine?: number;
}

export function checkWordLines(m: WordLines, ctx: z.RefinementCtx): void {
  const seen = new Map<number, string>();
  const claim = (l: number, what: string, path: Array<string | number>) => {
    const prior = seen.get(l);
    if (prior)
      ctx.addIssue({ code: "custom", path, input: l, message: `a line not already used as ${prior}` });
    else seen.set(l, what);
  };
  for (const [i, l] of m.eventLines.entries()) claim(l, "an event line", ["eventLines", i]);
  if (m.strobeLine !== undefined) claim(m.strobeLine, "the strobe line", ["strobeLine"]);
  if (m.wordBytes === 2 && m.strobeLine === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["wordBytes"],
      input: m.wordBytes,
      message: "wordBytes 1, or a strobeLine: two bytes per code are told apart by their strobes",
    });
  if (m.photodiodeLine !== undefined) claim(m.photodiodeLine, "the photodiode line", ["photodiodeLine"]);
}
