// `ephysloop demo` (what `npm start` runs): a full simulated recording day on the embedded defaults — the daemon
// in this process, the virtual rig (rig box on a pseudo-terminal, headless display, acquisition bridge with
// ground-truth neurons) in a child process — ending with the session's report path.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../../config/index.ts";
import { resolvePaths } from "../../config/index.ts";
import { loadProtocol } from "../../protocols/load.ts";
import { createLogger } from "../log.ts";
import { startDaemon } from "./serve.ts";

const bin = fileURLToPath(new URL("../../bin/ephysloop.mjs", import.meta.url));

export async function demo(config: Config, o: { protocolPath: string }): Promise<void> {
  const protocol = loadProtocol(o.protocolPath).protocol;
  const ptyDir = mkdtempSync(join(tmpdir(), "ephysloop-rig-"));
  const hostPath = join(ptyDir, "rigbox-host");
  const boxPath = join(ptyDir, "rigbox-box");
  const log = createLogger({ level: config.logLevel, file: resolvePaths(config).logPath });
  const daemon = await startDaemon(
    { ...config, port: 0, rig: { ...config.rig, serialPath: hostPath } },
    { protocolPath: o.protocolPath, timeScale: protocol.simulation?.timeScale ?? 1, log },
  );
  log.info(`simulated day: session ${daemon.sessionId}; virtual rig starting (rig box on ${hostPath})`);
  const child = spawn(
    process.execPath,
    [
      bin,
      "simulate",
      "--url",
      daemon.wsUrl,
      "--token",
      daemon.token,
      "--protocol",
      o.protocolPath,
      "--box-host",
      hostPath,
      "--box",
      boxPath,
      "--feature-cache",
      join(resolvePaths(config).dataDir, "features"),
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  child.on("exit", (code) => {
    if (code) log.error(`the virtual rig exited with code ${code}`);
  });
  const final = await daemon.whenFinished();
  const row = daemon.store.getSession(daemon.sessionId)!;
  const report = daemon.store.artifacts(daemon.sessionId, "report")[0];
  child.kill("SIGTERM");
  await daemon.stop();
  console.log("");
  console.log(`session ${row.id}: ${final}${row.failed_reason ? ` — ${row.failed_reason}` : ""}`);
  if (report?.path) console.log(`report: ${report.path}`);
  process.exitCode = final === "done" ? 0 : 1;
}
