import { defineConfig } from "vitest/config";

// Unit suites run in parallel forks; suites that start daemons, browsers or ptys are marked *.int.test.ts.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
  },
});
