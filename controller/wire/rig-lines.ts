// Rig box serial line protocol (115200 8N1, "\n"-terminated ASCII lines), docs/rig-box.md.
// Version 1 — host → box: EVT <code> | REWARD <ms> | PING <n>
//             box → host: FIX <0|1> <box ms> | ACK <cmd> | PONG <n> | ERR <text>
// Version 2 adds — host → box: HELLO | CAL <6 numbers> | WIN <x> <y> <r> [<samples>] | STREAM <ms> |
//                              PDTHR <on mV> <off mV>
//                  box → host: HELLO <version> <firmware…> | EYE <x deg> <y deg> <box ms> <x mV> <y mV> |
//                              PD <0|1> <box ms>; ACK may end in "@<box ms>" (when the command took effect) and
//                              PONG in the box time.
import { EphysError } from "../../analysis/errors.ts";

export type BoxLine =
  | { kind: "fix"; fixating: boolean; boxMs: number }
  | { kind: "ack"; command: string; boxMs?: number }
  | { kind: "pong"; n: number; boxMs?: number }
  | { kind: "err"; text: string }
  | { kind: "hello"; version: number; info: string }
  | { kind: "eye"; xDeg: number; yDeg: number; boxMs: number; xMv: number; yMv: number }
  | { kind: "pd"; on: boolean; boxMs: number };

/** What a version 1 box understands (parseHostLine reads these, for the virtual box). */
export type HostLine =
  | { kind: "evt"; code: number }
  | { kind: "reward"; ms: number }
  | { kind: "ping"; n: number };

/** The affine eye calibration: x = ax·u + bx·v + cx, y = ay·u + by·v + cy (u, v: eye inputs in volts; degrees). */
export type EyeMap = readonly [ax: number, bx: number, cx: number, ay: number, by: number, cy: number];

/** Every host command, version 2 included. */
export type HostCommand =
  | HostLine
  | { kind: "hello" }
  | { kind: "cal"; map: EyeMap }
  | { kind: "win"; xDeg: number; yDeg: number; radiusDeg: number; samples?: number }
  | { kind: "stream"; everyMs: number }
  | { kind: "pdthr"; onMv: number; offMv: number };

export class LineError extends EphysError<"EPHYS_BAD_SERIAL_LINE"> {
  constructor(
    readonly line: string,
    expected: string,
  ) {
    super(
      "EPHYS_BAD_SERIAL_LINE",
      `bad rig box line ${JSON.stringify(line.slice(0, 80))}: expected ${expected}`,
    );
  }
}

const int = /^-?\d+$/;
const decimal = /^-?\d+(\.\d+)?$/;
const at = /^@\d+$/;

/** Parse one line from the box (without its newline). Throws LineError naming the line and what was expected. */
export function parseBoxLine(raw: string): BoxLine {
  const line = raw.replace(/\r$/, "").trim();
  const [word, ...rest] = line.split(/\s+/);
  switch (word) {
    case "FIX":
      if (rest.length !== 2 || !/^[01]$/.test(rest[0]) || !int.test(rest[1]))
        throw new LineError(line, "FIX <0|1> <box ms>");
      return { kind: "fix", fixating: rest[0] === "1", boxMs: Number(rest[1]) };
    case "ACK": {
      const timed = rest.length > 0 && at.test(rest[rest.length - 1]);
      const command = timed ? rest.slice(0, -1) : rest;
      if (command.length === 0) throw new LineError(line, "ACK <command> [@<box ms>]");
      if (!timed) return { kind: "ack", command: command.join(" ") };
      return { kind: "ack", command: command.join(" "), boxMs: Number(rest[rest.length - 1].slice(1)) };
    }
    case "PONG":
      if (rest.length < 1 || rest.length > 2 || !rest.every((r) => int.test(r)))
        throw new LineError(line, "PONG <n> [<box ms>]");
      if (rest.length === 1) return { kind: "pong", n: Number(rest[0]) };
      return { kind: "pong", n: Number(rest[0]), boxMs: Number(rest[1]) };
    case "ERR":
      return { kind: "err", text: rest.join(" ") };
    case "HELLO":
      if (rest.length < 1 || !/^\d+$/.test(rest[0]) || Number(rest[0]) < 1)
        throw new LineError(line, "HELLO <protocol version ≥ 1> <firmware…>");
      return { kind: "hello", version: Number(rest[0]), info: rest.slice(1).join(" ") };
    case "EYE":
      if (
        rest.length !== 5 ||
        !decimal.test(rest[0]) ||
        !decimal.test(rest[1]) ||
        !rest.slice(2).every((r) => /^\d+$/.test(r))
      )
        throw new LineError(line, "EYE <x deg> <y deg> <box ms> <x mV> <y mV>");
      return {
        kind: "eye",
        xDeg: Number(rest[0]),
        yDeg: Number(rest[1]),
        boxMs: Number(rest[2]),
        xMv: Number(rest[3]),
        yMv: Number(rest[4]),
      };
    case "PD":
      if (rest.length !== 2 || !/^[01]$/.test(rest[0]) || !int.test(rest[1]))
        throw new LineError(line, "PD <0|1> <box ms>");
      return { kind: "pd", on: rest[0] === "1", boxMs: Number(rest[1]) };
    default:
      throw new LineError(line, "one of FIX, ACK, PONG, ERR, HELLO, EYE, PD");
  }
}

