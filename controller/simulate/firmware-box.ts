// The rig box firmware (firmware/rigbox) running in simavr: builds it and its harness with make, starts the
// harness (the firmware's UART on a pseudo-terminal the host opens), drives its analog inputs (eye X, eye Y,
// photodiode) and records what the harness logs — port changes, host lines reaching the firmware, box lines
// leaving it, conversions — with their cycle stamps (16 per microsecond). Tests, bench/rigbox.ts and the
// simulated day use it where the virtual box would only play the protocol. Like an Arduino Uno, the box resets
// whenever the host opens the port (resets: their cycles).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { EphysError } from "../../analysis/errors.ts";

export const FIRMWARE_DIR = fileURLToPath(new URL("../../firmware/rigbox/", import.meta.url));
export const FIRMWARE_ELF = join(FIRMWARE_DIR, "build/uno/rigbox.elf");
export const HARNESS = join(FIRMWARE_DIR, "build/sim/rigbox-sim");
/** Cycles per millisecond of the simulated ATmega328P (16 MHz). */
export const CYCLES_PER_MS = 16_000;

/** The analog inputs as the firmware reads them (board.h). */
export const ADC = { eyeX: 0, eyeY: 1, photodiode: 2 } as const;

/** The Uno's pins as wired in docs/rig-box.md: word bits 0..5 on PD2..7, 6..7 on PB0..1; strobe PB2, valve PB3. */
export const WIRING = {
  word(portB: number, portD: number): number {
    return ((portD >> 2) & 0x3f) | ((portB & 0x03) << 6);
  },
  strobe: (portB: number) => (portB >> 2) & 1,
  valve: (portB: number) => (portB >> 3) & 1,
  led: (portB: number) => (portB >> 5) & 1,
};

export class FirmwareBoxError extends EphysError<"EPHYS_FIRMWARE_BUILD" | "EPHYS_FIRMWARE_SIM"> {}

export interface PortRecord {
  port: "B" | "C" | "D";
  cycle: number;
  value: number;
}
export interface LineRecord {
  cycle: number;
  line: string;
}
export interface AdcRecord {
  cycle: number;
  channel: number;
  mv: number;
}

const LOCK = join(FIRMWARE_DIR, "build/.lock");

/**
 * Builds the firmware and the harness with make (nothing happens when they are up to date). Parallel test
 * files share the build folder, so one build runs at a time (a lock directory; a lock older than a minute is
 * taken to be left over from a killed build). Rejects EPHYS_FIRMWARE_BUILD with make's output, naming the
 * Debian packages when a tool is missing.
 */
