// Rig box serial line protocol (115200 8N1, "\n"-terminated ASCII lines).
// host → box: EVT <code> | REWARD <ms> | PING <n>
// box → host: FIX <0|1> <box ms> | ACK <cmd> | PONG <n> | ERR <text>
export type BoxLine =
  | { kind: "fix"; fixating: boolean; boxMs: number }
  | { kind: "ack"; command: string }
  | { kind: "pong"; n: number }
  | { kind: "err"; text: string };

export type HostLine =
  | { kind: "evt"; code: number }
  | { kind: "reward"; ms: number }
  | { kind: "ping"; n: number };

export class LineError extends Error {
  readonly code = "EPHYS_BAD_SERIAL_LINE";
  constructor(
    readonly line: string,
    expected: string,
  ) {
    super(`bad rig box line ${JSON.stringify(line.slice(0, 80))}: expected ${expected}`);
  }
}

const int = /^-?\d+$/;

/** Parse one line from the box (without its newline). Throws LineError naming the line and what was expected. */
export function parseBoxLine(raw: string): BoxLine {
  const line = raw.replace(/\r$/, "").trim();
  const [word, ...rest] = line.split(/\s+/);
  switch (word) {
    case "FIX":
      if (rest.length !== 2 || !/^[01]$/.test(rest[0]) || !int.test(rest[1]))
        throw new LineError(line, "FIX <0|1> <box ms>");
      return { kind: "fix", fixating: rest[0] === "1", boxMs: Number(rest[1]) };
    case "ACK":
      if (rest.length === 0) throw new LineError(line, "ACK <command>");
      return { kind: "ack", command: rest.join(" ") };
    case "PONG":
      if (rest.length !== 1 || !int.test(rest[0])) throw new LineError(line, "PONG <n>");
      return { kind: "pong", n: Number(rest[0]) };
    case "ERR":
      return { kind: "err", text: rest.join(" ") };
    default:
      throw new LineError(line, "one of FIX, ACK, PONG, ERR");
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

export function formatHostLine(l: HostLine): string {
  if (l.kind === "evt") return `EVT ${l.code}\n`;
  if (l.kind === "reward") return `REWARD ${Math.round(l.ms)}\n`;
  return `PING ${l.n}\n`;
}

export function formatBoxLine(l: BoxLine): string {
  if (l.kind === "fix") return `FIX ${l.fixating ? 1 : 0} ${Math.round(l.boxMs)}\n`;
  if (l.kind === "ack") return `ACK ${l.command}\n`;
  if (l.kind === "pong") return `PONG ${l.n}\n`;
  return `ERR ${l.text}\n`;
}
