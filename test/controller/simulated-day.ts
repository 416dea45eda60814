// Shared pieces of the end-to-end suites: a protocol file for a fast simulated day, a step that never finishes (to
// stop the day where a test needs it), polling with a deadline, and a free port.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative, resolve } from "node:path";
import { fromPromise } from "xstate";
import { TEST_DAY_IMAGES } from "../test-day-images.ts";

/** Count spikes in each window, [startMs, endMs): the test's own count, to compare the daemon's with. */
export function countInWindows(
  spikesMs: readonly number[],
  windows: Record<string, { startMs: number; endMs: number }>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, w] of Object.entries(windows)) {
    let n = 0;
    for (const t of spikesMs) if (t >= w.startMs && t < w.endMs) n++;
    out[name] = n;
  }
  return out;
}

/** A step actor that never settles: the day stays in that state. */
export const stall = () => fromPromise<void, { sessionId: string }>(() => new Promise<void>(() => {}));

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface DayEdits {
  /** Phase-1 repetitions (demo: 6). */
  repetitions?: number;
  channels?: number;
  /** Extra lines for the simulation section, e.g. ["neurons: thumbnail"]. */
  simulation?: string[];
  /** Further literal replacements in the YAML text. */
  replace?: Array<[string, string]>;
  /** Keep demo.yaml's own stimulus sets, repetitions, split and fit (the day `npm start` runs), only faster. */
  demoSets?: boolean;
  /** Keep demo.yaml's phase3 section (the causal test); the suites' day leaves it out unless they test it. */
  phase3?: boolean;
}

export { TEST_DAY_IMAGES };

/**
 * Manifests in `dir`/sets/ with the TEST_DAY_IMAGES of each demo set (paths relative to them, pointing at the
 * committed images), so that a test day shows the same 76 images whatever the size of the demo set.
 */
export function testDaySets(dir: string): Record<keyof typeof TEST_DAY_IMAGES, string> {
  const out = {} as Record<keyof typeof TEST_DAY_IMAGES, string>;
  for (const [set, ids] of Object.entries(TEST_DAY_IMAGES) as Array<
    [keyof typeof TEST_DAY_IMAGES, readonly string[]]
  >) {
    const source = resolve("stimuli", "demo", set);
    const manifest = JSON.parse(readFileSync(join(source, "manifest.json"), "utf8"));
    const folder = join(dir, "sets", set);
    mkdirSync(folder, { recursive: true });
    manifest.images = manifest.images
      .filter((img: { id: string }) => ids.includes(img.id))
      .map((img: { path: string }) => ({ ...img, path: relative(folder, join(source, img.path)) }));
    writeFileSync(join(folder, "manifest.json"), JSON.stringify(manifest));
    out[set] = join(folder, "manifest.json");
  }
  return out;
}

/**
 * protocols/demo.yaml as the test day: the demo set's original 40 bodies, 24 objects and 12 control bodies
 * (TEST_DAY_IMAGES), 6 + 6 repetitions, split 28 / 6 / 6, learning rate 1e-2 and the default start of the fit — the
 * day the suites were written for,
 * while `npm start` runs the full demo day — 100× faster than real time, with the given edits.
 */
export function simulatedProtocol(dir: string, edits: DayEdits = {}): string {
  let text = readFileSync("protocols/demo.yaml", "utf8").replace("timeScale: 0.02", "timeScale: 0.01");
  const sets = edits.demoSets ? null : testDaySets(dir);
  const baseline: Array<[RegExp, string]> = sets
    ? [
        [/manifest: \.\.\/stimuli\/demo\/bodies\/manifest\.json/, `manifest: ${sets.bodies}`],
        [/manifest: \.\.\/stimuli\/demo\/objects\/manifest\.json/, `manifest: ${sets.objects}`],
        [
          /manifest: \.\.\/stimuli\/demo\/control-bodies\/manifest\.json/,
          `manifest: ${sets["control-bodies"]}`,
        ],
        [/^presentation:\n {2}repetitions: .*$/m, "presentation:\n  repetitions: 6"],
        [/^phase2:\n {2}repetitions: .*$/m, "phase2:\n  repetitions: 6"],
        [/^ {2}split: .*$/m, "  split: { train: 28, validation: 6, test: 6 }"],
        [/^ {2}learningRate: .*$/m, "  learningRate: 1.0e-2"],
        [/^ {2}init: .*\n/m, ""],
      ]
    : [[/manifest: \.\.\/stimuli\//g, `manifest: ${resolve("stimuli")}/`]];
  for (const [from, to] of baseline) {
    if (!from.test(text)) throw new Error(`simulatedProtocol: ${from} not found in protocols/demo.yaml`);
    text = text.replace(from, to);
  }
  if (!edits.phase3) {
    const section = /^phase3:.*\n(?:[ #].*\n|\n)*?(?=^\S)/m;
    if (!section.test(text)) throw new Error("simulatedProtocol: no phase3 section in protocols/demo.yaml");
    text = text.replace(section, "");
  }
  // Every edit must find its text: a change to demo.yaml must not silently leave a suite on the wrong day.
  const replace: Array<[string, string]> = [];
  if (edits.repetitions)
    replace.push(["  repetitions: 6\n  order", `  repetitions: ${edits.repetitions}\n  order`]);
  if (edits.channels) replace.push(["channels: 8", `channels: ${edits.channels}`]);
  if (edits.simulation)
    replace.push(["simulation:\n", `simulation:\n${edits.simulation.map((l) => `  ${l}\n`).join("")}`]);
  for (const [from, to] of [...replace, ...(edits.replace ?? [])]) {
    if (!text.includes(from))
      throw new Error(`simulatedProtocol: "${from}" not found in protocols/demo.yaml`);
    text = text.replace(from, to);
  }
  const file = join(dir, "day.yaml");
  writeFileSync(file, text);
  return file;
}

/** A TCP port free on 127.0.0.1 right now (for a child process to listen on). */
export const freePort = () =>
  new Promise<number>((res) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });

/**
 * `ephysloop serve` as a real child process on `port` with the data in `dir`, the rig box on the pty `hostPath`, 100×
 * faster than real time, logging warnings to the test's stderr; `extra` flags after (e.g. --protocol FILE).
 */
export function serveChild(
  o: { dir: string; port: number; token: string; hostPath: string },
  extra: string[],
): ChildProcess {
  const flags = ["--data-dir", o.dir, "--port", String(o.port), "--token", o.token, "--serial", o.hostPath];
  return spawn(
    process.execPath,
    ["bin/ephysloop.mjs", "serve", ...flags, "--time-scale", "0.01", "--log-level", "warn", ...extra],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}
