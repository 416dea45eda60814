// `ephysloop demo` (what `npm start` runs): a full simulated recording day on the embedded defaults, with nothing
// from the operating system. This process holds the daemon and the virtual rig box, the two joined by an in-memory
// serial cable (controller/rig/serial-cable.ts: the same SerialRigBox and line protocol as a real box, no
// pseudo-terminal, no socat); a child process runs the rest of the virtual rig (acquisition bridge with
// ground-truth neurons, headless display). A part that cannot start ends the day at once: the session is aborted
// (and still gets its report), one error names the part, the cause and the fix, and the exit code is 1.
// With --acquisition openephys the child publishes the neurons as an Open Ephys Event Broadcaster would (the box's
// event words reach it over IPC), and the real `ephysloop bridge openephys` runs between it and the daemon.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SIMULATION_TRUTH_FILE } from "../../analysis/simulation-truth.ts";
import type { Config } from "../../config/index.ts";
import { resolvePaths } from "../../config/index.ts";
import { loadProtocol } from "../../protocols/index.ts";
import { createLogger } from "../log.ts";
import { openRigBox } from "../rig/box-handle.ts";
import { SerialCable } from "../rig/serial-cable.ts";
import { fixationModel, type SimulateFault, type VirtualRigPart } from "../simulate/run.ts";
import { VirtualRigBox } from "../simulate/virtual-box.ts";
import { startDaemon } from "./serve.ts";

const bin = fileURLToPath(new URL("../../bin/ephysloop.mjs", import.meta.url));

/** A fault to inject at start: one of the child's parts, or the rig box in this process. */
export type DemoFault = SimulateFault | "box";

export interface DemoOptions {
  protocolPath: string;
  fault?: DemoFault;
  /** direct: the simulated bridge speaks /acquisition; openephys: emulated Event Broadcaster + the bridge command. */
  acquisition?: "direct" | "openephys";
}

interface PartFailure {
  part: VirtualRigPart;
  cause: string;
  fix: string;
}

export async function demo(config: Config, o: DemoOptions): Promise<void> {
  const protocol = loadProtocol(o.protocolPath).protocol;
  const log = createLogger({ level: config.logLevel, file: resolvePaths(config).logPath });
  const cable = new SerialCable("virtual-rigbox");
  const daemon = await startDaemon(
    { ...config, port: 0, rig: { ...config.rig, serialPath: cable.hostPath } },
    {
      protocolPath: o.protocolPath,
      timeScale: protocol.simulation?.timeScale ?? 1,
      log,
      createBox: (path, baud) => openRigBox(path, baud, log, { binding: cable.binding }),
    },
  );
  log.info(
    `simulated day: session ${daemon.sessionId}; virtual rig starting (rig box on an in-memory cable)`,
  );
  console.log(`dashboard: ${daemon.url}/monitor/?token=${daemon.token}`);

  let failure: PartFailure | null = null;
  let ended = false;
  const fail = (f: PartFailure) => {
    if (failure || ended) return;
    failure = f;
    log.error(`the virtual rig's ${f.part} failed: ${f.cause}`);
    daemon.send({ type: "ABORT", by: `virtual rig: the ${f.part} failed — ${f.cause}` });
  };

  let box: VirtualRigBox | null = null;
  try {
    // The fault: something else holds the box's end of the cable, as another program can hold a serial device.
    if (o.fault === "box") await cable.binding.open({ path: cable.boxPath, baudRate: 115200 });
    box = await VirtualRigBox.start({ cable, fixation: fixationModel(protocol) });
    box.startFixationModel();
  } catch (e) {
    fail({
      part: "rig box",
      cause: (e as Error).message,
      fix: "the simulated box needs nothing installed; report this as a bug with the log file",
    });
  }

  const openephys =
    !failure && o.acquisition === "openephys"
      ? await openEphysSetup(protocol.simulation?.channels ?? 16)
      : null;
  let child: ChildProcess | null = null;
  let bridgeChild: ChildProcess | null = null;
  if (!failure) {
    child = spawn(
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
        "--connect-timeout",
        "5000",
        "--feature-cache",
        join(resolvePaths(config).dataDir, "features"),
        // The neurons' truth, where the report step looks for it (the truth appendix and truth.csv).
        "--truth-neurons",
        join(resolvePaths(config).dataDir, "sessions", daemon.sessionId, SIMULATION_TRUTH_FILE),
        ...(o.fault && o.fault !== "box" ? ["--fault", o.fault] : []),
        ...(openephys ? ["--acquisition", "openephys", "--zmq", openephys.zmq] : []),
      ],
      { stdio: ["ignore", "inherit", "inherit", "ipc"] },
    );
    if (openephys) {
      const rig = child;
      // The acquisition system records the box's event words on its digital inputs: forward them to the emulator.
      box?.onHostLine((r) => {
        if (r.line.kind === "evt" && rig.connected) rig.send({ type: "evt", code: r.line.code });
      });
      bridgeChild = spawn(
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
          join(openephys.dir, "bridge-outbox.db"),
        ],
        { stdio: ["ignore", "inherit", "inherit"] },
      );
      bridgeChild.on("exit", (code, signal) => {
        if (!ended)
          fail({
            part: "acquisition bridge",
            cause: `ephysloop bridge openephys exited during the day (${signal ? `signal ${signal}` : `code ${code}`})`,
            fix: "see its messages above",
          });
      });
    }
    child.on("message", (m: { type?: string } & Partial<PartFailure>) => {
      if (m.type === "failed")
        fail({ part: m.part ?? "virtual rig process", cause: m.cause ?? "unknown", fix: m.fix ?? "" });
    });
    child.on("error", (e) =>
      fail({ part: "virtual rig process", cause: e.message, fix: `check that ${process.execPath} can run` }),
    );
    child.on("exit", (code, signal) => {
      if (!ended)
        fail({
          part: "virtual rig process",
          cause: `it exited during the day (${signal ? `signal ${signal}` : `code ${code}`})`,
          fix: "see its messages above, and the log file",
        });
    });
  }

  const final = await daemon.whenFinished();
  ended = true;
  const row = daemon.store.getSession(daemon.sessionId)!;
  const report = daemon.store.artifacts(daemon.sessionId, "report")[0];
  child?.kill("SIGTERM");
  bridgeChild?.kill("SIGTERM");
  await box?.close();
  await daemon.stop();
  console.log("");
  console.log(`session ${row.id}: ${final}${row.failed_reason ? ` — ${row.failed_reason}` : ""}`);
  if (report?.path) console.log(`report: ${report.path}`);
  const f = failure as PartFailure | null;
  if (f) console.error(`\nerror: the virtual rig's ${f.part} failed: ${f.cause}\nfix: ${f.fix}`);
  process.exitCode = final === "done" ? 0 : 1;
}

/** A free port for the emulated Event Broadcaster and the channel map a lab would write for it. */
async function openEphysSetup(channels: number): Promise<{ zmq: string; map: string; dir: string }> {
  const { emulatorChannelMap } = await import("../simulate/openephys-broadcaster.ts");
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), "ephysloop-openephys-"));
  const map = join(dir, "openephys-channels.yaml");
  writeFileSync(map, emulatorChannelMap(channels));
  return { zmq: `tcp://127.0.0.1:${port}`, map, dir };
}
