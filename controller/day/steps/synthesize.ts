// synthesizing (and `ephysloop optvis`): images synthesized on each channel's model (feature visualization, a
// worker thread), one "optvis" artifact per channel; with selection.synthesized = k > 0 the top k of each channel
// join phase 2 as stimuli of their own.
import { join } from "node:path";
import { type SynthesisSettings, synthesisSettings } from "../../../analysis/optvis/index.ts";
import type { GaussianReadoutJSON } from "../../../analysis/readout/index.ts";
import { resolvePaths } from "../../../config/index.ts";
import { sha256File } from "../../../stimuli/index.ts";
import {
  type OptvisArtifactMeta,
  type OptvisChannelJob,
  type OptvisMessage,
  type OptvisSummary,
  runOptvisJob,
} from "../../compute/optvis-job.ts";
import { backboneSpec } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";

export interface SynthesizeOptions {
  /** Only these channels (default: every channel with a fitted readout). */
  channels?: string[];
  /** Overrides of the protocol's synthesis settings. */
  settings?: Partial<SynthesisSettings>;
  /** Every worker message (progress included), e.g. for a progress bar. */
  onMessage?: (m: Exclude<OptvisMessage, { type: "done" | "error" }>) => void;
}

export interface SynthesizeOutcome {
  settings: SynthesisSettings;
  engine: string;
  done: Array<{ channelId: string; artifactId: number; dir: string; summary: OptvisSummary }>;
  skipped: Array<{ channelId: string; reason: string }>;
}

/** Channel ids become folder names: keep them to a safe alphabet. */
export const safeName = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, "_");

/** The session's synthesis settings: the protocol's (model.imageSize as the size), then `overrides`. */
export function sessionSynthesisSettings(
  ctx: StepContext,
  overrides: Partial<SynthesisSettings> = {},
): Partial<SynthesisSettings> {
  const p = ctx.loaded.protocol;
  const { seed, ...synthesis } = p.synthesis ?? {};
  return { size: p.model.imageSize, seed: seed ?? p.seed, ...synthesis, ...overrides };
}

/**
 * Synthesize images for the session's channels (all with a fitted readout, or `options.channels`); one "optvis"
 * artifact per channel. The caller decides whether they become stimuli (addSynthesizedStimuli).
 */
