// A job module for test/controller/worker-nice.test.ts: reports its thread's nice value, and that of a thread it
// starts itself (as a feature pool's workers and ONNX Runtime's threads are started).
import { getPriority } from "node:os";
import { parentPort, Worker } from "node:worker_threads";

const child = new Worker(
  `require("node:worker_threads").parentPort.postMessage(require("node:os").getPriority(0));`,
  { eval: true },
);
const nested = await new Promise<number>((resolve, reject) => {
  child.once("message", resolve);
  child.once("error", reject);
});
await child.terminate();
parentPort!.postMessage({ own: getPriority(0), nested });
