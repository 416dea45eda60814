// Public API of phase-2 selection.
export {
  type Phase2Selection,
  retestRows,
  type SelectionChoice,
  type SelectionCounts,
  type SelectionInput,
  type SelectionRule,
  type StimulusFeatures,
  selectPhase2,
} from "./select.ts";
