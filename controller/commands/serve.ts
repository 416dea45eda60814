// `ephysloop serve`: run the daemon until the day ends or the process is stopped (SIGINT/SIGTERM stop it cleanly;
// a restarted daemon resumes the same session where it stopped).
import { type Config, resolvePaths } from "../../config/index.ts";
import { buildDisplayPage } from "../../stimuli/display/build.ts";
import { buildMonitorPage } from "../../stimuli/monitor/build.ts";
import { Daemon, type DaemonOptions } from "../daemon.ts";
import { createLogger, type Logger } from "../log.ts";
import { createDisplayLink, openRigBox } from "../rig/box-handle.ts";

export interface ServeOptions {
  protocolPath?: string;
  subject?: string;
  timeScale?: number;
  log?: Logger;
  dataTimeoutMs?: number;
  /** Replace step implementations (tests stop the day where they need to). */
  steps?: DaemonOptions["steps"];
  /** How the rig box is opened (default: the serial device at config.rig.serialPath). */
  createBox?: DaemonOptions["createBox"];
}

export async function startDaemon(config: Config, o: ServeOptions): Promise<Daemon> {
  const log = o.log ?? createLogger({ level: config.logLevel, file: resolvePaths(config).logPath });
  const displayDir = await buildDisplayPage();
  const monitorDir = await buildMonitorPage();
  const daemon = new Daemon({
    config,
    log,
    protocolPath: o.protocolPath,
    subject: o.subject,
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
