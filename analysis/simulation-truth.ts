// A simulated day's ground truth against what the day recovered (the report's truth appendix and truth.csv).
//
// The virtual rig's neurons are known (controller/simulate/neurons.ts writes them as a SimulationTruth): a readout
// location, weights w, and for every stimulus the drive a(x)·w at that location and the similarity s(x, top body)
// to the neuron's own best body (eq. 2 with the true w). Per channel this compares:
//   location error  ‖μ_fit − μ_true‖ in the feature map's [−1, 1] grid (a pixel step is 2/(W − 1): 1/3 on 7×7),
//   weight cosine   cos(w_fit, w_true) (the model's weights are in spikes/s per feature, the truth's a unit vector:
//                   the cosine is what can be compared),
//   selection hits  for each selection rule, how many of the stimuli chosen for the channel an oracle that knows
//                   the neuron would also have chosen: the `k` stimuli of the rule's pool with the highest (top-*)
//                   or lowest (bottom-*) true drive, or the highest true similarity to the neuron's top body
//                   (similar-*). The drive, not the rate, ranks: the rate's rectification ties every stimulus below
//                   threshold at the baseline. Chance: a rule choosing k of N expects k²/N hits.

/** One simulated neuron (thumbnail neurons have no readout: location, weights and similarity are null). */
export interface TrueNeuron {
  channelId: string;
  /** The channel's index on the simulated probe (neuron k's seed is protocol seed × 1000 + k + 1). */
  index: number;
  seed: number;
  selective: boolean;
  unstable: boolean;
  location: [number, number] | null;
  weights: number[] | null;
  gain: number | null;
  baselineRate: number;
  /** The phase-1 stimulus with the highest drive: the oracle's reference for the similar-* rules. */
  topBody: string | null;
  /** a(x)·w per stimulus (SimulationTruth.stimuli order); the rate for thumbnail neurons. */
  drive: number[];
  /** s(x, topBody) with the true w at the true location, per stimulus. */
  similarity: number[] | null;
  /** Expected rate (spikes/s) per stimulus in phase 1. */
  rate: number[];
}

/** The truth's file name in a session's folder (beside report.html), where `ephysloop demo` has the simulator write it. */
export const SIMULATION_TRUTH_FILE = "simulation-truth.json";

export interface SimulationTruth {
  format: "ephysloop-simulation-truth";
  version: 1;
  /** sha256 of the protocol text the simulator ran (the report checks it against the session's). */
  protocolSha256?: string;
  kind: "backbone" | "thumbnail";
  seed: number;
  receptiveFieldExtent: number;
  /** Rate above baseline outside the neuron's category, as a fraction of what its drive alone gives. */
  objectGain?: number;
  /** Stimulus ids (set/id), the order of every per-stimulus array. */
  stimuli: string[];
  neurons: TrueNeuron[];
}

export interface FittedReadout {
  channelId: string;
  location: [number, number];
  weights: ArrayLike<number>;
}

export interface ChosenStimulus {
  channelId: string;
  stimulusId: string;
  rule: string;
}

export type TruthRule =
  | "top-object"
  | "bottom-object"
  | "similar-object"
  | "top-control"
  | "bottom-control"
  | "similar-control";

export const TRUTH_RULES: readonly TruthRule[] = [
  "top-object",
  "bottom-object",
  "similar-object",
  "top-control",
  "bottom-control",
  "similar-control",
];

export interface RuleHits {
  rule: TruthRule;
  chosen: number;
  hits: number;
  /** Stimuli the rule chose from. */
  pool: number;
  /** Hits expected of a random choice: chosen² / pool. */
  chance: number;
}

export interface ChannelTruth {
  channelId: string;
  selective: boolean;
  unstable: boolean;
  trueLocation: [number, number] | null;
  fittedLocation: [number, number] | null;
  locationError: number | null;
  weightCosine: number | null;
  selectionHits: number;
  selectionTotal: number;
  chanceHits: number;
  rules: RuleHits[];
}

export interface TruthComparison {
  kind: SimulationTruth["kind"];
  channels: ChannelTruth[];
  /** Median over channels with a readout (null when none). */
  medianLocationError: number | null;
  medianWeightCosine: number | null;
  selectionHits: number;
  selectionTotal: number;
  chanceHits: number;
}

