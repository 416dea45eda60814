// Provenance stored with every session: the code version and the versions of the software that ran it.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const root = new URL("..", import.meta.url);

export function codeVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { version: string };
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: root,
      stdio: ["ignore", "pipe", "ignore"],
    })
      .toString()
      .trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: root,
      stdio: ["ignore", "pipe", "ignore"],
    })
      .toString()
      .trim();
    if (dirty) commit += "-dirty";
  } catch {
    // not a git checkout
  }
  return `${pkg.version}+${commit}`;
}

export function softwareVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const name of [
    "xstate",
    "better-sqlite3",
    "ws",
    "onnxruntime-node",
    "@tensorflow/tfjs-core",
    "sharp",
  ]) {
    out[name] = packageVersion(name);
  }
  return out;
}

/** A dependency's version from its package.json, also for packages whose "exports" hide that file. */
function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    try {
      let dir = dirname(require.resolve(name));
      while (dir !== dirname(dir)) {
        const file = join(dir, "package.json");
        if (existsSync(file)) {
          const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version: string };
          if (pkg.name === name) return pkg.version;
        }
        dir = dirname(dir);
      }
    } catch {
      // not installed
    }
    return "absent";
  }
}
