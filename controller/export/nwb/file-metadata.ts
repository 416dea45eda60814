// The NWBFile itself: root attributes, the required datasets (identifier = session id, session_description,
// session_start_time = timestamps_reference_time = the session's created time, file_create_date), the required
// groups, and /general: the protocol (YAML text; name, path and sha256 as attributes), the software that recorded
// and the one that exported (source_script), the clock (data_collection), the subject and the rig. NWB keeps
// machine-readable metadata as attributes of these free-text datasets; the completeness mark is one of them.
import type { Protocol } from "../../../protocols/index.ts";
import type { SessionRow } from "../../store/store.ts";
import type { SessionClock } from "./clock.ts";
import { type File, type Group, H5, numberAttr, textAttr, textDataset } from "./h5.ts";
import { markType, typedGroup } from "./hdmf.ts";
import { NWB_VERSION } from "./spec-cache.ts";

/** Whether the session got to its end; an incomplete file holds what the store had when it was exported. */
export interface Completeness {
  complete: boolean;
  state: string;
  /** Why it is incomplete (null when complete). */
  reason: string | null;
}

/** States after which every recording and analysis step of the day has run. */
const COMPLETE_STATES = new Set(["reporting", "done"]);

export function completenessOf(row: Pick<SessionRow, "state" | "failed_reason">): Completeness {
  if (COMPLETE_STATES.has(row.state)) return { complete: true, state: row.state, reason: null };
  const why =
    row.state === "aborted" || row.state === "failed"
      ? `the session ended ${row.state}${row.failed_reason ? ` (${row.failed_reason})` : ""}`
      : `the session stopped in state ${row.state} before the end of the day (interrupted; it may still resume)`;
  return { complete: false, state: row.state, reason: why };
}

export interface FileFacts {
  row: SessionRow;
  clock: SessionClock;
  completeness: Completeness;
  protocol: Protocol | null;
  software: Record<string, string>;
  /** The exporter's own version (ephysloop's code version) and the HDF5 library's. */
  exporter: { codeVersion: string; h5wasm: string };
  /** When this file was written (ISO 8601). */
  createdAt: string;
}

/** The file's top: what NWBFile requires, and /general. Returns the groups the other parts write into. */
export function writeFileMetadata(
  file: File,
  f: FileFacts,
): {
  general: Group;
  devices: Group;
  templates: Group;
  presentation: Group;
  analysis: Group;
  processing: Group;
} {
  markType(file, "NWBFile", "core");
  textAttr(file, "nwb_version", NWB_VERSION);
  textDataset(file, "file_create_date", [f.createdAt]);
  textDataset(file, "identifier", f.row.id);
  textDataset(file, "session_description", sessionDescription(f));
  textDataset(file, "session_start_time", f.clock.start);
  textDataset(file, "timestamps_reference_time", f.clock.start);
  file.create_group("acquisition");
  const analysis = file.create_group("analysis");
  const processing = file.create_group("processing");
  const stimulus = file.create_group("stimulus");
  const presentation = stimulus.create_group("presentation");
  const templates = stimulus.create_group("templates");

  const general = file.create_group("general");
  textDataset(general, "session_id", f.row.id);
  if (f.protocol?.description) textDataset(general, "experiment_description", f.protocol.description);
  const protocol = textDataset(general, "protocol", f.row.protocol_text);
  textAttr(protocol, "name", f.row.protocol_name);
  textAttr(protocol, "path", f.row.protocol_path);
  textAttr(protocol, "sha256", f.row.protocol_sha256);
  textAttr(protocol, "format", "ephysloop protocol YAML (protocols/schema.ts), as stored with the session");
  if (f.row.weights_sha256) textAttr(protocol, "weights_sha256", f.row.weights_sha256);

  const script = textDataset(
    general,
    "source_script",
    `Recorded by ephysloop ${f.row.code_version}; exported to NWB ${NWB_VERSION} by ephysloop ` +
      `${f.exporter.codeVersion} with h5wasm ${f.exporter.h5wasm}. Software that ran the session: ` +
      Object.entries(f.software)
        .map(([k, v]) => `${k} ${v}`)
        .join(", "),
  );
  textAttr(script, "file_name", "ephysloop");
  textAttr(script, "recorded_with", f.row.code_version);
  textAttr(script, "exported_with", f.exporter.codeVersion);
  textAttr(script, "software", JSON.stringify(f.software));

  const clock = textDataset(
    general,
    "data_collection",
    "One clock: the ephysloop daemon's wall clock. Every time in this file is in seconds after " +
      `session_start_time (${f.clock.start}, the time the session was created), in float64. Presentation ` +
      "onsets and offsets are the display's reports converted to the daemon's clock (ping/pong estimate); spike " +
      "times are the acquisition bridge's times relative to each presentation onset added to that onset: " +
      "t = ((onset_ms - t0_ms) + spike_ms) / 1000.",
  );
  textAttr(clock, "clock", "daemon");
  textAttr(clock, "t0", f.clock.start);

  if (f.protocol) {
    const p = f.protocol.presentation;
    textDataset(
      general,
      "stimulus",
      `Images from the stimulus sets ${f.protocol.stimulusSets.map((s) => `${s.id} (${s.category}, ${s.role})`).join(", ")}, ` +
        `each shown at its file's size centred on a gray screen by the display page, ${p.stimulusMs} ms on, ` +
        `${p.isiMs} ms off, ${p.stimuliPerFixation} per fixation, in ${p.order} order; a presentation during ` +
        "which fixation broke is voided and shown again in the same block. The templates are the image files' pixels.",
    );
  }

  const devices = general.create_group("devices");
  if (f.row.rig) {
    const rig = typedGroup(devices, "rig", "Device", "core");
    textAttr(rig, "description", `recording rig "${f.row.rig}" (the session's rig name)`);
  }
  if (f.row.subject) {
    const subject = typedGroup(general, "subject", "Subject", "core");
    textDataset(subject, "subject_id", f.row.subject);
  }
  return { general, devices, templates, presentation, analysis, processing };
}

function sessionDescription(f: FileFacts): string {
  const what = f.protocol?.description || `a recording day of protocol ${f.row.protocol_name}`;
  const state = f.completeness.complete
    ? "complete"
    : `INCOMPLETE: ${f.completeness.reason}; the file holds what had been stored`;
  return `${what} (ephysloop session ${f.row.id}, protocol ${f.row.protocol_name}; ${state}).`;
}

/**
 * /general/notes: the completeness mark (attributes `complete` 1/0 and `state`) and what the exporter left out or
 * had to note, one sentence per line.
 */
export function writeNotes(general: Group, completeness: Completeness, notes: string[]): void {
  const lines = [
    completeness.complete
      ? `Complete session (state ${completeness.state}).`
      : `Incomplete session: ${completeness.reason}.`,
    ...notes,
  ];
  const ds = textDataset(general, "notes", lines.join("\n"));
  numberAttr(ds, "complete", completeness.complete ? 1 : 0, H5.u8);
  textAttr(ds, "state", completeness.state);
  if (completeness.reason) textAttr(ds, "incomplete_reason", completeness.reason);
}
