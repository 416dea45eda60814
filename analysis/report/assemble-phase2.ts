// The phase-2 selection as the report shows it: each channel's chosen images with the rule, the stored score
// (predicted net rate, or similarity s) and the recorded phase-2 mean net rate; the shared retest images; and per
// channel the retest images' phase-1 against phase-2 means with their Pearson r (the stability check's data). Pure.
import { pearson } from "../stats/index.ts";
import type { ReportSource } from "./source.ts";
import type { ReportRetest, ReportSelectedImage, ReportSelection } from "./types.ts";

/** The rules in the order the report lists them (a rule not named here follows, in stored order). */
export const RULE_ORDER = [
  "top-object",
  "bottom-object",
  "similar-object",
  "top-control",
  "bottom-control",
  "similar-control",
  "synthesized",
];

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rank = (rule: string) => {
  const i = RULE_ORDER.indexOf(rule);
  return i < 0 ? RULE_ORDER.length : i;
};

/** Each channel's chosen images (selections of the channel, in rule order) and the retest images; null if none. */
export function selection(src: ReportSource): ReportSelection | null {
  if (src.selections.length === 0) return null;
  const channelIds = [
    ...src.channels.map((c) => c.id),
    ...new Set(
      src.selections
        .map((s) => s.channelId)
        .filter((id) => id !== "*" && !src.channels.some((c) => c.id === id)),
    ),
  ];
  const channels = channelIds.flatMap((channelId) => {
    const rates = src.rates2.get(channelId);
    const images: ReportSelectedImage[] = src.selections
      .map((s, order) => ({ s, order }))
      .filter(({ s }) => s.channelId === channelId && s.rule !== "retest")
      .sort((a, b) => rank(a.s.rule) - rank(b.s.rule) || a.order - b.order)
      .map(({ s }) => {
        const trials = rates?.get(s.stimulusId) ?? [];
        return {
          stimulusId: s.stimulusId,
          rule: s.rule,
          score: s.score,
          recorded: trials.length ? mean(trials) : null,
          trials: trials.length,
          thumbnail: src.thumbnails.get(s.stimulusId) ?? null,
        };
      });
    return images.length ? [{ channelId, images }] : [];
  });
  const seen = new Set<string>();
  const retest = src.selections.flatMap((s) => {
    if (s.rule !== "retest" || seen.has(s.stimulusId)) return [];
    seen.add(s.stimulusId);
    return [
      { stimulusId: s.stimulusId, score: s.score, thumbnail: src.thumbnails.get(s.stimulusId) ?? null },
    ];
  });
  return { channels, retest };
}

/**
 * Per channel, the retest images recorded in both phases: their mean net rates in phase 1 and phase 2, and the
 * Pearson r over them (as the stability check computes it), beside the r the check stored.
 */
export function retest(src: ReportSource): ReportRetest[] {
  const ids = [...new Set(src.selections.filter((s) => s.rule === "retest").map((s) => s.stimulusId))];
  if (ids.length === 0) return [];
  return src.channels.flatMap((c) => {
    const one = src.rates1.get(c.id);
    const two = src.rates2.get(c.id);
    const points = ids.flatMap((stimulusId) => {
      const a = one?.get(stimulusId) ?? [];
      const b = two?.get(stimulusId) ?? [];
      return a.length && b.length ? [{ stimulusId, phase1: mean(a), phase2: mean(b) }] : [];
    });
    if (points.length === 0) return [];
    const corr =
      points.length >= 3
        ? pearson(
            points.map((p) => p.phase1),
            points.map((p) => p.phase2),
          )
        : null;
    const stored = src.checks.find((k) => k.channelId === c.id && k.name === "stability");
    return [
      {
        channelId: c.id,
        points,
        r: corr && !corr.constantInput ? corr.r : null,
        storedR: stored?.value ?? null,
      },
    ];
  });
}
