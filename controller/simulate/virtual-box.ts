// A virtual rig box: the serial protocol of controller/wire/rig-lines.ts played over an in-memory serial cable
// (controller/rig/serial-cable.ts: what the simulated day uses; nothing from the operating system) or over a
// pseudo-terminal pair made by socat (a real device path for `ephysloop simulate` against `ephysloop serve`, and
// the pty tests). The host (SerialRigBox) opens `hostPath`; this box opens `boxPath`. It ACKs EVT/REWARD,
// answers PING with PONG, emits FIX lines from a seeded fixation model, and records everything it received
// (ground truth for tests and the simulated day). unplug()/replug() pull and replug the cable, or kill/restart
// socat on the same paths.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SerialPortStream } from "@serialport/stream";
import { ReadlineParser, SerialPort } from "serialport";
import { EphysError } from "../../analysis/errors.ts";
import { mulberry32, type Random } from "../../analysis/random.ts";
import type { SerialCable } from "../rig/serial-cable.ts";
import { type BoxLine, formatBoxLine, type HostLine, LineError, parseHostLine } from "../wire/rig-lines.ts";

export class VirtualBoxError extends EphysError<"EPHYS_SOCAT" | "EPHYS_BAD_OPTION"> {}

export interface PtyPair {
  /** The end the host opens (socat's first address, link=A). */
  hostPath: string;
  /** The end the virtual box opens (link=B). */
  boxPath: string;
  /** Kills socat (SIGTERM) and waits for it to exit; socat removes both links. */
  stop(): Promise<void>;
  readonly process: ChildProcess;
}

const livingSocats = new Set<ChildProcess>();
let exitHookInstalled = false;
function killSocatsOnExit(): void {
  for (const child of livingSocats) child.kill("SIGTERM");
}

/**
 * Starts `socat -d -d pty,raw,echo=0,link=<hostPath> pty,raw,echo=0,link=<boxPath>` and resolves once both
 * links exist. Rejects with EPHYS_SOCAT (with socat's stderr) if socat exits first or the links do not appear.
 */