/** Parse one host line (used by the virtual box). */
export function parseHostLine(raw: string): HostLine {
  const line = raw.replace(/\r$/, "").trim();
  const [word, arg, extra] = line.split(/\s+/);
  if (extra !== undefined || arg === undefined || !int.test(arg))
    throw new LineError(line, "EVT <code>, REWARD <ms> or PING <n>");
  const n = Number(arg);
  if (word === "EVT" && n >= 0 && n < 65536) return { kind: "evt", code: n };
  if (word === "REWARD" && n >= 0 && n <= 10_000) return { kind: "reward", ms: n };
  if (word === "PING") return { kind: "ping", n };
  throw new LineError(line, "EVT <0..65535>, REWARD <0..10000 ms> or PING <n>");
}

/** A number as the box's parser (strtod) reads it, with at most 7 significant digits. */
export function boxNumber(v: number): string {
  const text = String(Number(v.toPrecision(7)));
  return text === "-0" ? "0" : text;
}

export function formatHostLine(l: HostCommand): string {
  switch (l.kind) {
    case "evt":
      return `EVT ${l.code}\n`;
    case "reward":
      return `REWARD ${Math.round(l.ms)}\n`;
    case "ping":
      return `PING ${l.n}\n`;
    case "hello":
      return "HELLO\n";
    case "cal":
      return `CAL ${l.map.map(boxNumber).join(" ")}\n`;
    case "win":
      return `WIN ${boxNumber(l.xDeg)} ${boxNumber(l.yDeg)} ${boxNumber(l.radiusDeg)}${l.samples === undefined ? "" : ` ${l.samples}`}\n`;
    case "stream":
      return `STREAM ${Math.round(l.everyMs)}\n`;
    case "pdthr":
      return `PDTHR ${Math.round(l.onMv)} ${Math.round(l.offMv)}\n`;
  }
}

const fixed2 = (v: number) => (Math.round(v * 100) / 100).toFixed(2);

export function formatBoxLine(l: BoxLine): string {
  switch (l.kind) {
    case "fix":
      return `FIX ${l.fixating ? 1 : 0} ${Math.round(l.boxMs)}\n`;
    case "ack":
      return `ACK ${l.command}${l.boxMs === undefined ? "" : ` @${Math.round(l.boxMs)}`}\n`;
    case "pong":
      return `PONG ${l.n}${l.boxMs === undefined ? "" : ` ${Math.round(l.boxMs)}`}\n`;
    case "err":
      return `ERR ${l.text}\n`;
    case "hello":
      return `HELLO ${l.version}${l.info ? ` ${l.info}` : ""}\n`;
    case "eye":
      return `EYE ${fixed2(l.xDeg)} ${fixed2(l.yDeg)} ${Math.round(l.boxMs)} ${Math.round(l.xMv)} ${Math.round(l.yMv)}\n`;
    case "pd":
      return `PD ${l.on ? 1 : 0} ${Math.round(l.boxMs)}\n`;
  }
}
