// exportSessionNwb in a worker thread: HDF5 writes are synchronous WebAssembly calls, so the export runs beside the
// daemon's event loop, not on it; h5wasm is loaded in the worker before tsx's loader (see ts-worker.mjs).
import { runMessageJob } from "../../compute/worker-job.ts";
import type { NwbExportOptions, NwbExportResult, NwbProgress } from "./export-nwb.ts";

export interface NwbExportJob {
  /** The session database file (the worker opens its own connection). */
  dbPath: string;
  sessionId: string;
  path: string;
  options: Omit<NwbExportOptions, "onProgress">;
}

export type NwbExportMessage =
  | { type: "progress"; progress: NwbProgress }
  | { type: "done"; result: NwbExportResult }
  | { type: "error"; message: string; code?: string };

export function exportSessionNwbInWorker(
  job: NwbExportJob,
  onProgress?: (p: NwbProgress) => void,
  signal?: AbortSignal,
): Promise<NwbExportResult> {
  return runMessageJob<NwbExportMessage, NwbExportResult>(
    new URL("./export-worker.ts", import.meta.url),
    { ...job, __preload: ["h5wasm/node"] },
    (m) => onProgress?.(m.progress),
    signal,
    "NWB export worker",
    (done) => done.result,
  );
}
