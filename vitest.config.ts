import { defineConfig } from "vitest/config";

// Three projects: `unit` (pure functions, parsers, single components; seconds), `integration` (suites that start
// daemons, browsers, child processes, pseudo-terminals or long fits: *.int.test.ts and *.slow.test.ts) and
// `realtime` (integration suites that judge wall-clock timing: after the others, one at a time).
// `npm test` (CI) runs all three; `npm run test:unit` runs the fast ones alone during work.
const REALTIME = ["test/firmware/rigbox-day.int.test.ts", "test/controller/openephys-emulator.int.test.ts"];

export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.int.test.ts", "test/**/*.slow.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.int.test.ts", "test/**/*.slow.test.ts"],
          exclude: REALTIME,
        },
      },
      {
        // Suites that judge wall-clock timing against simulated hardware (the rig box firmware in simavr, the
        // emulated Open Ephys GUI's IPC words): run after the others, one at a time, with the machine to themselves.
        // Beside another heavy suite on 2 cores, simavr falls behind the wall clock and the timing they measure is
        // the neighbour's, not the code's (CI: 21 of 40 photodiode onsets within 5 ms beside a day of phase 3).
        extends: true,
        test: { name: "realtime", include: REALTIME, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
