// One NWB 2.6.0 file from a stored session, written next to its destination under a temporary name and renamed
// into place when complete (a failed export leaves no partial file). What goes where: docs/nwb.md. A session that
// has not reached its end exports what the store holds, marked incomplete (session_description, /general/notes).
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Protocol } from "../../../protocols/index.ts";
import { parseProtocol } from "../../../protocols/index.ts";
import { spanOf } from "../../acquisition/windows.ts";
import { codeVersion } from "../../provenance.ts";
import type { SessionStore } from "../../store/store.ts";
import { writeAnalysisTables } from "./analysis-tables.ts";
import { sessionClock } from "./clock.ts";
import { writeElectrodes } from "./electrodes.ts";
import { NwbExportError } from "./errors.ts";
import { type Completeness, completenessOf, writeFileMetadata, writeNotes } from "./file-metadata.ts";
import { createH5 } from "./h5.ts";
import { writeProcessing } from "./processing.ts";
import { cacheSpecifications, locateSpecSources, NWB_VERSION } from "./spec-cache.ts";
import { writePresentations, writeTemplates } from "./stimulus-templates.ts";
import { readSessionEvents, writeEpochs, writeTrials } from "./trials.ts";
import { writeUnits } from "./units.ts";

export interface NwbProgress {
  stage: "templates" | "count spikes" | "write spikes" | "tables";
  done: number;
  total: number;
}

export interface NwbExportOptions {
  /** NWB schema folder for the cached specification (null/undefined: ../shared/nwb-schema). */
  nwbSchemaDir?: string | null;
  onProgress?: (p: NwbProgress) => void;
  /** Rows per chunk of the streamed datasets (tests use small chunks to cross chunk boundaries). */
  chunkRows?: number;
}

export interface NwbExportResult {
  path: string;
  bytes: number;
  sha256: string;
  nwbVersion: string;
  completeness: Completeness;
  units: number;
  spikes: number;
  trials: number;
  templates: number;
  /** Namespaces cached in /specifications ({} when the schema was not found). */
  specifications: Record<string, string>;
  /** What the exporter left out or noted (also in /general/notes). */
  notes: string[];
  seconds: number;
}

/** The h5wasm package's version (its package.json is not exported, so found beside its Node build). */
function h5wasmVersion(): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve("h5wasm/node")));
    while (dir !== dirname(dir)) {
      const file = join(dir, "package.json");
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name === "h5wasm") return pkg.version ?? "unknown";
      }
      dir = dirname(dir);
    }
  } catch {
    // fall through
  }
  return "unknown";
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (c) => hash.update(c))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** Write the session as an NWB file at `path` (replacing it atomically). */
export async function exportSessionNwb(
  store: SessionStore,
  sessionId: string,
  path: string,
  o: NwbExportOptions = {},
): Promise<NwbExportResult> {
  const started = performance.now();
  const row = store.getSession(sessionId);
  if (!row)
    throw new NwbExportError(
      "EPHYS_NO_SESSION",
      `SESSION: no session ${JSON.stringify(sessionId)} in the store`,
    );
  const notes: string[] = [];
  const clock = sessionClock(row.created_at);
  const completeness = completenessOf(row);
  let protocol: Protocol | null = null;
  try {
    protocol = parseProtocol(row.protocol_text, row.protocol_path);
  } catch (e) {
    notes.push(`The stored protocol text could not be parsed (${(e as Error).message}).`);
  }
  let software: Record<string, string> = {};
  try {
    software = Object.fromEntries(
      Object.entries(JSON.parse(row.software) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
  } catch {
    notes.push("The stored software versions are not valid JSON.");
  }

  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const file = await createH5(temp);
  let open = true;
  const progress = o.onProgress ?? (() => {});
  try {
    const groups = writeFileMetadata(file, {
      row,
      clock,
      completeness,
      protocol,
      software,
      exporter: { codeVersion: codeVersion(), h5wasm: h5wasmVersion() },
      createdAt: new Date().toISOString(),
    });
    const spec = cacheSpecifications(file, locateSpecSources(o.nwbSchemaDir));
    for (const p of spec.problems) notes.push(`Specification not cached: ${p}.`);

    const trials = store.trials(sessionId);
    const templates = await writeTemplates(
      groups.templates,
      store.stimuli(sessionId),
      trials,
      (done, total) => progress({ stage: "templates", done, total }),
    );
    notes.push(...templates.notes);
    const events = readSessionEvents(store, sessionId);
    const intervals = file.create_group("intervals");
    if (trials.length) writeTrials(intervals, trials, events, clock, templates.index);
    if (events.states.length) writeEpochs(intervals, events, clock);
    if (templates.images)
      writePresentations(groups.presentation, groups.templates, trials, templates.index, clock);

    const channels = store.channels(sessionId);
    let units = { units: 0, spikes: 0 };
    if (channels.length) {
      const electrodes = writeElectrodes(groups.general, groups.devices, channels);
      const onsets = new Map<number, number>();
      for (const t of trials)
        if (t.status === "shown" && t.onsetMs !== undefined) onsets.set(t.trialId, t.onsetMs);
      const testR = new Map<string, number | null>();
      for (const m of store.models(sessionId)) {
        const p = (m.params ?? {}) as { testR?: unknown };
        const r = typeof p.testR === "number" ? p.testR : null;
        testR.set(m.channelId, r);
      }
      const u = await writeUnits(file, {
        store,
        sessionId,
        channels,
        electrodes,
        onsets,
        clock,
        span: protocol
          ? spanOf({ baseline: protocol.windows.baseline, response: protocol.windows.response })
          : null,
        checks: store.checkResults(sessionId),
        decisions: store.decisions(sessionId),
        testR,
        chunkRows: o.chunkRows,
        onProgress: (pass, done, total) =>
          progress({ stage: pass === "count" ? "count spikes" : "write spikes", done, total }),
      });
      notes.push(...u.notes);
      units = u;
      progress({ stage: "tables", done: 0, total: 1 });
      const unitOf = new Map(channels.map((c, i) => [c.id, i]));
      const m = protocol?.model;
      notes.push(
        ...(await writeProcessing(groups.processing, {
          store,
          sessionId,
          units: u.group,
          unitOf,
          backbone: m
            ? `${m.backbone} (${m.variant}) at ${m.layer}, ${m.imageSize} px input, weights sha256 ${row.weights_sha256 ?? "unknown"}`
            : "(the stored protocol could not be read)",
        })),
      );
    } else notes.push("The session has no channels: no electrodes, units or models.");
    writeAnalysisTables(groups.analysis, store, sessionId);
    writeNotes(groups.general, completeness, notes);
    progress({ stage: "tables", done: 1, total: 1 });
    file.close();
    open = false;
    await rename(temp, path);
    return {
      path,
      bytes: (await stat(path)).size,
      sha256: await sha256Of(path),
      nwbVersion: NWB_VERSION,
      completeness,
      units: units.units,
      spikes: units.spikes,
      trials: trials.length,
      templates: templates.images,
      specifications: spec.cached,
      notes,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    if (open) file.close();
    await rm(temp, { force: true });
    if (e instanceof Error && "code" in e) throw e;
    throw new NwbExportError(
      "EPHYS_NWB_WRITE",
      `${path}: the NWB file could not be written (${(e as Error).message})`,
    );
  }
}