export async function buildFirmware(): Promise<void> {
  mkdirSync(join(FIRMWARE_DIR, "build"), { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > 60_000) rmSync(LOCK, { recursive: true });
      if (waited > 120_000) throw new FirmwareBoxError("EPHYS_FIRMWARE_BUILD", `${LOCK} held for 2 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    await new Promise<void>((resolve, reject) => {
      execFile("make", ["-C", FIRMWARE_DIR, "all", "harness"], (err, stdout, stderr) => {
        if (!err) return resolve();
        const text = `${stdout}${stderr}`.trim().split("\n").slice(-15).join("\n");
        const missing = /avr-gcc|simavr|sim_avr\.h|-lsimavr|make: not found|ENOENT/.test(
          `${text} ${err.message}`,
        );
        reject(
          new FirmwareBoxError(
            "EPHYS_FIRMWARE_BUILD",
            `make -C ${FIRMWARE_DIR} all harness failed${
              missing ? " (needs Debian's make gcc gcc-avr avr-libc simavr libsimavr-dev)" : ""
            }:\n${text || err.message}`,
          ),
        );
      });
    });
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export interface FirmwareBoxOptions {
  /** Log every conversion (ADC records); needed to tell which sample a FIX or PD line came from. */
  logAdc?: boolean;
  /** Where the pty link goes (default: a fresh temporary folder). */
  hostPath?: string;
  /** Initial analog inputs in mV (default: the eye at 2500/2500 mV, the photodiode dark at 0). */
  analog?: Partial<Record<keyof typeof ADC, number>>;
}

type Events = {
  port: [PortRecord];
  rx: [LineRecord];
  tx: [LineRecord];
  adc: [AdcRecord];
  reset: [number];
  hangup: [number];
  exit: [string];
};

export class FirmwareBox {
  readonly ports: PortRecord[] = [];
  readonly rx: LineRecord[] = [];
  readonly tx: LineRecord[] = [];
  readonly adc: AdcRecord[] = [];
  /** Cycles at which the firmware restarted (the host opened the port). */
  readonly resets: number[] = [];
  /** Cycles at which the harness saw the host close the port. */
  readonly hangups: number[] = [];
  /** Inputs scheduled for a cycle the simulation had passed when the command arrived (applied at `at`). */
  readonly late: Array<{ at: number; wanted: number }> = [];
  /** What the harness wrote to stderr (simavr's warnings). */
  stderr = "";
  private readonly events = new EventEmitter();
  private nowWaiters: Array<(cycle: number) => void> = [];
  private exited: Promise<void>;
  private constructor(
    private readonly child: ChildProcess,
    readonly hostPath: string,
    readonly ptyPath: string,
    private readonly tempDir: string | null,
  ) {
    this.exited = new Promise((r) => child.once("exit", () => r()));
  }

  /** Builds (if needed) and starts the simulated box; resolves once its pty exists. */
  static async start(o: FirmwareBoxOptions = {}): Promise<FirmwareBox> {
    await buildFirmware();
    const tempDir = o.hostPath ? null : mkdtempSync(join(tmpdir(), "ephys-rigbox-"));
    const hostPath = o.hostPath ?? join(tempDir!, "rigbox");
    const args = ["--link", hostPath, ...(o.logAdc ? ["--log-adc"] : []), FIRMWARE_ELF];
    const child = spawn(HARNESS, args, { stdio: ["pipe", "pipe", "pipe"] });
    livingHarnesses.add(child);
    child.once("exit", () => livingHarnesses.delete(child));
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (c: string) => {
      stderr = (stderr + c).slice(-8000);
      if (box) box.stderr = stderr;
    });
    let box: FirmwareBox | undefined;
    const lines = createInterface({ input: child.stdout! });
    const ready = new Promise<string>((resolve, reject) => {
      child.once("exit", (code) =>
        reject(
          new FirmwareBoxError("EPHYS_FIRMWARE_SIM", `rigbox-sim exited (${code}) before READY: ${stderr}`),
        ),
      );
      lines.on("line", (line) => {
        if (line.startsWith("READY ")) resolve(line.split(" ")[1]);
        else box?.onRecord(line);
      });
    });
    const ptyPath = await ready;
    box = new FirmwareBox(child, hostPath, ptyPath, tempDir);
    box.stderr = stderr;
    const a = { eyeX: 2500, eyeY: 2500, photodiode: 0, ...o.analog };
    for (const [name, mv] of Object.entries(a)) box.setAnalog(ADC[name as keyof typeof ADC], mv);
    return box;
  }

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return () => this.events.off(event, listener as (...args: unknown[]) => void);
  }

  /** Sets analog input `channel` (0..7) to `mv` now. */
  setAnalog(channel: number, mv: number): void {
    this.write(`adc ${channel} ${Math.round(mv)}`);
  }

  /** Sets analog input `channel` to `mv` at simulated `cycle` (calls in cycle order). */
  setAnalogAt(cycle: number, channel: number, mv: number): void {
    this.write(`at ${Math.round(cycle)} adc ${channel} ${Math.round(mv)}`);
  }

  /** The simulated cycle now (the harness answers within 100 µs of simulated time). */
  now(): Promise<number> {
    return new Promise((resolve) => {
      this.nowWaiters.push(resolve);
      this.write("now");
    });
  }

  /** Resolves with the first record (already seen or to come) that matches; rejects after `timeoutMs`. */
  waitFor<K extends "port" | "rx" | "tx" | "adc">(
    kind: K,
    match: (r: Events[K][0]) => boolean,
    timeoutMs = 5000,
  ): Promise<Events[K][0]> {
    const records: Record<"port" | "rx" | "tx" | "adc", unknown[]> = {
      port: this.ports,
      rx: this.rx,
      tx: this.tx,
      adc: this.adc,
    };
    const seen = (records[kind] as Array<Events[K][0]>).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${kind} record matched within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(kind, ((r: Events[K][0]) => {
        if (!match(r)) return;
        clearTimeout(timer);
        off();
        resolve(r);
      }) as (...args: Events[K]) => void);
    });
  }

  /** The port's value just after `cycle` (the last change at or before it). */
  portAt(port: "B" | "C" | "D", cycle: number): number {
    let v = 0;
    for (const r of this.ports) {
      if (r.cycle > cycle) break;
      if (r.port === port) v = r.value;
    }
    return v;
  }

  /**
   * The box millisecond at `cycle`: the firmware starts one chain of conversions (eye X first) per tick and
   * stamps it with the tick count, so the n-th eye-X conversion since the last reset is box ms n (needs logAdc).
   */
  boxMsAt(cycle: number): number {
    const since = this.resets.filter((c) => c <= cycle).at(-1) ?? 0;
    return this.adc.filter((r) => r.channel === ADC.eyeX && r.cycle >= since && r.cycle <= cycle).length;
  }

  /** The box millisecond of the sample a conversion belongs to. */
  sampleMs(conversion: AdcRecord): number {
    return this.boxMsAt(conversion.cycle);
  }

  /**
   * The first conversion of `channel` (default eye X) at or after `cycle`: the first sample that holds an input
   * set at that cycle.
   */
  firstSampleAfter(cycle: number, channel: number = ADC.eyeX): AdcRecord | undefined {
    return this.adc.find((r) => r.channel === channel && r.cycle >= cycle);
  }

  /** Resolves once the harness has seen the host close the port (the next open resets the box). */
  hangup(timeoutMs = 5000): Promise<number> {
    const n = this.hangups.length;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`the harness did not see the port close within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on("hangup", (cycle) => {
        if (this.hangups.length <= n) return;
        clearTimeout(timer);
        off();
        resolve(cycle);
      });
    });
  }

  /** Stops the harness (it removes its pty link) and the temporary folder. */
  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      this.write("quit");
      const timer = setTimeout(() => this.child.kill("SIGTERM"), 2000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }

  private write(command: string): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${command}\n`);
  }

  private onRecord(line: string): void {
    const [kind, ...rest] = line.split(" ");
    switch (kind) {
      case "PORT": {
        const r: PortRecord = {
          port: rest[0] as PortRecord["port"],
          cycle: Number(rest[1]),
          value: Number.parseInt(rest[2], 16),
        };
        this.ports.push(r);
        this.events.emit("port", r);
        return;
      }
      case "RX":
      case "TX": {
        const r: LineRecord = { cycle: Number(rest[0]), line: rest.slice(1).join(" ") };
        (kind === "RX" ? this.rx : this.tx).push(r);
        this.events.emit(kind === "RX" ? "rx" : "tx", r);
        return;
      }
      case "ADC": {
        const r: AdcRecord = { cycle: Number(rest[0]), channel: Number(rest[1]), mv: Number(rest[2]) };
        this.adc.push(r);
        this.events.emit("adc", r);
        return;
      }
      case "RESET":
        this.resets.push(Number(rest[0]));
        this.events.emit("reset", Number(rest[0]));
        return;
      case "HANGUP":
        this.hangups.push(Number(rest[0]));
        this.events.emit("hangup", Number(rest[0]));
        return;
      case "LATE":
        this.late.push({ at: Number(rest[0]), wanted: Number(rest[1]) });
        return;
      case "NOW":
        this.nowWaiters.shift()?.(Number(rest[0]));
        return;
      case "EXIT":
        this.events.emit("exit", line);
        return;
    }
  }
}

const livingHarnesses = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of livingHarnesses) child.kill("SIGTERM");
});
