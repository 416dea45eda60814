// `ephysloop demo` (what `npm start` runs): a full simulated recording day on the embedded defaults — the daemon
// in this process, the virtual rig (rig box on a pseudo-terminal, headless display, acquisition bridge with
// ground-truth neurons) in a child process — ending with the session's report path.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../../config/index.ts";
import { resolvePaths } from "../../config/index.ts";
import { loadProtocol } from "../../protocols/load.ts";
import { createLogger } from "../log.ts";
import { startDaemon } from "./serve.ts";

const bin = fileURLToPath(new URL("../../bin/ephysloop.mjs", import.meta.url));

export async function demo(
  config: Config,
  o: { protocolPath: string; acquisition?: "direct" | "openephys" },
): Promise<void> {
  const protocol = loadProtocol(o.protocolPath).protocol;
  const ptyDir = mkdtempSync(join(tmpdir(), "ephysloop-rig-"));
  const hostPath = join(ptyDir, "rigbox-host");
  const boxPath = join(ptyDir, "rigbox-box");
  const log = createLogger({ level: config.logLevel, file: resolvePaths(config).logPath });
  const daemon = await startDaemon(
    { ...config, port: 0, rig: { ...config.rig, serialPath: hostPath } },
    { protocolPath: o.protocolPath, timeScale: protocol.simulation?.timeScale ?? 1, log },
  );
  const openephys =
    o.acquisition === "openephys" ? await openEphysSetup(ptyDir, protocol.simulation?.channels ?? 16) : null;
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
      ...(openephys ? ["--acquisition", "openephys", "--zmq", openephys.zmq] : []),
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  child.on("exit", (code) => {
    if (code) log.error(`the virtual rig exited with code ${code}`);
  });
  // With --acquisition openephys the rig publishes as an Event Broadcaster would, and the real bridge command
  // (its own process, as at a rig) turns that into /acquisition.
  const bridgeChild = openephys
    ? spawn(
        process.execPath,
        [
          bin,
          "bridge",
          "openephys",
          "--zmq",
          openephys.zmq,
          "--url",
          daemon.wsUrl,
          "--token",
          daemon.token,
          "--channels",
          openephys.map,
          "--outbox",
          join(ptyDir, "bridge-outbox.db"),
        ],
        { stdio: ["ignore", "inherit", "inherit"] },
      )
    : null;
  bridgeChild?.on("exit", (code) => {
    if (code) log.error(`the Open Ephys bridge exited with code ${code}`);
  });
  const final = await daemon.whenFinished();
  const row = daemon.store.getSession(daemon.sessionId)!;
  const report = daemon.store.artifacts(daemon.sessionId, "report")[0];
  child.kill("SIGTERM");
  bridgeChild?.kill("SIGTERM");
  await daemon.stop();
  console.log("");
  console.log(`session ${row.id}: ${final}${row.failed_reason ? ` — ${row.failed_reason}` : ""}`);
  if (report?.path) console.log(`report: ${report.path}`);
  process.exitCode = final === "done" ? 0 : 1;
}

/** A free port for the emulated Event Broadcaster and the channel map a lab would write for it. */
async function openEphysSetup(dir: string, channels: number): Promise<{ zmq: string; map: string }> {
  const { emulatorChannelMap } = await import("../simulate/openephys-broadcaster.ts");
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const map = join(dir, "openephys-channels.yaml");
  writeFileSync(map, emulatorChannelMap(channels));
  return { zmq: `tcp://127.0.0.1:${port}`, map };
}
