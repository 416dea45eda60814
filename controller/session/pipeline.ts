// The work of each step of the day, as promise actors built from the daemon's context.
import { fromPromise } from "xstate";
import type { Config } from "../../config/index.ts";
import type { LoadedProtocol } from "../../protocols/load.ts";
import type { Logger } from "../log.ts";
import type { SessionStore } from "../store/store.ts";
import { checkStep, fitStep, selectStep } from "./between-phases.ts";
import type { StepInput } from "./machine.ts";
import { synthesizedStimuliStep } from "./optvis.ts";
import { prepareFeatures, prepareStimuli } from "./prepare.ts";
import { reportStep } from "./report-step.ts";
import { visualizeStep } from "./visualize.ts";

export interface StepContext {
  store: SessionStore;
  sessionId: string;
  loaded: LoadedProtocol;
  config: Config;
  log: Logger;
}

export type StepFactory = (ctx: StepContext) => ReturnType<typeof fromPromise<void, StepInput>>;

export interface PipelineSteps {
  prepare: StepFactory;
  fit: StepFactory;
  select: StepFactory;
  check: StepFactory;
  visualize: StepFactory;
  report: StepFactory;
}

export const pipelineSteps: PipelineSteps = {
  prepare: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      const stimuli = await prepareStimuli(ctx.store, ctx.sessionId, ctx.loaded.path);
      ctx.log.info(`prepared ${stimuli.length} stimuli`);
      await prepareFeatures(ctx, signal);
    }),
  fit: (ctx) => fromPromise<void, StepInput>(({ signal }) => fitStep(ctx, signal)),
  select: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      await selectStep(ctx, signal);
      // selection.synthesized > 0: each channel's top synthesized images join phase 2 (role "synthesized").
      await synthesizedStimuliStep(ctx, signal);
    }),
  check: (ctx) => fromPromise<void, StepInput>(async () => checkStep(ctx)),
  visualize: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      await visualizeStep(ctx, signal);
    }),
  report: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      // The actor starts inside the transition; let the daemon persist "reporting" first so the report says so.
      await new Promise((r) => setImmediate(r));
      await reportStep(ctx, signal); // logs the report's path
    }),
};
