// A session's NWB file as one of its artifacts: export it (controller/export/nwb, in a worker thread) and record
// the file with kind "nwb" and what a reader needs to know before opening it (complete or not, sizes, sha256).
// Only types come from nwb/export-nwb.ts: h5wasm loads in the worker, never in the daemon's thread.
import type { Config } from "../../config/index.ts";
import type { SessionStore } from "../store/store.ts";
import { NwbExportError } from "./nwb/errors.ts";
import { exportSessionNwbInWorker } from "./nwb/export-job.ts";
import type { NwbExportResult, NwbProgress } from "./nwb/export-nwb.ts";

export interface SessionNwb extends NwbExportResult {
  artifactId: number;
}

export async function writeSessionNwb(
  store: SessionStore,
  sessionId: string,
  path: string,
  o: { config: Config; nwbSchemaDir?: string; onProgress?: (p: NwbProgress) => void },
): Promise<SessionNwb> {
  if (store.db.memory)
    throw new NwbExportError(
      "EPHYS_NWB_WRITE",
      "the session store is in memory; the export reads its database file",
    );
  const result = await exportSessionNwbInWorker(
    {
      dbPath: store.db.name,
      sessionId,
      path,
      options: { nwbSchemaDir: o.nwbSchemaDir ?? o.config.export.nwbSchemaDir },
    },
    o.onProgress,
  );
  const artifactId = store.addArtifact(sessionId, {
    kind: "nwb",
    path: result.path,
    meta: {
      format: "nwb",
      nwbVersion: result.nwbVersion,
      bytes: result.bytes,
      sha256: result.sha256,
      complete: result.completeness.complete,
      state: result.completeness.state,
      units: result.units,
      spikes: result.spikes,
      trials: result.trials,
      templates: result.templates,
      specifications: result.specifications,
      notes: result.notes,
    },
  });
  return { ...result, artifactId };
}
