// The rig box on a serial line (115200 8N1, "\n"-terminated text; protocol in controller/wire/rig-lines.ts).
// This class owns the I/O: opening, writing commands and matching their ACK/PONG, reporting fixation,
// and reconnecting when the device disappears. Parsing stays in rig-lines.ts.
// Over 400 lines: one state machine over one serial link (open, command/ACK matching, pings, loss, reconnect);
// its parts share the pending-command and link state.
import { stat } from "node:fs";
import { performance } from "node:perf_hooks";
import { SerialPortStream } from "@serialport/stream";
import { ReadlineParser, SerialPort } from "serialport";
import { EphysError } from "../../analysis/errors.ts";
import {
  type BoxLine,
  formatHostLine,
  type HostCommand,
  LineError,
  parseBoxLine,
} from "../wire/rig-lines.ts";
import { BoxClock } from "./box-clock.ts";
import { type BoxSettings, settingsCommands, settingsProblem } from "./box-settings.ts";
import type { BindingInterface } from "./serial-binding.ts";
import { TypedEmitter } from "./typed-emitter.ts";

export type RigBoxStatus = "connected" | "lost";

export type RigBoxEvents = {
  /**
   * The subject started (true) or stopped (false) fixating at `boxMs` on the box's clock. Emitted on a change
   * of state only: a FIX line repeating the known state (a box heartbeat) is not re-emitted; the first FIX
   * after open or a reconnect always is.
   */
  fixation: [fixating: boolean, boxMs: number];
  /** The link came up again ("connected") or went away ("lost"); `reason` is a sentence for the operator. */
  status: [status: RigBoxStatus, reason: string];
  /** A line that could not be parsed, an unexpected ACK/PONG, or an ERR line from the box. Never fatal. */
  warning: [text: string];
  /**
   * The box's protocol version is known: from its HELLO line (version 2 boxes send one at reset and when asked),
   * or 1 when it answered the host's HELLO with ERR or not at all. `info` names the firmware ("" for version 1).
   */
  hello: [version: number, info: string];
  /** An eye sample from the box's stream (version 2): degrees after calibration, the raw inputs in mV. */
  eye: [sample: { xDeg: number; yDeg: number; boxMs: number; xMv: number; yMv: number }];
  /** The photodiode went on (true) or off at `boxMs` (version 2); the first PD line after a reset gives the state. */
  photodiode: [on: boolean, boxMs: number];
};

export interface SerialRigBoxOptions {
  /** Device path, e.g. /dev/ttyACM0 (or a socat pty link for the virtual rig). */
  path: string;
  /** Default 115200 (8 data bits, no parity, 1 stop bit). */
  baudRate?: number;
  /** How long an EVT/REWARD waits for its ACK (and a PING for its PONG) before rejecting; default 500 ms. */
  commandTimeoutMs?: number;
  /** Delay between reopen attempts after the device disappeared; default 500 ms. */
  reconnectIntervalMs?: number;
  /**
   * How often the device path is checked while connected; default 250 ms. A vanished path (USB unplug, socat
   * killed) or a path now naming another device counts as a disconnect. Needed because a pty whose other end
   * went away reads 0 bytes forever in serialport's binding instead of failing.
   */
  watchIntervalMs?: number;
  /**
   * The serialport binding to open `path` with; default the operating system's (serialport's bindings-cpp). The
   * simulated day passes an in-memory cable (serial-cable.ts); such a binding reports a vanished peer as a read
   * error itself, so the path is not watched.
   */
  binding?: BindingInterface;
  /**
   * How often a version 2 box is pinged to map its clock onto the daemon's (`clock`); default 1000 ms, 0 = never
   * (each ping() still adds a sample).
   */
  syncIntervalMs?: number;
}

/** Errors from the rig box carry a stable `code`. */
export class RigBoxError extends EphysError<
  | "EPHYS_RIG_TIMEOUT"
  | "EPHYS_RIG_DISCONNECTED"
  | "EPHYS_RIG_OPEN"
  | "EPHYS_RIG_ERROR"
  | "EPHYS_RIG_CLOSED"
  | "EPHYS_RIG_UNSUPPORTED"
  | "EPHYS_BAD_OPTION"
> {}

