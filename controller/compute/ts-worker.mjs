// Worker-thread entry that runs a TypeScript module from source: Node 20 workers do not take `--import tsx`
// from execArgv, so the loader is registered here, then the module named in workerData.__module is imported.
import { getPriority, setPriority } from "node:os";
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

// workerData.__nice: this thread's nice value, raised to it (never lowered: that needs privileges). On Linux the
// nice value belongs to the thread, and the threads it starts inherit it (its pool's workers, ONNX Runtime's), so the
// daemon's own thread and the display keep the CPU first while phase 3 presents and its fragments are made
// (controller/day/steps/explain.ts). Elsewhere (where it is per process) it is not set.
if (Number.isInteger(workerData.__nice) && process.platform === "linux") {
  try {
    if (getPriority(0) < workerData.__nice) setPriority(0, workerData.__nice);
  } catch {
    // not permitted here: the job runs at the thread's current priority
  }
}

// Plain-JavaScript packages named in workerData.__preload load first, untransformed: tsx's loader transforms every
// ES module it loads, which for h5wasm's 4 MB WebAssembly bundle costs ~600 MB of loader memory.
for (const specifier of workerData.__preload ?? []) await import(specifier);
register();
await import(workerData.__module);
