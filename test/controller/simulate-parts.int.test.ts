// `ephysloop simulate --no-acquisition` / `--no-display`: a lab runs its own part against the simulated rest. The
// part left out never connects; the others do, against a real daemon on loopback.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import type { Daemon } from "../../controller/daemon.ts";
import { silentLogger } from "../../controller/log.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { simulatedProtocol, stall, waitFor } from "./simulated-day.ts";

const daemons: Daemon[] = [];
const sims: RunningSimulation[] = [];
afterAll(async () => {
  for (const s of sims) await s.stop();
  for (const d of daemons) await d.stop();
});

async function day(without: { acquisition?: boolean; display?: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), "ephys-parts-"));
  const protocolPath = simulatedProtocol(dir, { simulation: ["neurons: thumbnail"] });
  const daemon = await startDaemon(loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } }), {
    protocolPath,
    log: silentLogger,
    steps: { fit: () => stall() },
  });
  daemons.push(daemon);
  const sim = await startSimulation({ url: daemon.wsUrl, token: daemon.token, protocolPath, without });
  sims.push(sim);
  return { daemon, sim };
}

describe("simulate without a part", () => {
  it("--no-acquisition: the display connects and phase 1 runs; no bridge ever says hello", async () => {
    const { daemon, sim } = await day({ acquisition: true });
    expect(sim.bridge).toBeNull();
    await waitFor("a shown trial", () => daemon.status().trials.shown > 0);
    expect(daemon.status().acquisitionConnected).toBe(0);
    expect(daemon.store.events(daemon.sessionId).some((e) => e.type === "acquisition")).toBe(false);
  });

  it("--no-display: the bridge connects; no trial starts without a display", async () => {
    const { daemon, sim } = await day({ display: true });
    expect(sim.display).toBeNull();
    await waitFor("the bridge", () => daemon.status().acquisitionConnected === 1);
    // Phase 1 has begun and waits for a display: nothing is presented without one.
    await waitFor("phase 1", () => daemon.status().state === "phase1.running");
    expect(daemon.status().displayConnected).toBe(false);
    expect(daemon.store.trials(daemon.sessionId)).toHaveLength(0);
  });
});
