// Worker-thread entry that runs a TypeScript module from source: Node 20 workers do not take `--import tsx`
// from execArgv, so the loader is registered here, then the module named in workerData.__module is imported.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.__module);
