// `ephysloop concepts SESSION`: concept discovery across the session's channels (AlignedCut): the stimuli's backbone
// features brought into the space of the fitted readouts, the normalized cut with the Nyström-like approximation,
// colour concept maps per image and the channel clusters, computed in a worker thread. Files go to
// <dataDir>/sessions/<id>/concepts/ (CONCEPT_FILES) and the folder is stored as an artifact of kind "concepts".
import { Presets, SingleBar } from "cli-progress";
import type { ConceptProgress } from "../../analysis/concepts/index.ts";
import { EphysError } from "../../analysis/errors.ts";
import type { GaussianReadoutJSON } from "../../analysis/readout/index.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import { type ConceptSettings, type ConceptSummary, runConceptJob } from "../compute/concepts-job.ts";
import { backboneSpec } from "../day/compute-inputs.ts";
import { stepContext } from "../day/context.ts";
import { reportDir } from "../day/steps/report.ts";
import { createLogger } from "../log.ts";
import { SessionStore } from "../store/store.ts";
import { wholeFlag } from "./flags.ts";
import { sessionRow, storedProtocol } from "./stored-session.ts";

export class ConceptsCommandError extends EphysError<"EPHYS_BAD_CONCEPTS_COMMAND"> {
  constructor(message: string) {
    super("EPHYS_BAD_CONCEPTS_COMMAND", message);
  }
}

/** Command-line flags (strings as commander gives them). */
export interface ConceptsFlags {
  k?: string;
  gamma?: string;
  m?: string;
  knn?: string;
  concepts?: string;
  reduce?: string;
  seed?: string;
  roles?: string;
  montage?: string;
}

export interface ConceptsOutcome {
  artifactId: number;
  dir: string;
  summary: ConceptSummary;
}

/** Progress of the feature pass, then of each stage of concept discovery. */
export interface ConceptsProgress {
  stage: "features" | ConceptProgress["stage"];
  done: number;
  total: number;
}

const whole = (flag: string, raw: string | undefined, fallback: number, min: number) =>
  wholeFlag(flag, raw, fallback, min, ConceptsCommandError);

/** The settings from the flags (defaults: k 10, γ auto, m 10000, K 10, 6 concepts, UMAP, seed 1). */
export function conceptSettings(flags: ConceptsFlags): ConceptSettings {
  let gamma: number | "auto" = "auto";
  if (flags.gamma !== undefined && flags.gamma !== "auto") {
    gamma = Number(flags.gamma);
    if (!(Number.isFinite(gamma) && gamma > 0))
      throw new ConceptsCommandError(
        `--gamma: got ${JSON.stringify(flags.gamma)}, expected a number > 0 or auto`,
      );
  }
  const reduce = flags.reduce ?? "umap";
  if (reduce !== "umap" && reduce !== "pca")
    throw new ConceptsCommandError(`--reduce: got ${JSON.stringify(reduce)}, expected umap or pca`);
  return {
    k: whole("k", flags.k, 10, 1),
    gamma,
    m: whole("m", flags.m, 10_000, 2),
    knn: whole("knn", flags.knn, 10, 1),
    concepts: whole("concepts", flags.concepts, 6, 1),
    reduce,
    seed: whole("seed", flags.seed, 1, 0),
  };
}

