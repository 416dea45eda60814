// `ephysloop serve`: run the daemon until the day ends or the process is stopped (SIGINT/SIGTERM stop it cleanly;
// a restarted daemon resumes the same session where it stopped).
import { describeDevice, resolveDevice } from "../../analysis/backbone/ort-device.ts";
import { EphysError } from "../../analysis/errors.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import { buildDisplayPage } from "../../stimuli/display/build.ts";
import { buildMonitorPage } from "../../stimuli/monitor/build.ts";
import { Daemon, type DaemonOptions } from "../daemon.ts";
import { createLogger, type Logger } from "../log.ts";
import { createDisplayLink, openRigBox } from "../rig/box-handle.ts";
import type { SessionMetadata } from "../store/store.ts";

export interface ServeOptions {
  protocolPath?: string;
  /** Subject, rig, probe, depth and region, stored with a new session. */
  metadata?: SessionMetadata;
  timeScale?: number;
  log?: Logger;
  dataTimeoutMs?: number;
  /** Replace step implementations (tests stop the day where they need to). */
  steps?: DaemonOptions["steps"];
  /** How the rig box is opened (default: the serial device at config.rig.serialPath). */
  createBox?: DaemonOptions["createBox"];
}

/** A bad `serve` flag (EPHYS_BAD_OPTION), named with what was expected. */
export class ServeOptionError extends EphysError<"EPHYS_BAD_OPTION"> {}

/**
 * The session metadata from `serve`'s flags (--subject, --rig, --probe, --depth-um, --region): only those given;
 * --depth-um must be a number of µm ≥ 0.
 */
export function sessionMetadata(flags: {
  subject?: string;
  rig?: string;
  probe?: string;
  depthUm?: string;
  region?: string;
}): SessionMetadata {
  const out: SessionMetadata = {};
  for (const key of ["subject", "rig", "probe", "region"] as const) {
    const v = flags[key]?.trim();
    if (v) out[key] = v;
  }
  if (flags.depthUm !== undefined) {
    const depth = Number(flags.depthUm);
    if (flags.depthUm.trim() === "" || !Number.isFinite(depth) || depth < 0)
      throw new ServeOptionError(
        "EPHYS_BAD_OPTION",
        `--depth-um: got ${JSON.stringify(flags.depthUm)}, expected the probe's depth in µm, a number ≥ 0`,
      );
    out.depthUm = depth;
  }
  return out;
}

export async function startDaemon(config: Config, o: ServeOptions): Promise<Daemon> {
  const log = o.log ?? createLogger({ level: config.logLevel, file: resolvePaths(config).logPath });
  // Where the backbone runs, decided before anything starts: a GPU asked for that cannot run here stops the
  // daemon now, with what is missing and how to bring it, not at the first compute step of the day.
  log.info(`compute device: ${describeDevice(await resolveDevice(config.compute.device))}`);
  const displayDir = await buildDisplayPage();
  const monitorDir = await buildMonitorPage();
  const daemon = new Daemon({
    config,
    log,
    protocolPath: o.protocolPath,
    metadata: o.metadata,
    timeScale: o.timeScale,
    displayDir,
    monitorDir,
    dataTimeoutMs: o.dataTimeoutMs,
    steps: o.steps,
    createDisplay: createDisplayLink,
    createBox: o.createBox ?? ((path, baud) => openRigBox(path, baud, log)),
  });
  await daemon.start();
  return daemon;
}

export async function serve(config: Config, o: ServeOptions): Promise<void> {
  const daemon = await startDaemon(config, o);
  console.log(`display page: ${daemon.url}/display/?token=${daemon.token}`);
  console.log(`monitor: ${daemon.url}/monitor/?token=${daemon.token}`);
  const stop = async () => {
    await daemon.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const final = await daemon.whenFinished();
  console.log(`session ${daemon.sessionId} ended: ${final}`);
  await daemon.stop();
  process.exitCode = final === "done" ? 0 : 1;
}