export class TruthError extends Error {
  readonly code = "EPHYS_BAD_TRUTH";
  constructor(message: string) {
    super(message);
    this.name = "TruthError";
  }
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** The `k` pool stimuli with the highest (or lowest) score; ties broken by id, as the selection does. */
function oracle(pool: string[], score: (id: string) => number, k: number, highest: boolean): Set<string> {
  const sorted = [...pool].sort((a, b) => {
    const d = highest ? score(b) - score(a) : score(a) - score(b);
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  return new Set(sorted.slice(0, k));
}

/** Checks the shape of a truth read from a file; throws TruthError naming the field and what was expected. */
export function checkTruth(truth: SimulationTruth): void {
  const bad = (field: string, expected: string, found: unknown): never => {
    throw new TruthError(
      `simulation truth: ${field}: expected ${expected}; found ${JSON.stringify(found)?.slice(0, 60)}`,
    );
  };
  if (truth?.format !== "ephysloop-simulation-truth")
    bad("format", '"ephysloop-simulation-truth"', truth?.format);
  if (truth.version !== 1) bad("version", "1", truth.version);
  if (!Array.isArray(truth.stimuli)) bad("stimuli", "an array of stimulus ids", truth.stimuli);
  if (!Array.isArray(truth.neurons)) bad("neurons", "an array", truth.neurons);
  const n = truth.stimuli.length;
  truth.neurons.forEach((u, i) => {
    if (typeof u.channelId !== "string") bad(`neurons[${i}].channelId`, "a string", u.channelId);
    for (const key of ["drive", "rate", "similarity"] as const) {
      const v = u[key];
      if (v === null && key === "similarity") continue;
      if (!Array.isArray(v) || v.length !== n)
        bad(`neurons[${i}].${key}`, `${n} numbers (one per stimulus)`, v?.length);
    }
    if (u.location !== null && !(Array.isArray(u.location) && u.location.length === 2))
      bad(`neurons[${i}].location`, "[x, y] or null", u.location);
  });
}

/**
 * Each neuron of `truth` against the day's fitted readout and phase-2 choices for its channel. `pools` are the
 * stimulus ids each rule chose from (objects for *-object, control bodies for *-control).
 */
export function compareWithTruth(
  truth: SimulationTruth,
  readouts: FittedReadout[],
  chosen: ChosenStimulus[],
  pools: { objects: string[]; controls: string[] },
): TruthComparison {
  checkTruth(truth);
  const row = new Map(truth.stimuli.map((id, i) => [id, i]));
  for (const [name, pool] of Object.entries(pools))
    for (const id of pool)
      if (!row.has(id))
        throw new TruthError(`pools.${name}: "${id}" is not a stimulus of the simulation truth`);
  const byChannel = new Map(readouts.map((r) => [r.channelId, r]));
  const channels = truth.neurons.map((u): ChannelTruth => {
    const fit = byChannel.get(u.channelId) ?? null;
    const locationError =
      fit && u.location ? Math.hypot(fit.location[0] - u.location[0], fit.location[1] - u.location[1]) : null;
    const weightCosine =
      fit && u.weights && fit.weights.length === u.weights.length ? cosine(fit.weights, u.weights) : null;
    const rules = TRUTH_RULES.flatMap((rule): RuleHits[] => {
      const mine = chosen
        .filter((c) => c.channelId === u.channelId && c.rule === rule)
        .map((c) => c.stimulusId);
      if (mine.length === 0) return [];
      const pool = rule.endsWith("-object") ? pools.objects : pools.controls;
      const similar = rule.startsWith("similar-");
      const values = similar ? u.similarity : u.drive;
      if (!values) return [];
      const best = oracle(pool, (id) => values[row.get(id)!], mine.length, !rule.startsWith("bottom-"));
      return [
        {
          rule,
          chosen: mine.length,
          hits: mine.filter((id) => best.has(id)).length,
          pool: pool.length,
          chance: pool.length ? (mine.length * mine.length) / pool.length : 0,
        },
      ];
    });
    return {
      channelId: u.channelId,
      selective: u.selective,
      unstable: u.unstable,
      trueLocation: u.location,
      fittedLocation: fit?.location ?? null,
      locationError,
      weightCosine,
      selectionHits: rules.reduce((s, r) => s + r.hits, 0),
      selectionTotal: rules.reduce((s, r) => s + r.chosen, 0),
      chanceHits: rules.reduce((s, r) => s + r.chance, 0),
      rules,
    };
  });
  const errors = channels.flatMap((c) => (c.locationError === null ? [] : [c.locationError]));
  const cosines = channels.flatMap((c) => (c.weightCosine === null ? [] : [c.weightCosine]));
  return {
    kind: truth.kind,
    channels,
    medianLocationError: median(errors),
    medianWeightCosine: median(cosines),
    selectionHits: channels.reduce((s, c) => s + c.selectionHits, 0),
    selectionTotal: channels.reduce((s, c) => s + c.selectionTotal, 0),
    chanceHits: channels.reduce((s, c) => s + c.chanceHits, 0),
  };
}

const csvNumber = (v: number | null, digits = 4) =>
  v === null || !Number.isFinite(v) ? "" : v.toFixed(digits);

/** truth.csv: one row per channel (empty cells where the truth has no readout). */
export function truthCsv(c: TruthComparison): string {
  const head = [
    "channel",
    "location_error",
    "weight_cosine",
    "selection_hits",
    "selection_total",
    "selection_chance",
    "true_x",
    "true_y",
    "fitted_x",
    "fitted_y",
    "selective",
    "unstable",
    ...TRUTH_RULES.map((r) => `${r.replace("-", "_")}_hits`),
  ];
  const rows = c.channels.map((ch) => [
    ch.channelId,
    csvNumber(ch.locationError),
    csvNumber(ch.weightCosine),
    String(ch.selectionHits),
    String(ch.selectionTotal),
    csvNumber(ch.chanceHits, 3),
    csvNumber(ch.trueLocation?.[0] ?? null),
    csvNumber(ch.trueLocation?.[1] ?? null),
    csvNumber(ch.fittedLocation?.[0] ?? null),
    csvNumber(ch.fittedLocation?.[1] ?? null),
    String(ch.selective),
    String(ch.unstable),
    ...TRUTH_RULES.map((r) => {
      const h = ch.rules.find((x) => x.rule === r);
      return h ? `${h.hits}/${h.chosen}` : "";
    }),
  ]);
  return `${[head, ...rows].map((r) => r.map((v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(",")).join("\n")}\n`;
}
