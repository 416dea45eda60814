// `ephysloop optvis SESSION [--channel ID] [--steps N] [--images N] [--seed N] …`: images synthesized on each
// channel's model (backbone + fitted Gaussian readout) of a stored session, in a worker thread, with a progress bar
// on stderr. Files: <dataDir>/sessions/<id>/optvis/<run>/<channel>/synth-<rank>.png and optvis.json (every
// parameter: seed, steps, learning rate, penalties, parameterization, transforms, objective, engine); each channel
// folder is stored as an "optvis" artifact, which the session report shows. Settings: analysis/optvis defaults <
// the protocol's `synthesis` section < these flags.
import { Presets, SingleBar } from "cli-progress";
import { EphysError } from "../../analysis/errors.ts";
import type { SynthesisSettings } from "../../analysis/optvis/index.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import { stepContext } from "../day/context.ts";
import { type SynthesizeOutcome, synthesizeStep } from "../day/steps/synthesize.ts";
import { createLogger } from "../log.ts";
import { SessionStore } from "../store/store.ts";
import { choiceFlag } from "./flags.ts";
import { sessionRow, storedProtocol } from "./stored-session.ts";

export class OptvisCommandError extends EphysError<"EPHYS_BAD_OPTVIS_COMMAND"> {
  constructor(message: string) {
    super("EPHYS_BAD_OPTVIS_COMMAND", message);
  }
}

/** Command-line flags (strings as commander gives them). */
export interface OptvisFlags {
  channel?: string;
  steps?: string;
  images?: string;
  seed?: string;
  lr?: string;
  l2?: string;
  tv?: string;
  diversity?: string;
  parameterization?: string;
  transforms?: string;
}

function numberFlag(flag: string, raw: string | undefined, ok: (v: number) => boolean, expected: string) {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === "" || !ok(v)) {
    throw new OptvisCommandError(`--${flag}: got ${JSON.stringify(raw)}, expected ${expected}`);
  }
  return v;
}

/** The settings the flags override (each checked; absent flags are left to the protocol and the defaults). */
export function flagSettings(flags: OptvisFlags): Partial<SynthesisSettings> {
  const whole = (v: number) => Number.isInteger(v) && v >= 1;
  const nonNegative = (v: number) => Number.isFinite(v) && v >= 0;
  const out: Partial<SynthesisSettings> = {
    steps: numberFlag("steps", flags.steps, whole, "a whole number of steps ≥ 1"),
    images: numberFlag("images", flags.images, whole, "a whole number of images ≥ 1"),
    seed: numberFlag("seed", flags.seed, Number.isInteger, "an integer"),
    learningRate: numberFlag("lr", flags.lr, (v) => Number.isFinite(v) && v > 0, "a positive learning rate"),
    l2: numberFlag("l2", flags.l2, nonNegative, "a penalty weight ≥ 0"),
    tv: numberFlag("tv", flags.tv, nonNegative, "a penalty weight ≥ 0"),
    diversity: numberFlag("diversity", flags.diversity, nonNegative, "a weight ≥ 0"),
    parameterization: choiceFlag(
      "parameterization",
      flags.parameterization,
      ["fourier", "pixels"] as const,
      OptvisCommandError,
    ),
    transforms: choiceFlag("transforms", flags.transforms, ["standard", "none"] as const, OptvisCommandError),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

export async function optvisCommand(
  config: Config,
  sessionId: string,
  flags: OptvisFlags,
  signal?: AbortSignal,
): Promise<SynthesizeOutcome> {
  const overrides = flagSettings(flags);
  const { dbPath } = resolvePaths(config);
  const store = new SessionStore(dbPath);
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format:
        "optvis |{bar}| {channel} ({index}/{channels}) step {step}/{steps} | objective {value} | ETA {eta_formatted}",
      hideCursor: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  let started = false;
  try {
    const row = sessionRow(store, dbPath, sessionId, OptvisCommandError);
    const readouts = store.models(sessionId).filter((m) => m.kind === "gaussian-readout");
    if (readouts.length === 0) {
      throw new OptvisCommandError(
        `SESSION: ${sessionId} has no fitted readouts; expected a session past its fit`,
      );
    }
    if (flags.channel !== undefined && !readouts.some((m) => m.channelId === flags.channel)) {
      throw new OptvisCommandError(
        `--channel: ${JSON.stringify(flags.channel)} has no fitted readout; expected one of ${readouts.map((m) => m.channelId).join(", ")}`,
      );
    }
    const loaded = storedProtocol(row);
    const log = createLogger({ level: config.logLevel, name: "optvis" });
    return await synthesizeStep(stepContext({ store, sessionId, loaded, config, log }), signal, {
      channels: flags.channel !== undefined ? [flags.channel] : undefined,
      settings: overrides,
      onMessage: (m) => {
        if (m.type !== "progress") return;
        const total = m.total * m.progress.steps;
        const value = m.index * m.progress.steps + m.progress.step;
        const payload = {
          channel: m.channelId,
          index: m.index + 1,
          channels: m.total,
          step: m.progress.step,
          steps: m.progress.steps,
          value: m.progress.value.toFixed(2),
        };
        if (!started) {
          bar.start(total, value, payload);
          started = true;
        } else bar.update(value, payload);
      },
    });
  } finally {
    if (started) bar.stop();
    store.close();
  }
}

/** The `optvis` action: prints one line per channel; errors with a `code` become one line on stderr and exit 1. */
export async function optvisCli(config: Config, sessionId: string, flags: OptvisFlags): Promise<void> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once("SIGINT", onSigint);
  try {
    const outcome = await optvisCommand(config, sessionId, flags, abort.signal);
    for (const d of outcome.done) {
      const best = d.summary.images[0];
      console.log(
        `${d.channelId}  ${d.summary.images.length} image(s), best predicted ${best.predicted.toFixed(2)}  ${d.dir}`,
      );
    }
    for (const s of outcome.skipped) console.log(`${s.channelId}  skipped: ${s.reason}`);
  } catch (e) {
    const err = e as Error & { code?: string };
    console.error(`error${err.code ? ` ${err.code}` : ""}: ${err.message}`);
    process.exitCode = 1;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