export async function synthesizeStep(
  ctx: StepContext,
  signal?: AbortSignal,
  options: SynthesizeOptions = {},
): Promise<SynthesizeOutcome> {
  const { store, sessionId, log } = ctx;
  const settings = synthesisSettings(sessionSynthesisSettings(ctx, options.settings));
  const readouts = new Map(
    store
      .models(sessionId)
      .filter((m) => m.kind === "gaussian-readout")
      .map((m) => [m.channelId, m.params as GaussianReadoutJSON]),
  );
  const outcome: SynthesizeOutcome = { settings, engine: "", done: [], skipped: [] };
  const wanted = options.channels ?? [...readouts.keys()];
  const run = `run-${new Date().toISOString().replace(/[-:.]/g, "").replace("T", "-").slice(0, 15)}`;
  const root = join(resolvePaths(ctx.config).dataDir, "sessions", sessionId, "optvis", run);
  const channels: OptvisChannelJob[] = [];
  for (const channelId of wanted) {
    const readout = readouts.get(channelId);
    if (!readout) {
      outcome.skipped.push({ channelId, reason: "no fitted readout stored" });
      store.appendEvent(sessionId, "optvis", "channel-skipped", { channelId, reason: "no fitted readout" });
      continue;
    }
    channels.push({ channelId, readout, outDir: join(root, safeName(channelId)) });
  }
  if (channels.length === 0) return outcome;
  const started = Date.now();
  let lastLog = 0;
  await runOptvisJob(
    { backbone: backboneSpec(ctx), settings, channels },
    (m) => {
      options.onMessage?.(m);
      if (m.type === "engine") {
        outcome.engine = m.summary;
        log.info(`optvis: ${channels.length} channel(s), ${settings.steps} steps each, on ${m.summary}`);
      } else if (m.type === "progress") {
        if (Date.now() - lastLog < 5000) return;
        lastLog = Date.now();
        store.appendEvent(sessionId, "progress", "optvis", {
          channelId: m.channelId,
          index: m.index,
          total: m.total,
          step: m.progress.step,
          steps: m.progress.steps,
          value: m.progress.value,
        });
      } else {
        const s = m.summary;
        const meta: OptvisArtifactMeta = {
          objective: s.objective,
          engine: s.engine,
          steps: s.settings.steps,
          seed: s.settings.seed,
          images: s.images.map(({ rank, file, predicted }) => ({ rank, file, predicted })),
          seconds: s.seconds,
        };
        const artifactId = store.addArtifact(sessionId, {
          channelId: m.channelId,
          kind: "optvis",
          path: m.dir,
          meta,
        });
        outcome.done.push({ channelId: m.channelId, artifactId, dir: m.dir, summary: s });
        log.info(
          `optvis ${m.channelId}: predicted ${s.images.map((i) => i.predicted.toFixed(1)).join(", ")} in ${s.seconds.toFixed(0)} s`,
        );
      }
    },
    signal,
  );
  log.info(`optvis: ${outcome.done.length} channel(s) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return outcome;
}

/**
 * The protocol option selection.synthesized = k > 0, run after the phase-2 selection: max(k, synthesis.images)
 * images per channel, the top k of each added to phase 2. Nothing when k = 0, or when an earlier run of the step
 * (before a restart) already added them. The animal waits meanwhile: the cost is synthesis.steps optimization
 * steps per channel (bench:optvis).
 */
export async function synthesizedStimuliStep(ctx: StepContext, signal?: AbortSignal): Promise<string[]> {
  const k = ctx.loaded.protocol.selection.synthesized;
  if (k === 0) return [];
  if (ctx.store.selections(ctx.sessionId).some((s) => s.rule === "synthesized")) return [];
  const images = Math.max(k, ctx.loaded.protocol.synthesis?.images ?? 1);
  const outcome = await synthesizeStep(ctx, signal, { settings: { images } });
  const ids = await addSynthesizedStimuli(ctx, outcome, k);
  ctx.log.info(`phase 2: ${ids.length} synthesized stimuli added (${k} per channel)`);
  return ids;
}

/** Stimulus id of a channel's synthesized image of a given rank. */
export const synthesizedId = (channelId: string, rank: number) =>
  `synthesized/${safeName(channelId)}-${rank}`;

/**
 * The top `perChannel` synthesized images of each channel become stimuli of the session (role and category
 * "synthesized", set "synthesized") and phase-2 selections of their channel (rule "synthesized", score = the
 * predicted response). Returns the stimulus ids added.
 */
export async function addSynthesizedStimuli(
  ctx: StepContext,
  outcome: SynthesizeOutcome,
  perChannel: number,
): Promise<string[]> {
  const { store, sessionId } = ctx;
  const stimuli = [];
  const choices = [];
  for (const d of outcome.done) {
    for (const im of d.summary.images.filter((i) => i.rank <= perChannel)) {
      const path = join(d.dir, im.file);
      const id = synthesizedId(d.channelId, im.rank);
      stimuli.push({
        id,
        setId: "synthesized",
        category: "synthesized",
        role: "synthesized",
        path,
        sha256: await sha256File(path),
      });
      choices.push({ channelId: d.channelId, stimulusId: id, rule: "synthesized", score: im.predicted });
    }
  }
  store.insertStimuli(sessionId, stimuli);
  store.saveSelections(sessionId, choices);
  store.appendEvent(sessionId, "optvis", "stimuli-added", { count: stimuli.length, perChannel });
  return stimuli.map((s) => s.id);
}
