// What every step of the day works with: the session's store, its protocol, the config and the log — and each
// phase's rate table (per channel, per stimulus, the per-trial net rates), read from the store once and shared by
// the steps after the phase (fit, select, check, visualize, report) instead of each rebuilding it.
import type { Config } from "../../config/index.ts";
import type { LoadedProtocol } from "../../protocols/index.ts";
import type { Logger } from "../log.ts";
import type { SessionStore } from "../store/store.ts";
import { type RateTable, trialRates } from "./rates.ts";

export interface StepContext {
  store: SessionStore;
  sessionId: string;
  loaded: LoadedProtocol;
  config: Config;
  log: Logger;
  /** The phase's rate table: computed on first use, then kept until forgetRates (a phase that runs again). */
  rates(phase: 1 | 2 | 3): RateTable;
  /** Drops a phase's table: its data are about to change (the phase starts or resumes). */
  forgetRates(phase: 1 | 2 | 3): void;
}

export function stepContext(base: Omit<StepContext, "rates" | "forgetRates">): StepContext {
  const tables = new Map<1 | 2 | 3, RateTable>();
  return {
    ...base,
    rates(phase) {
      let t = tables.get(phase);
      if (!t) {
        t = trialRates(base.store, base.sessionId, base.loaded.protocol, phase);
        tables.set(phase, t);
      }
      return t;
    },
    forgetRates(phase) {
      tables.delete(phase);
    },
  };
}
