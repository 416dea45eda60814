// Provenance stored with every session: the code version and the versions of the software that ran it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

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
    try {
      out[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      out[name] = "absent";
    }
  }
  return out;
}
