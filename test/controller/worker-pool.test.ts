// The generic worker pool: per-worker init, tasks spread over idle workers and answered in their own order,
// coded errors per task, a failed setup, a dead worker failing the pool, and close after the tasks given.
import { describe, expect, it } from "vitest";
import { WorkerPool } from "../../controller/compute/worker-pool.ts";

const JOB = new URL("./worker-pool.job.ts", import.meta.url);
type Result = { worker: number; thread: number; values: Float64Array };
type Task = { kind: "square"; values: Float64Array; delayMs?: number } | { kind: "throw" } | { kind: "exit" };

describe("WorkerPool", () => {
  it("runs tasks on every worker, each with its own init data, and returns each task's result", async () => {
    const pool = await WorkerPool.start<Task, Result, { index: number; thread: number }>(
      JOB,
      (i) => ({ offset: 1000 * i, index: i }),
      3,
      "test",
    );
    try {
      expect(pool.size).toBe(3);
      expect(pool.infos.map((x) => x.index)).toEqual([0, 1, 2]);
      expect(new Set(pool.infos.map((x) => x.thread)).size).toBe(3);
      const tasks = Array.from({ length: 12 }, (_, t) => Float64Array.from([t, t + 0.5]));
      const results = await Promise.all(
        tasks.map((values, t) =>
          pool.run({ kind: "square", values: values.slice(), delayMs: 20 * (t % 3) }, []),
        ),
      );
      results.forEach((r, t) => {
        const offset = 1000 * r.worker;
        expect(Array.from(r.values)).toEqual([t * t + offset, (t + 0.5) ** 2 + offset]);
      });
      // 12 tasks of up to 40 ms on 3 workers: every worker took some.
      expect(new Set(results.map((r) => r.worker)).size).toBe(3);
    } finally {
      await pool.close();
    }
  });

  it("moves transferred buffers to the worker instead of copying them", async () => {
    const pool = await WorkerPool.start<Task, Result>(JOB, (i) => ({ offset: 0, index: i }), 1);
    try {
      const values = Float64Array.from([3]);
      const pending = pool.run({ kind: "square", values }, [values.buffer as ArrayBuffer]);
      expect(values.byteLength).toBe(0); // detached here
      expect(Array.from((await pending).values)).toEqual([9]);
    } finally {
      await pool.close();
    }
  });

  it("rejects a failing task with the worker's code and keeps serving", async () => {
    const pool = await WorkerPool.start<Task, Result>(JOB, (i) => ({ offset: 0, index: i }), 2);
    try {
      await expect(pool.run({ kind: "throw" })).rejects.toMatchObject({
        code: "EPHYS_TEST_TASK",
        message: "task refused",
      });
      expect(Array.from((await pool.run({ kind: "square", values: Float64Array.from([4]) })).values)).toEqual(
        [16],
      );
    } finally {
      await pool.close();
    }
  });

  it("rejects start when a worker's setup fails, with its code", async () => {
    await expect(
      WorkerPool.start<Task, Result>(JOB, (i) => ({ offset: 0, index: i, failSetup: i === 1 }), 2),
    ).rejects.toMatchObject({ code: "EPHYS_TEST_SETUP" });
  });

  it("fails every pending and later task when a worker dies", async () => {
    const pool = await WorkerPool.start<Task, Result>(JOB, (i) => ({ offset: 0, index: i }), 1);
    const slow = pool.run({ kind: "exit" });
    const queued = pool.run({ kind: "square", values: Float64Array.from([1]) });
    await expect(slow).rejects.toMatchObject({ code: "EPHYS_WORKER_FAILED", message: /exited with code 3/ });
    await expect(queued).rejects.toMatchObject({ code: "EPHYS_WORKER_FAILED" });
    await expect(pool.run({ kind: "square", values: Float64Array.from([1]) })).rejects.toMatchObject({
      code: "EPHYS_WORKER_FAILED",
    });
    await pool.close();
  });

  it("close waits for the tasks already given, then refuses new ones", async () => {
    const pool = await WorkerPool.start<Task, Result>(JOB, (i) => ({ offset: 0, index: i }), 1);
    const late = pool.run({ kind: "square", values: Float64Array.from([5]), delayMs: 100 });
    await pool.close();
    expect(Array.from((await late).values)).toEqual([25]);
    await expect(pool.run({ kind: "square", values: Float64Array.from([1]) })).rejects.toThrow(/closed/);
  });

  it("refuses a pool of no workers", async () => {
    await expect(WorkerPool.start(JOB, () => ({}), 0)).rejects.toMatchObject({ code: "EPHYS_BAD_POOL" });
  });
});
