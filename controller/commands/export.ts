// `ephysloop export SESSION --nwb FILE.nwb [--nwb-schema DIR]`: the stored session as an NWB 2.6.0 file (see
// docs/nwb.md), recorded as the session's artifact of kind "nwb"; a progress bar on stderr while the spikes are
// streamed. A session that has not reached its end is exported as it is, marked incomplete, and the command says so.
import { resolve } from "node:path";
import { Presets, SingleBar } from "cli-progress";
import { EphysError } from "../../analysis/errors.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import type { NwbProgress } from "../export/nwb/export-nwb.ts";
import { type SessionNwb, writeSessionNwb } from "../export/session-nwb.ts";
import { SessionStore } from "../store/store.ts";
import { sessionRow } from "./stored-session.ts";

export class ExportCommandError extends EphysError<"EPHYS_BAD_EXPORT_COMMAND"> {
  constructor(message: string) {
    super("EPHYS_BAD_EXPORT_COMMAND", message);
  }
}

export interface ExportFlags {
  nwb?: string;
  nwbSchema?: string;
}

export async function exportCommand(
  config: Config,
  sessionId: string,
  flags: ExportFlags,
  onProgress?: (p: NwbProgress) => void,
): Promise<SessionNwb> {
  if (!flags.nwb || !/\.nwb$/i.test(flags.nwb))
    throw new ExportCommandError(
      `--nwb: got ${JSON.stringify(flags.nwb ?? null)}, expected the path of the file to write, ending in .nwb`,
    );
  const { dbPath } = resolvePaths(config);
  const store = new SessionStore(dbPath);
  try {
    sessionRow(store, dbPath, sessionId, ExportCommandError);
    return await writeSessionNwb(store, sessionId, resolve(flags.nwb), {
      config,
      nwbSchemaDir: flags.nwbSchema,
      onProgress,
    });
  } finally {
    store.close();
  }
}

/** The CLI action: the bar on stderr, the file and its notes on stdout; coded errors as one line, exit 1. */
export async function exportCli(config: Config, sessionId: string, flags: ExportFlags): Promise<void> {
  const bar = new SingleBar(
    { stream: process.stderr, format: "export |{bar}| {stage} {value}/{total}", hideCursor: true },
    Presets.shades_classic,
  );
  let stage = "";
  try {
    const out = await exportCommand(config, sessionId, flags, (p) => {
      if (p.stage !== stage) {
        if (stage) bar.stop();
        stage = p.stage;
        bar.start(Math.max(1, p.total), p.done, { stage });
      }
      bar.update(p.done, { stage });
    });
    bar.stop();
    console.log(
      `${out.path}: NWB ${out.nwbVersion}, ${(out.bytes / 1e6).toFixed(1)} MB, ${out.units} units, ` +
        `${out.spikes} spikes, ${out.trials} presentations, ${out.templates} images, ${out.seconds.toFixed(1)} s`,
    );
    if (!out.completeness.complete) console.log(`incomplete: ${out.completeness.reason}`);
    for (const n of out.notes) console.log(`note: ${n}`);
  } catch (e) {
    bar.stop();
    const err = e as Error & { code?: string };
    console.error(`error${err.code ? ` ${err.code}` : ""}: ${err.message}`);
    process.exitCode = 1;
  }
}
