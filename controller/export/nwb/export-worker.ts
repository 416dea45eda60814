// The NWB export in a worker thread (started by export-job.ts through ts-worker.mjs, with h5wasm preloaded outside
// tsx's loader): its own connection to the session database, progress and the result as messages. The daemon's
// thread stays free to answer while HDF5 writes.
import { parentPort, workerData } from "node:worker_threads";
import { SessionStore } from "../../store/store.ts";
import type { NwbExportJob, NwbExportMessage } from "./export-job.ts";
import { exportSessionNwb } from "./export-nwb.ts";

const job = workerData as NwbExportJob;
const post = (m: NwbExportMessage) => parentPort!.postMessage(m);

const store = new SessionStore(job.dbPath);
try {
  const result = await exportSessionNwb(store, job.sessionId, job.path, {
    ...job.options,
    onProgress: (p) => post({ type: "progress", progress: p }),
  });
  post({ type: "done", result });
} catch (e) {
  const err = e as Error & { code?: string };
  post({ type: "error", message: err.message, code: err.code });
} finally {
  store.close();
}