export function startPtyPair(hostPath: string, boxPath: string, timeoutMs = 5000): Promise<PtyPair> {
  if (!exitHookInstalled) {
    process.once("exit", killSocatsOnExit);
    exitHookInstalled = true;
  }
  const child = spawn(
    "socat",
    ["-d", "-d", `pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${boxPath}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  livingSocats.add(child);
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once("exit", () => {
      livingSocats.delete(child);
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  return new Promise<PtyPair>((resolve, reject) => {
    const t0 = Date.now();
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      void stop();
      reject(
        new VirtualBoxError("EPHYS_SOCAT", `socat pty pair ${hostPath} <-> ${boxPath}: ${why}\n${stderr}`),
      );
    };
    child.once("error", (err) => fail(`cannot start socat: ${err.message}`));
    child.once("exit", (code, signal) => fail(`socat exited early (code ${code}, signal ${signal})`));
    const poll = () => {
      if (done) return;
      // socat logs "starting data transfer loop" once both ptys are set up.
      if (existsSync(hostPath) && existsSync(boxPath) && stderr.includes("starting data transfer loop")) {
        done = true;
        resolve({ hostPath, boxPath, stop, process: child });
        return;
      }
      if (Date.now() - t0 > timeoutMs) {
        fail(`links did not appear within ${timeoutMs} ms`);
        return;
      }
      setTimeout(poll, 10);
    };
    poll();
  });
}

export interface FixationModelOptions {
  /** Rate of fixation breaks per second while fixating (Poisson); 0 = never breaks on its own. Default 0. */
  breakRatePerS?: number;
  /** Mean time to re-acquire fixation after a break (exponential, plus reacquireMinMs). Default 300 ms. */
  reacquireMeanMs?: number;
  /** Shortest re-acquisition after a break; default 100 ms (smaller in a sped-up simulation). */
  reacquireMinMs?: number;
  /** Seed of the PRNG driving breaks and re-acquisitions. Default 1. */
  seed?: number;
}

export interface VirtualRigBoxOptions {
  /** Play the box over this in-memory cable (no socat); hostPath/boxPath are then the cable's. */
  cable?: SerialCable;
  /** Paths of the pty links; default: hostPath/boxPath in a fresh temporary directory. */
  hostPath?: string;
  boxPath?: string;
  fixation?: FixationModelOptions;
  /** Delay before each ACK/PONG (default 0). */
  replyDelayMs?: number;
  /**
   * While the fixation model runs, the current state is re-sent this often (ms; 0 = only transitions), so a
   * host that opens the port late (or reconnects) learns the state without waiting for a transition.
   * Default 1000.
   */
  heartbeatMs?: number;
}

export type ReceivedLine =
  | { atMs: number; line: HostLine }
  | { atMs: number; line: { kind: "bad"; text: string; error: string } };

export class VirtualRigBox {
  readonly hostPath: string;
  readonly boxPath: string;
  /** Every host line the box received, in order, with box time in ms. */
  readonly received: ReceivedLine[] = [];
  /** Listeners of every host line the box received (the Open Ephys emulator takes EVT codes from here). */
  private readonly lineListeners = new Set<(line: ReceivedLine) => void>();
  /** Every FIX line the box sent. */
  readonly fixationsSent: Array<{ fixating: boolean; boxMs: number }> = [];
  /** When false the box swallows EVT/REWARD/PING without answering (to test timeouts). */
  responding = true;

  private pair: PtyPair | null = null;
  private readonly cable: SerialCable | null;
  private cablePlugged = false;
  private port: SerialPortStream | null = null;
  private readonly t0 = performance.now();
  private readonly random: Random;
  private readonly breakRatePerS: number;
  private readonly reacquireMeanMs: number;
  private readonly reacquireMinMs: number;
  private readonly replyDelayMs: number;
  private readonly heartbeatMs: number;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private fixating = true;
  private auto = false;
  private fixTimer: NodeJS.Timeout | null = null;
  private tempDir: string | null = null;

  private constructor(
    hostPath: string,
    boxPath: string,
    options: VirtualRigBoxOptions,
    tempDir: string | null,
  ) {
    this.hostPath = hostPath;
    this.boxPath = boxPath;
    this.tempDir = tempDir;
    this.cable = options.cable ?? null;
    const fix = options.fixation ?? {};
    this.breakRatePerS = fix.breakRatePerS ?? 0;
    this.reacquireMeanMs = fix.reacquireMeanMs ?? 300;
    this.reacquireMinMs = fix.reacquireMinMs ?? 100;
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    if (!(this.breakRatePerS >= 0))
      throw new VirtualBoxError(
        "EPHYS_BAD_OPTION",
        `fixation.breakRatePerS: expected ≥ 0, found ${this.breakRatePerS}`,
      );
    if (!(this.reacquireMeanMs > 0))
      throw new VirtualBoxError(
        "EPHYS_BAD_OPTION",
        `fixation.reacquireMeanMs: expected > 0, found ${this.reacquireMeanMs}`,
      );
    this.random = mulberry32(fix.seed ?? 1);
  }

  /** Starts socat and opens the box end. The host may open `hostPath` as soon as this resolves. */
  static async start(options: VirtualRigBoxOptions = {}): Promise<VirtualRigBox> {
    let tempDir: string | null = null;
    let hostPath = options.cable?.hostPath ?? options.hostPath;
    let boxPath = options.cable?.boxPath ?? options.boxPath;
    if (!hostPath || !boxPath) {
      tempDir = mkdtempSync(join(tmpdir(), "ephys-vbox-"));
      hostPath ??= join(tempDir, "host");
      boxPath ??= join(tempDir, "box");
    }
    const box = new VirtualRigBox(hostPath, boxPath, options, tempDir);
    await box.replug();
    return box;
  }

  /** Call `listener` with every well-formed host line from now on; returns the unsubscribe. */
  onHostLine(listener: (line: ReceivedLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** EVT codes received, in order. */
  get events(): number[] {
    return this.received.flatMap((r) => (r.line.kind === "evt" ? [r.line.code] : []));
  }

  /** REWARD durations (ms) received, in order. */
  get rewards(): number[] {
    return this.received.flatMap((r) => (r.line.kind === "reward" ? [r.line.ms] : []));
  }

  get plugged(): boolean {
    return this.pair !== null || this.cablePlugged;
  }

  /** Box clock: ms since the box started. */
  now(): number {
    return Math.round(performance.now() - this.t0);
  }

  /** Sets the fixation state and sends `FIX <0|1> <box ms>` (always, even if unchanged). */
  setFixating(fixating: boolean): void {
    this.fixating = fixating;
    this.sendFix();
    if (this.auto) this.scheduleFixation();
  }

  /**
   * Runs the fixation model (breaks at breakRatePerS, re-acquires after ~reacquireMeanMs): sends the current
   * state now, every transition, and the state again every heartbeatMs.
   */
  startFixationModel(): void {
    this.auto = true;
    this.sendFix();
    this.scheduleFixation();
    if (this.heartbeatMs > 0 && !this.heartbeatTimer)
      this.heartbeatTimer = setInterval(() => this.sendFix(), this.heartbeatMs);
  }

  stopFixationModel(): void {
    this.auto = false;
    if (this.fixTimer) clearTimeout(this.fixTimer);
    this.fixTimer = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Writes a raw line (a newline is appended) — for tests that need a malformed line. */
  sendRaw(line: string): void {
    this.port?.write(`${line}\n`);
  }

  /** Pulls the cable (or kills socat: both links disappear): the host sees its device vanish. */
  async unplug(): Promise<void> {
    const pair = this.pair;
    const port = this.port;
    this.pair = null;
    this.port = null;
    if (port) {
      port.removeAllListeners();
      port.on("error", () => {});
    }
    if (this.cablePlugged) {
      this.cablePlugged = false;
      this.cable?.unplug();
    }
    if (pair) await pair.stop();
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** Plugs the cable back in (or restarts socat on the same link paths) and opens the box end. */
  async replug(): Promise<void> {
    if (this.plugged) return;
    if (this.cable) {
      const cable = this.cable;
      cable.replug();
      const port = await new Promise<SerialPortStream>((resolve, reject) => {
        const p = new SerialPortStream({
          binding: cable.binding,
          path: cable.boxPath,
          baudRate: 115200,
          autoOpen: false,
        });
        p.open((err) => (err ? reject(err) : resolve(p)));
      });
      this.listen(port);
      this.cablePlugged = true;
      return;
    }
    const pair = await startPtyPair(this.hostPath, this.boxPath);
    const port = await new Promise<SerialPort>((resolve, reject) => {
      const p = new SerialPort({ path: pair.boxPath, baudRate: 115200, autoOpen: false });
      p.open((err) => (err ? reject(err) : resolve(p)));
    }).catch(async (err: unknown) => {
      await pair.stop();
      throw new VirtualBoxError("EPHYS_SOCAT", `cannot open virtual box end ${pair.boxPath}: ${String(err)}`);
    });
    this.listen(port);
    this.pair = pair;
  }

  private listen(port: SerialPortStream): void {
    port.on("error", () => {});
    const parser = port.pipe(new ReadlineParser({ delimiter: "\n", encoding: "latin1" }));
    parser.on("data", (line: string) => this.onLine(line));
    this.port = port;
  }

  /** Stops the model, closes the box end, pulls the cable or kills socat, removes the temporary directory. */
  async close(): Promise<void> {
    this.stopFixationModel();
    await this.unplug();
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    this.tempDir = null;
  }

  private onLine(raw: string): void {
    if (raw.replace(/\r$/, "").trim() === "") return;
    let line: HostLine;
    try {
      line = parseHostLine(raw);
    } catch (err) {
      const error = err instanceof LineError ? err.message : String(err);
      this.received.push({ atMs: this.now(), line: { kind: "bad", text: raw, error } });
      this.reply({ kind: "err", text: `${raw.trim()} ${error}` });
      return;
    }
    const received = { atMs: this.now(), line };
    this.received.push(received);
    for (const l of this.lineListeners) l(received);
    if (!this.responding) return;
    if (line.kind === "evt") this.reply({ kind: "ack", command: `EVT ${line.code}` });
    else if (line.kind === "reward") this.reply({ kind: "ack", command: `REWARD ${line.ms}` });
    else this.reply({ kind: "pong", n: line.n });
  }

  private reply(line: BoxLine): void {
    const send = () => this.port?.write(formatBoxLine(line));
    if (this.replyDelayMs > 0) setTimeout(send, this.replyDelayMs);
    else send();
  }

  private sendFix(): void {
    const boxMs = this.now();
    this.fixationsSent.push({ fixating: this.fixating, boxMs });
    this.port?.write(formatBoxLine({ kind: "fix", fixating: this.fixating, boxMs }));
  }

  private scheduleFixation(): void {
    if (this.fixTimer) clearTimeout(this.fixTimer);
    this.fixTimer = null;
    if (!this.auto) return;
    let waitMs: number;
    if (this.fixating) {
      if (this.breakRatePerS === 0) return;
      waitMs = (-Math.log(1 - this.random()) / this.breakRatePerS) * 1000;
    } else {
      waitMs = this.reacquireMinMs - Math.log(1 - this.random()) * this.reacquireMeanMs;
    }
    this.fixTimer = setTimeout(() => {
      this.fixTimer = null;
      this.fixating = !this.fixating;
      this.sendFix();
      this.scheduleFixation();
    }, waitMs);
  }
}
