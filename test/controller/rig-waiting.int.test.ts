// A rig box that is absent when the day starts: the daemon waits for it with one "waiting for rig box <path> since
// HH:MM" status (not one per retry), takes it when it is plugged in, and answers Ctrl-C at once while it waits.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../controller/log.ts";
import { type BoxLinkState, openRigBox } from "../../controller/rig/box-handle.ts";
import { SerialCable } from "../../controller/rig/serial-cable.ts";
import { VirtualRigBox } from "../../controller/simulate/virtual-box.ts";
import { simulatedProtocol, waitFor } from "./simulated-day.ts";

describe("a rig box absent at start", () => {
  it("says 'waiting … since HH:MM' once, retries quietly, and takes the box when it is plugged in", async () => {
    const cable = new SerialCable("late-box");
    cable.unplug();
    const box = await openRigBox(cable.hostPath, 115200, silentLogger, {
      binding: cable.binding,
      retryMs: 2,
    });
    expect(box.link.state).toBe("waiting");
    expect(box.link.reason).toMatch(
      /^waiting for rig box late-box:host since \d\d:\d\d \(.*unplugged.*\); plug it in/,
    );
    expect(box.fixating).toBe(false);
    const statuses: Array<[BoxLinkState, string]> = [];
    box.onStatus((s, reason) => statuses.push([s, reason]));
    // Many quiet retries: no further status while it waits.
    await waitFor("100 tries to open the box", () => box.openAttempts >= 100);
    expect(statuses).toEqual([]);

    cable.replug();
    const virtual = await VirtualRigBox.start({ cable });
    try {
      await waitFor("the box to open", () => box.link.state === "connected");
      expect(statuses).toHaveLength(1);
      expect(statuses[0][0]).toBe("connected");
      expect(statuses[0][1]).toMatch(/^rig box open on late-box:host \(waited since \d\d:\d\d\)$/);
      virtual.setFixating(true);
      await waitFor("fixation from the box", () => box.fixating);
      await box.sendEvent(7);
      expect(virtual.events).toEqual([7]);
    } finally {
      await box.close();
      await virtual.close();
    }
  });

  it("`ephysloop serve` with an absent device answers SIGINT at once, while it waits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-wait-"));
    const child = spawn(
      process.execPath,
      [
        "bin/ephysloop.mjs",
        "serve",
        "--protocol",
        simulatedProtocol(dir),
        "--data-dir",
        dir,
        "--port",
        "0",
        "--serial",
        join(dir, "no-such-device"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    await waitFor("the waiting line", () =>
      /waiting for rig box \S+no-such-device since \d\d:\d\d/.test(out),
    );
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(out.match(/waiting for rig box/g)).toHaveLength(1);
  });
});