interface PendingCommand {
  text: string;
  verb: string;
  /** With the box time the command took effect, when the box says it (version 2 "ACK … @<ms>"). */
  resolve: (boxMs: number | undefined) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingPing {
  t0: number;
  sentMs: number;
  resolve: (rttMs: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type LinkState = "idle" | "opening" | "connected" | "lost" | "closed";

function checkPositive(name: string, value: number, integer: boolean): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new RigBoxError(
      "EPHYS_BAD_OPTION",
      `SerialRigBox option ${name}: expected a positive ${integer ? "integer" : "number"}, found ${String(value)}`,
    );
  return value;
}

export class SerialRigBox {
  readonly path: string;
  readonly baudRate: number;
  readonly commandTimeoutMs: number;
  readonly reconnectIntervalMs: number;
  readonly watchIntervalMs: number;
  private readonly binding?: BindingInterface;
  readonly syncIntervalMs: number;
  /** The box's clock on the daemon's (version 2 boxes: PONG carries the box time). */
  readonly clock = new BoxClock();

  private readonly emitter = new TypedEmitter<RigBoxEvents>();
  private port: SerialPortStream | null = null;
  private state: LinkState = "idle";
  private commands: PendingCommand[] = [];
  private pings = new Map<number, PendingPing>();
  private pingCounter = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastReconnectError = "";
  private lastFixating: boolean | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private boxVersion: number | null = null;
  private helloTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private readonly desired: BoxSettings = {};

  constructor(options: SerialRigBoxOptions) {
    if (typeof options.path !== "string" || options.path.length === 0)
      throw new RigBoxError(
        "EPHYS_BAD_OPTION",
        `SerialRigBox option path: expected a device path, found ${JSON.stringify(options.path)}`,
      );
    this.path = options.path;
    this.baudRate = checkPositive("baudRate", options.baudRate ?? 115200, true);
    this.commandTimeoutMs = checkPositive("commandTimeoutMs", options.commandTimeoutMs ?? 500, false);
    this.reconnectIntervalMs = checkPositive(
      "reconnectIntervalMs",
      options.reconnectIntervalMs ?? 500,
      false,
    );
    this.watchIntervalMs = checkPositive("watchIntervalMs", options.watchIntervalMs ?? 250, false);
    this.binding = options.binding;
    const sync = options.syncIntervalMs ?? 1000;
    this.syncIntervalMs = sync === 0 ? 0 : checkPositive("syncIntervalMs", sync, false);
  }

  on<K extends keyof RigBoxEvents>(event: K, listener: (...args: RigBoxEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  off<K extends keyof RigBoxEvents>(event: K, listener: (...args: RigBoxEvents[K]) => void): void {
    this.emitter.off(event, listener);
  }

  /** True while the device is open. */
  get connected(): boolean {
    return this.state === "connected";
  }

  /** Opens the device. Rejects with EPHYS_RIG_OPEN if it cannot be opened now (no retry for the first open). */
  async open(): Promise<void> {
    if (this.state !== "idle")
      throw new RigBoxError(
        "EPHYS_RIG_OPEN",
        `rig box ${this.path}: open() called twice (state ${this.state})`,
      );
    this.state = "opening";
    try {
      const { port, rdev } = await this.openPort();
      if (this.state !== "opening") {
        await closeQuietly(port);
        throw new RigBoxError("EPHYS_RIG_CLOSED", `rig box ${this.path} was closed while opening`);
      }
      this.attach(port, rdev);
    } catch (err) {
      if (this.state === "opening") this.state = "idle";
      if (err instanceof RigBoxError) throw err;
      throw new RigBoxError("EPHYS_RIG_OPEN", `cannot open rig box ${this.path}: ${errorText(err)}`);
    }
  }

  /**
   * The protocol version of the box on this connection: 1 or 2, null until known (and while disconnected).
   */
  get version(): number | null {
    return this.boxVersion;
  }

  /**
   * Sets the eye calibration, fixation window, EYE stream or photodiode thresholds of a version 2 box. The
   * settings are kept and sent again whenever the box says HELLO (it reset, or the link came back). Resolves when
   * the box acknowledged them, or at once when the box is not connected or its version not known yet (they go
   * out with the HELLO). Rejects EPHYS_BAD_OPTION naming a bad field (nothing is kept or sent),
   * EPHYS_RIG_UNSUPPORTED when the box speaks version 1 (kept for a later version 2 box).
   */
  async configure(settings: BoxSettings): Promise<void> {
    const problem = settingsProblem(settings);
    if (problem) throw new RigBoxError("EPHYS_BAD_OPTION", `rig box settings ${problem}`);
    Object.assign(this.desired, settings);
    if (this.state !== "connected" || this.boxVersion === null) return;
    if (this.boxVersion < 2)
      throw new RigBoxError(
        "EPHYS_RIG_UNSUPPORTED",
        `rig box ${this.path} speaks protocol version ${this.boxVersion}; calibration, window, stream and ` +
          "photodiode settings need version 2 (firmware/rigbox)",
      );
    for (const c of settingsCommands(settings)) await this.command(c);
  }

  /** The settings configure() keeps for the box. */
  get settings(): Readonly<BoxSettings> {
    return this.desired;
  }

  /** Sends `EVT <code>` (0..65535); resolves on the box's ACK. */
  sendEvent(code: number): Promise<void> {
    if (!Number.isInteger(code) || code < 0 || code > 65535)
      return Promise.reject(
        new RigBoxError(
          "EPHYS_BAD_OPTION",
          `rig box event code: expected an integer 0..65535, found ${code}`,
        ),
      );
    return this.command({ kind: "evt", code }).then(() => {});
  }

  /**
   * As sendEvent, resolving with the box time of the word's first strobe (version 2), or undefined from a
   * version 1 box.
   */
  sendEventTimed(code: number): Promise<number | undefined> {
    if (!Number.isInteger(code) || code < 0 || code > 65535)
      return Promise.reject(
        new RigBoxError(
          "EPHYS_BAD_OPTION",
          `rig box event code: expected an integer 0..65535, found ${code}`,
        ),
      );
    return this.command({ kind: "evt", code });
  }

  /** Sends `REWARD <ms>` (0..10000, rounded); resolves on the box's ACK (the box opens the valve itself). */
  reward(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0 || ms > 10_000)
      return Promise.reject(
        new RigBoxError("EPHYS_BAD_OPTION", `rig box reward: expected 0..10000 ms, found ${ms}`),
      );
    return this.command({ kind: "reward", ms: Math.round(ms) }).then(() => {});
  }

  /** Sends `PING <n>`; resolves with the round trip in ms when `PONG <n>` arrives. */
  ping(): Promise<number> {
    const n = ++this.pingCounter;
    const line = formatHostLine({ kind: "ping", n });
    return new Promise<number>((resolve, reject) => {
      if (!this.port || this.state !== "connected") {
        reject(this.notConnected(`PING ${n}`));
        return;
      }
      const timer = setTimeout(() => {
        this.pings.delete(n);
        reject(
          new RigBoxError(
            "EPHYS_RIG_TIMEOUT",
            `rig box ${this.path} did not answer "PING ${n}" within ${this.commandTimeoutMs} ms`,
          ),
        );
      }, this.commandTimeoutMs);
      this.pings.set(n, { t0: performance.now(), sentMs: nowMs(), resolve, reject, timer });
      this.port.write(line);
    });
  }

  /** Stops everything: closes the device, stops reconnecting, rejects pending commands with EPHYS_RIG_CLOSED. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopWatch();
    this.forgetVersion();
    this.rejectAll(new RigBoxError("EPHYS_RIG_CLOSED", `rig box ${this.path} was closed`));
    const port = this.port;
    this.port = null;
    if (port) {
      port.removeAllListeners();
      port.on("error", () => {});
      await closeQuietly(port);
    }
    this.emitter.removeAll();
  }

  private command(host: HostCommand): Promise<number | undefined> {
    const text = formatHostLine(host).trimEnd();
    return new Promise<number | undefined>((resolve, reject) => {
      if (!this.port || this.state !== "connected") {
        reject(this.notConnected(text));
        return;
      }
      const pending: PendingCommand = {
        text,
        verb: text.split(" ")[0],
        resolve,
        reject,
        timer: setTimeout(() => {
          this.removeCommand(pending);
          reject(
            new RigBoxError(
              "EPHYS_RIG_TIMEOUT",
              `rig box ${this.path} did not ACK "${text}" within ${this.commandTimeoutMs} ms`,
            ),
          );
        }, this.commandTimeoutMs),
      };
      this.commands.push(pending);
      this.port.write(`${text}\n`);
    });
  }

  private notConnected(text: string): RigBoxError {
    if (this.state === "closed")
      return new RigBoxError("EPHYS_RIG_CLOSED", `rig box ${this.path} is closed; "${text}" not sent`);
    return new RigBoxError(
      "EPHYS_RIG_DISCONNECTED",
      `rig box ${this.path} is not connected; "${text}" not sent`,
    );
  }

  private removeCommand(pending: PendingCommand): void {
    const i = this.commands.indexOf(pending);
    if (i >= 0) this.commands.splice(i, 1);
  }

  /** Opens the device and records which device the path names (its rdev) for the watch. */
  private openPort(): Promise<{ port: SerialPortStream; rdev: number | null }> {
    return new Promise<{ port: SerialPortStream; rdev: number | null }>((resolve, reject) => {
      const settings = {
        path: this.path,
        baudRate: this.baudRate,
        dataBits: 8,
        parity: "none",
        stopBits: 1,
        autoOpen: false,
      } as const;
      const port = this.binding
        ? new SerialPortStream({ ...settings, binding: this.binding })
        : new SerialPort(settings);
      port.open((err) => {
        if (err) {
          reject(err);
          return;
        }
        if (this.binding) {
          resolve({ port, rdev: null });
          return;
        }
        stat(this.path, (statErr, st) => {
          if (statErr) {
            void closeQuietly(port);
            reject(statErr);
          } else resolve({ port, rdev: st.rdev });
        });
      });
    });
  }

  private attach(port: SerialPortStream, rdev: number | null): void {
    this.port = port;
    this.state = "connected";
    this.lastFixating = null;
    if (rdev !== null) this.startWatch(port, rdev);
    const parser = port.pipe(new ReadlineParser({ delimiter: "\n", encoding: "latin1" }));
    parser.on("data", (line: string) => {
      if (this.port === port) this.onLine(line);
    });
    this.askVersion(port);
    port.on("close", (err: Error | null) => {
      if (this.port === port) this.onLoss(err ? errorText(err) : "port closed");
    });
    port.on("error", (err: Error) => {
      if (this.port === port) this.onLoss(errorText(err));
    });
    port.on("end", () => {
      if (this.port === port) this.onLoss("end of stream");
    });
  }

  private onLine(raw: string): void {
    if (raw.replace(/\r$/, "").trim() === "") return;
    let line: BoxLine;
    try {
      line = parseBoxLine(raw);
    } catch (err) {
      const text = err instanceof LineError ? err.message : errorText(err);
      this.emitter.emit("warning", `rig box ${this.path}: ${text}`);
      return;
    }
    switch (line.kind) {
      case "fix":
        if (line.fixating === this.lastFixating) return;
        this.lastFixating = line.fixating;
        this.emitter.emit("fixation", line.fixating, line.boxMs);
        return;
      case "ack": {
        const pending =
          this.commands.find((c) => c.text === line.command) ??
          this.commands.find((c) => c.verb === line.command.split(" ")[0]);
        if (!pending) {
          this.emitter.emit(
            "warning",
            `rig box ${this.path}: unexpected "ACK ${line.command}" (late after a timeout?)`,
          );
          return;
        }
        this.removeCommand(pending);
        clearTimeout(pending.timer);
        pending.resolve(line.boxMs);
        return;
      }
      case "pong": {
        const pending = this.pings.get(line.n);
        if (!pending) {
          this.emitter.emit(
            "warning",
            `rig box ${this.path}: unexpected "PONG ${line.n}" (late after a timeout?)`,
          );
          return;
        }
        this.pings.delete(line.n);
        clearTimeout(pending.timer);
        const rtt = performance.now() - pending.t0;
        if (line.boxMs !== undefined)
          this.clock.add({ sentMs: pending.sentMs, receivedMs: pending.sentMs + rtt, boxMs: line.boxMs });
        pending.resolve(rtt);
        return;
      }
      case "hello":
        this.onHello(line.version, line.info);
        return;
      case "eye":
        this.emitter.emit("eye", {
          xDeg: line.xDeg,
          yDeg: line.yDeg,
          boxMs: line.boxMs,
          xMv: line.xMv,
          yMv: line.yMv,
        });
        return;
      case "pd":
        this.emitter.emit("photodiode", line.on, line.boxMs);
        return;
      case "err": {
        if (this.helloTimer && /^HELLO\b/.test(line.text)) {
          this.setVersion(1, ""); // a version 1 box refuses the HELLO it does not know
          return;
        }
        this.emitter.emit("warning", `rig box ${this.path} reported ERR: ${line.text}`);
        const pending = this.commands.find((c) => line.text.startsWith(c.text));
        if (pending) {
          this.removeCommand(pending);
          clearTimeout(pending.timer);
          pending.reject(
            new RigBoxError(
              "EPHYS_RIG_ERROR",
              `rig box ${this.path} refused "${pending.text}": ${line.text}`,
            ),
          );
        }
        return;
      }
    }
  }

  private startWatch(port: SerialPortStream, rdev: number): void {
    this.stopWatch();
    this.watchTimer = setInterval(() => {
      stat(this.path, (err, st) => {
        if (this.port !== port) return;
        if (err) this.onLoss(`device vanished (${(err as NodeJS.ErrnoException).code ?? err.message})`);
        else if (st.rdev !== rdev) this.onLoss("the path now names another device");
      });
    }, this.watchIntervalMs);
  }

  private stopWatch(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
  }

  private onLoss(reason: string): void {
    if (this.state !== "connected") return;
    this.state = "lost";
    this.lastFixating = null;
    this.stopWatch();
    this.forgetVersion();
    const port = this.port;
    this.port = null;
    if (port) {
      port.removeAllListeners();
      port.on("error", () => {});
      if (port.isOpen) void closeQuietly(port);
    }
    const text = `rig box ${this.path} disconnected: ${reason}`;
    this.rejectAll(new RigBoxError("EPHYS_RIG_DISCONNECTED", text));
    this.emitter.emit("status", "lost", text);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state !== "lost") return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state !== "lost") return;
      this.openPort().then(
        ({ port, rdev }) => {
          if (this.state !== "lost") {
            void closeQuietly(port);
            return;
          }
          this.attach(port, rdev);
          this.lastReconnectError = "";
          this.emitter.emit("status", "connected", `rig box ${this.path} reconnected`);
        },
        (err: unknown) => {
          this.lastReconnectError = errorText(err);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectIntervalMs);
  }

  /** The last fixation state the box reported on this connection (null before the first FIX). */
  get fixating(): boolean | null {
    return this.lastFixating;
  }

  /** The last error from a reopen attempt while the link is lost ("" when none). */
  get reconnectError(): string {
    return this.lastReconnectError;
  }

  /** Asks the box which protocol it speaks; no answer within commandTimeoutMs (or ERR) means version 1. */
  private askVersion(port: SerialPortStream): void {
    this.helloTimer = setTimeout(() => {
      this.helloTimer = null;
      if (this.port === port && this.boxVersion === null) this.setVersion(1, "");
    }, this.commandTimeoutMs);
    port.write(formatHostLine({ kind: "hello" }));
  }

  private onHello(version: number, info: string): void {
    // A HELLO nobody asked for: the box reset (its clock restarted, its settings are back to defaults).
    this.clock.reset();
    this.setVersion(version, info);
  }

  private setVersion(version: number, info: string): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.boxVersion = version;
    this.emitter.emit("hello", version, info);
    if (version < 2) return;
    const commands = settingsCommands(this.desired);
    void (async () => {
      for (const c of commands)
        await this.command(c).catch((err: unknown) =>
          this.emitter.emit("warning", `rig box ${this.path}: setting not applied: ${errorText(err)}`),
        );
    })();
    this.startSync();
  }

  private startSync(): void {
    if (this.syncTimer || this.syncIntervalMs === 0) return;
    const sync = () => {
      this.ping().catch((err: unknown) => {
        if ((err as RigBoxError).code === "EPHYS_RIG_TIMEOUT")
          this.emitter.emit("warning", `rig box ${this.path}: clock sync: ${errorText(err)}`);
      });
    };
    sync();
    this.syncTimer = setInterval(sync, this.syncIntervalMs);
  }

  private forgetVersion(): void {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    this.boxVersion = null;
  }

  private rejectAll(err: RigBoxError): void {
    const commands = this.commands;
    this.commands = [];
    for (const c of commands) {
      clearTimeout(c.timer);
      c.reject(err);
    }
    const pings = [...this.pings.values()];
    this.pings.clear();
    for (const p of pings) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

/**
 * The daemon's clock, Date.now() (the display's onsets are on it too; performance.timeOrigin + performance.now()
 * can sit several ms away from it). Date.now() counts whole ms, so the true time is half a ms later on average;
 * the round trip itself is timed with performance.now().
 */
function nowMs(): number {
  return Date.now() + 0.5;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function closeQuietly(port: SerialPortStream): Promise<void> {
  return new Promise((resolve) => {
    if (!port.isOpen) {
      resolve();
      return;
    }
    port.close(() => resolve());
  });
}
