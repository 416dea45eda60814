// The day's actors, built once from the daemon's world: each state's work (machine.ts says which state runs which)
// as an xstate actor over the step context (context.ts) and the rig. Tests replace any of them through `steps`.
import { fromPromise } from "xstate";
import type { BoxHandle } from "../rig/box-handle.ts";
import type { StepContext } from "./context.ts";
import type { DayActors, ReportInput, StepInput } from "./machine.ts";
import { type PhaseRig, phaseActor } from "./phase.ts";
import { watchRigActor } from "./rig-watch.ts";
import { checkStep } from "./steps/check.ts";
import { explainStep } from "./steps/explain.ts";
import { fitStep } from "./steps/fit.ts";
import { prepareFeatures, prepareStimuli } from "./steps/prepare.ts";
import { reportStep } from "./steps/report.ts";
import { selectStep } from "./steps/select.ts";
import { synthesizedStimuliStep } from "./steps/synthesize.ts";
import { testFragmentsStep } from "./steps/test-fragments.ts";
import { visualizeStep } from "./steps/visualize.ts";

/** The steps a test may replace: each a factory of its actor from the step context. */
export interface DaySteps {
  prepare(ctx: StepContext): DayActors["prepare"];
  fit(ctx: StepContext): DayActors["fit"];
  select(ctx: StepContext): DayActors["select"];
  synthesize(ctx: StepContext): DayActors["synthesize"];
  check(ctx: StepContext): DayActors["check"];
  visualize(ctx: StepContext): DayActors["visualize"];
  explain(ctx: StepContext): DayActors["explain"];
  testFragments(ctx: StepContext): DayActors["testFragments"];
  report(ctx: StepContext): DayActors["report"];
}

export const daySteps: DaySteps = {
  prepare: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      const stimuli = await prepareStimuli(ctx.store, ctx.sessionId, ctx.loaded.path);
      ctx.log.info(`prepared ${stimuli.length} stimuli`);
      await prepareFeatures(ctx, signal);
    }),
  fit: (ctx) => fromPromise<void, StepInput>(({ signal }) => fitStep(ctx, signal)),
  select: (ctx) => fromPromise<void, StepInput>(({ signal }) => selectStep(ctx, signal)),
  synthesize: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      await synthesizedStimuliStep(ctx, signal);
    }),
  check: (ctx) => fromPromise<void, StepInput>(async () => checkStep(ctx)),
  visualize: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      await visualizeStep(ctx, signal);
    }),
  explain: (ctx) =>
    fromPromise<void, StepInput>(async ({ signal }) => {
      await explainStep(ctx, signal);
    }),
  testFragments: (ctx) =>
    fromPromise<void, StepInput>(async () => {
      testFragmentsStep(ctx);
    }),
  report: (ctx) =>
    fromPromise<void, ReportInput>(async ({ input, signal }) => {
      await reportStep(ctx, { outcome: input.outcome, reason: input.reason }, signal);
    }),
};

export interface DayDeps {
  ctx: StepContext;
  rig: PhaseRig;
  /** The rig box, watched for loss (null: no box configured). */
  box: BoxHandle | null;
  steps?: Partial<DaySteps>;
}

export function createDayActors(deps: DayDeps): DayActors {
  const steps = { ...daySteps, ...deps.steps };
  return {
    prepare: steps.prepare(deps.ctx),
    runPhase: phaseActor(deps.ctx, deps.rig),
    fit: steps.fit(deps.ctx),
    select: steps.select(deps.ctx),
    synthesize: steps.synthesize(deps.ctx),
    check: steps.check(deps.ctx),
    visualize: steps.visualize(deps.ctx),
    explain: steps.explain(deps.ctx),
    testFragments: steps.testFragments(deps.ctx),
    report: steps.report(deps.ctx),
    watchRig: watchRigActor(deps.box),
  };
}