/** Run the concepts job for a stored session and record its folder as a "concepts" artifact. */
export async function conceptsCommand(
  config: Config,
  sessionId: string,
  flags: ConceptsFlags = {},
  options: { signal?: AbortSignal; onProgress?: (p: ConceptsProgress) => void } = {},
): Promise<ConceptsOutcome> {
  const settings = conceptSettings(flags);
  const montageImages = whole("montage", flags.montage, 16, 1);
  const { dbPath, dataDir } = resolvePaths(config);
  const store = new SessionStore(dbPath);
  try {
    const row = sessionRow(store, dbPath, sessionId, ConceptsCommandError);
    const readouts = store
      .models(sessionId)
      .filter((m) => m.kind === "gaussian-readout")
      .map((m) => m.params as GaussianReadoutJSON);
    if (readouts.length === 0)
      throw new ConceptsCommandError(
        `SESSION: ${sessionId} has no fitted readouts; expected a session past its between-phase fit`,
      );
    let stimuli = store.stimuli(sessionId);
    if (flags.roles !== undefined) {
      const roles = flags.roles.split(",").map((r) => r.trim());
      const known = [...new Set(stimuli.map((s) => s.role))];
      const unknown = roles.filter((r) => !known.includes(r));
      if (unknown.length)
        throw new ConceptsCommandError(
          `--roles: ${unknown.join(", ")} not among the session's stimulus roles (${known.join(", ")})`,
        );
      stimuli = stimuli.filter((s) => roles.includes(s.role));
    }
    if (stimuli.length === 0) throw new ConceptsCommandError(`SESSION: ${sessionId} has no stimuli to map`);
    const loaded = storedProtocol(row);
    const log = createLogger({ level: config.logLevel, name: "concepts" });
    const backbone = backboneSpec(stepContext({ store, sessionId, loaded, config, log }));
    const dir = `${reportDir(config, sessionId)}/concepts`;
    const started = Date.now();
    const summary = await runConceptJob(
      {
        backbone,
        featureRoot: `${dataDir}/features`,
        images: stimuli.map((s) => ({ id: s.id, path: s.path, sha256: s.sha256 })),
        readouts: readouts.map((r) => ({ channelId: r.channelId, weights: r.weights, bias: r.bias })),
        settings,
        outDir: dir,
        montageImages,
      },
      (m) =>
        options.onProgress?.({
          stage: m.type === "features" ? "features" : m.stage,
          done: m.done,
          total: m.total,
        }),
      options.signal,
    );
    const artifactId = store.addArtifact(sessionId, {
      kind: "concepts",
      path: dir,
      meta: {
        images: summary.images,
        nodes: summary.nodes,
        channels: summary.channels,
        ...summary.settings,
        concepts: summary.concepts.length,
        channelClusters: summary.channelClusters.length,
        seconds: (Date.now() - started) / 1000,
      },
    });
    store.appendEvent(sessionId, "analysis", "concepts", { artifactId, dir, nodes: summary.nodes });
    return { artifactId, dir, summary };
  } finally {
    store.close();
  }
}

/** The CLI action: a progress bar on stderr, the tables' summary on stdout; coded errors as one line, exit 1. */
export async function conceptsCli(config: Config, sessionId: string, flags: ConceptsFlags): Promise<void> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once("SIGINT", onSigint);
  const bar = new SingleBar(
    { stream: process.stderr, format: "concepts |{bar}| {stage} {value}/{total}", hideCursor: true },
    Presets.shades_classic,
  );
  let stage = "";
  try {
    const out = await conceptsCommand(config, sessionId, flags, {
      signal: abort.signal,
      onProgress: (p) => {
        if (p.stage !== stage) {
          if (stage) bar.stop();
          stage = p.stage;
          bar.start(Math.max(1, p.total), p.done, { stage });
        }
        bar.setTotal(Math.max(1, p.total));
        bar.update(p.done, { stage });
      },
    });
    bar.stop();
    const s = out.summary;
    console.log(
      `${s.nodes} nodes (${s.images} images × ${s.grid[0]}×${s.grid[1]}) in the space of ${s.channels} channels; ` +
        `${s.settings.exact ? "exact" : `Nyström m = ${s.settings.m}, K = ${s.settings.knn}`}, γ = ${Number(s.settings.gamma).toFixed(3)}`,
    );
    for (const c of s.concepts)
      console.log(
        `concept ${c.id}  ${(100 * c.fraction).toFixed(1)} %  rgb(${c.color.join(",")})  channels: ${c.channels.join(" ") || "-"}`,
      );
    console.log(`concepts: ${out.dir}`);
  } catch (e) {
    bar.stop();
    const err = e as Error & { code?: string };
    console.error(`error${err.code ? ` ${err.code}` : ""}: ${err.message}`);
    process.exitCode = 1;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
