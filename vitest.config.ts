import { defineConfig } from "vitest/config";

// Two projects: `unit` (pure functions, parsers, single components; seconds) and `integration` (suites that start
// daemons, browsers, child processes, pseudo-terminals or long fits: *.int.test.ts and *.slow.test.ts).
// `npm test` (CI) runs both; `npm run test:unit` runs the fast ones alone during work.
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
        test: { name: "integration", include: ["test/**/*.int.test.ts", "test/**/*.slow.test.ts"] },
      },
    ],
  },
});
