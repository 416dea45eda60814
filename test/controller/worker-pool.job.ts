// A job module for test/controller/worker-pool.test.ts: state built from the init data, tasks that square
// numbers (echoing which worker ran them), fail with a coded error, or kill the worker.
import { threadId } from "node:worker_threads";
import { servePool } from "../../controller/compute/worker-pool.ts";

interface Init {
  offset: number;
  index: number;
  failSetup?: boolean;
}
type Task = { kind: "square"; values: Float64Array; delayMs?: number } | { kind: "throw" } | { kind: "exit" };

servePool<Init, Task, { worker: number; thread: number; values: Float64Array }>(async (init) => {
  if (init.failSetup) throw Object.assign(new Error("setup refused"), { code: "EPHYS_TEST_SETUP" });
  return {
    info: { index: init.index, thread: threadId },
    job: {
      async run(task) {
        if (task.kind === "throw")
          throw Object.assign(new Error("task refused"), { code: "EPHYS_TEST_TASK" });
        if (task.kind === "exit") process.exit(3);
        if (task.delayMs) await new Promise((r) => setTimeout(r, task.delayMs));
        const values = task.values.map((v) => v * v + init.offset);
        return {
          result: { worker: init.index, thread: threadId, values },
          transfer: [values.buffer as ArrayBuffer],
        };
      },
    },
  };
});
