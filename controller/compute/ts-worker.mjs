// Worker-thread entry that runs a TypeScript module from source: Node 20 workers do not take `--import tsx`
// from execArgv, so the loader is registered here, then the module named in workerData.__module is imported.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

// Plain-JavaScript packages named in workerData.__preload load first, untransformed: tsx's loader transforms every
// ES module it loads, which for h5wasm's 4 MB WebAssembly bundle costs ~600 MB of loader memory.
for (const specifier of workerData.__preload ?? []) await import(specifier);
register();
await import(workerData.__module);
