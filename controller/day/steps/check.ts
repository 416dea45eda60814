// checking: each channel's stability, selectivity, responsiveness, split-half reliability and Kruskal-Wallis
// (analysis/checks, docs/checks.md) on the phase-1 and phase-2 rates; every result and decision stored.
import { checkChannel } from "../../../analysis/checks/channel-checks.ts";
import { byRole } from "../compute-inputs.ts";
import type { StepContext } from "../context.ts";

export function checkStep(ctx: StepContext): void {
  const { store, sessionId, loaded, log } = ctx;
  const p = loaded.protocol;
  const stimuli = store.stimuli(sessionId);
  const controls = new Set(byRole(stimuli, "control").map((s) => s.id));
  const selections = store.selections(sessionId);
  const retestIds = [...new Set(selections.filter((s) => s.rule === "retest").map((s) => s.stimulusId))];
  const r1 = ctx.rates(1);
  const r2 = ctx.rates(2);
  const results = [];
  const decisions = [];
  for (const { id } of store.channels(sessionId)) {
    const mine = selections.filter((s) => s.channelId === id);
    const { results: rs, decision } = checkChannel(
      {
        channelId: id,
        phase1: r1.get(id) ?? new Map(),
        phase2: r2.get(id) ?? new Map(),
        retestIds,
        objectIds: [...new Set(mine.filter((s) => s.rule.endsWith("-object")).map((s) => s.stimulusId))],
        controlIds: [...new Set(mine.filter((s) => controls.has(s.stimulusId)).map((s) => s.stimulusId))],
        seed: p.seed,
      },
      p.checks,
    );
    results.push(...rs);
    decisions.push(decision);
  }
  store.saveChecks(sessionId, results, decisions);
  const kept = decisions.filter((d) => d.included).length;
  log.info(`checks: ${kept} of ${decisions.length} channels kept`);
}
