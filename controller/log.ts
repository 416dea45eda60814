// Structured logs (pino): JSON lines to <dataDir>/ephysloop.log, readable lines on the console.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(opts: {
  level: string;
  file?: string;
  console?: boolean;
  name?: string;
}): Logger {
  const targets: pino.TransportTargetOptions[] = [];
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    targets.push({
      target: "pino/file",
      options: { destination: opts.file, mkdir: true },
      level: opts.level,
    });
  }
  if (opts.console !== false)
    targets.push({
      target: "pino-pretty",
      options: {
        colorize: process.stdout.isTTY,
        translateTime: "HH:MM:ss.l",
        ignore: "pid,hostname",
        destination: 2,
      },
      level: opts.level,
    });
  if (targets.length === 0) return pino({ level: "silent" });
  return pino({ level: opts.level, name: opts.name ?? "ephysloop" }, pino.transport({ targets }));
}

export const silentLogger: Logger = pino({ level: "silent" });
