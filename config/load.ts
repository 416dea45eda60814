// Config sources in order: defaults < config file (YAML/JSON) < environment variables < CLI flags.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EphysError } from "../analysis/errors.ts";
import { parseYamlWith, SourceError } from "../protocols/index.ts";
import { type Config, configSchema } from "./schema.ts";

/** Environment variable → config key path. Values are parsed as numbers where the schema wants numbers. */
export const envKeys: Record<string, string[]> = {
  EPHYSLOOP_BIND: ["bind"],
  EPHYSLOOP_PORT: ["port"],
  EPHYSLOOP_TOKEN: ["token"],
  EPHYSLOOP_DATA_DIR: ["dataDir"],
  EPHYSLOOP_DB: ["dbPath"],
  EPHYSLOOP_EXECUTOR: ["compute", "executor"],
  EPHYSLOOP_BACKEND: ["compute", "tfjsBackend"],
  EPHYSLOOP_THREADS: ["compute", "threads"],
  EPHYSLOOP_DEVICE: ["compute", "device"],
  EPHYSLOOP_WEIGHTS: ["weights", "path"],
  EPHYSLOOP_ARCH: ["weights", "arch"],
  EPHYSLOOP_VARIANT: ["weights", "variant"],
  EPHYSLOOP_WEIGHTS_KIND: ["weights", "kind"],
  EPHYSLOOP_SERIAL: ["rig", "serialPath"],
  EPHYSLOOP_LOG_LEVEL: ["logLevel"],
  EPHYSLOOP_NWB_SCHEMA: ["export", "nwbSchemaDir"],
};
const numericKeys = new Set(["port", "threads", "baudRate", "maxConsecutiveDisplayTimeouts"]);

type Tree = Record<string, unknown>;

function setPath(target: Tree, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]] = value;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object"
        ? merge(b as Tree, v as Tree)
        : v;
  }
  return out;
}

function coerce(path: string[], raw: string): unknown {
  const key = path[path.length - 1];
  if (numericKeys.has(key) && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

export interface ConfigSources {
  /** Path of a config file (YAML or JSON); EPHYSLOOP_CONFIG is used when absent. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** CLI flags as key paths, e.g. { port: 0, "compute.executor": "tfjs" }. */
  flags?: Record<string, string | number | undefined>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  let layered: Tree = {};
  const file = sources.file ?? env.EPHYSLOOP_CONFIG;
  if (file) {
    if (!existsSync(file))
      throw new ConfigError(`config file not found: ${file}`, "config", file, "an existing file");
    const parsed = parseYamlWith(
      configSchema.partial().passthrough(),
      readFileSync(file, "utf8"),
      file,
    ) as Tree;
    layered = merge(layered, parsed);
  }
  for (const [name, path] of Object.entries(envKeys)) {
    const raw = env[name];
    if (raw !== undefined && raw !== "") layered = merge(layered, nest(path, coerce(path, raw)));
  }
  for (const [dotted, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    const path = dotted.split(".");
    layered = merge(layered, nest(path, typeof value === "string" ? coerce(path, value) : value));
  }
  const result = configSchema.safeParse(layered, { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0];
    const key =
      issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]].join(".") : issue.path.join(".");
    const found =
      issue.code === "unrecognized_keys"
        ? "an unknown key"
        : JSON.stringify((issue as { input?: unknown }).input);
    throw new ConfigError(
      `config ${key}: ${issue.message.replace(/^Invalid input: /, "")}; found ${found}` +
        (result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : ""),
      key,
      found,
      issue.message,
    );
  }
  return result.data;
}

function nest(path: string[], value: unknown): Tree {
  const out: Tree = {};
  setPath(out, path, value);
  return out;
}

export class ConfigError extends EphysError<"EPHYS_BAD_CONFIG"> {
  constructor(
    message: string,
    readonly key: string,
    readonly found: string,
    readonly expected: string,
  ) {
    super("EPHYS_BAD_CONFIG", message);
  }
}

export interface ResolvedPaths {
  dataDir: string;
  dbPath: string;
  tokenPath: string;
  logPath: string;
}

export function resolvePaths(config: Config): ResolvedPaths {
  const dataDir = resolve(config.dataDir);
  return {
    dataDir,
    dbPath: resolve(config.dbPath ?? join(dataDir, "ephysloop.db")),
    tokenPath: join(dataDir, "token"),
    logPath: join(dataDir, "ephysloop.log"),
  };
}

/** The configured token, or the one stored in the data dir, or a new one written there (mode 0600). */
export function ensureToken(config: Config): string {
  if (config.token) return config.token;
  const { dataDir, tokenPath } = resolvePaths(config);
  if (existsSync(tokenPath)) return readFileSync(tokenPath, "utf8").trim();
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString("base64url");
  writeFileSync(tokenPath, `${token}\n`, { mode: 0o600, flag: "wx" });
  return token;
}

export { SourceError };
