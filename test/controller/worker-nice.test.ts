// Phase 3's compute threads run below the daemon's own (controller/compute/ts-worker.mjs, workerData.__nice): on
// Linux the nice value is the thread's, so the worker's is raised, the threads it starts inherit it, and the main
// thread (trials, the rig box, spike data) keeps its own.
import { getPriority } from "node:os";
import { describe, expect, it } from "vitest";
import { runWorkerJob } from "../../controller/compute/worker-job.ts";

const job = new URL("./worker-nice.job.ts", import.meta.url);
const report = (data: object) =>
  runWorkerJob<{ own: number; nested: number }, { own: number; nested: number }>(job, data, (m, o) =>
    o.resolve(m),
  );

describe.runIf(process.platform === "linux")("a worker's nice value", () => {
  it("is raised to __nice for the worker and the threads it starts, not for the main thread", async () => {
    const main = getPriority(0);
    const want = Math.max(main, 10);
    expect(await report({ __nice: 10 })).toEqual({ own: want, nested: want });
    expect(getPriority(0)).toBe(main);
    // Without __nice the worker runs as the main thread does.
    expect(await report({})).toEqual({ own: main, nested: main });
  });
});
