// A session an earlier version stopped in `fragmenting` or `visualizing` with phase 3 on, or in its phase 3 (trials
// of every channel in one set of blocks, fragments stored without "fragments/channel-ready"), cannot be resumed by
// this one (phase 3 now makes its maps and fragments while it presents, a part per channel): the daemon refuses at
// start with a coded error naming the state and the version that started it, and leaves the session as it was.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, resolvePaths } from "../../config/index.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import { silentLogger } from "../../controller/log.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { simulatedProtocol } from "./simulated-day.ts";

describe("resuming a session stopped in a state this version retired", () => {
  for (const state of ["fragmenting", "visualizing", "phase3.running"])
    it(`refuses a phase-3 session stopped in ${state}, naming it, and changes nothing`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "ephys-retired-"));
      const protocolPath = simulatedProtocol(dir, { phase3: true });
      const config = loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } });
      const store = new SessionStore(resolvePaths(config).dbPath);
      store.createSession({
        id: "old",
        protocolName: "demo",
        protocolPath,
        protocolText: readFileSync(protocolPath, "utf8"),
        protocolSha256: "0",
        codeVersion: "0.0.9",
        software: {},
        seed: 1,
      });
      store.saveSnapshot("old", state, { status: "active", value: state });
      // The earlier version's phase 3: a channel's fragments, without the event this version appends after them.
      store.addArtifact("old", { channelId: "ch1", kind: "fragments", path: dir, meta: { stimuli: [] } });
      const before = store.getSession("old");
      store.close();
      const error = await startDaemon(config, { log: silentLogger }).then(
        () => null,
        (e: Error & { code?: string }) => e,
      );
      expect(error?.code).toBe("EPHYS_SESSION_STATE_RETIRED");
      expect(error?.message).toContain(
        `session old stopped in state ${state} of an earlier version's phase 3`,
      );
      expect(error?.message).toContain("code 0.0.9");
      const after = new SessionStore(resolvePaths(config).dbPath);
      try {
        expect(after.getSession("old")).toEqual(before);
        expect(after.events("old").some((e) => e.subtype === "resumed")).toBe(false);
      } finally {
        after.close();
      }
    });
});
