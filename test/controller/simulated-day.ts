// Shared pieces of the end-to-end suites: a protocol file for a fast simulated day, a step that never finishes (to
// stop the day where a test needs it), and polling with a deadline.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fromPromise } from "xstate";

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
}

/** protocols/demo.yaml with absolute manifest paths, 100× faster than real time, and the given edits. */
export function simulatedProtocol(dir: string, edits: DayEdits = {}): string {
  let text = readFileSync("protocols/demo.yaml", "utf8")
    .replace(/manifest: \.\.\/stimuli/g, `manifest: ${resolve("stimuli")}`)
    .replace("timeScale: 0.02", "timeScale: 0.01");
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
