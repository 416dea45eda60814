// SerialRigBox against VirtualRigBox over a real pseudo-terminal pair made by socat.
import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RigBoxError, type RigBoxStatus, SerialRigBox } from "../../controller/rig/serial-box.ts";
import { VirtualRigBox } from "../../controller/simulate/virtual-box.ts";

function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const value = check();
      if (value !== undefined) resolve(value);
      else if (Date.now() - t0 > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

describe("SerialRigBox over a socat pty with the virtual box", () => {
  let vbox: VirtualRigBox;
  let rig: SerialRigBox;
  let fixations: Array<[boolean, number]>;
  let statuses: Array<[RigBoxStatus, string]>;
  let warnings: string[];

  beforeEach(async () => {
    vbox = await VirtualRigBox.start();
    rig = new SerialRigBox({ path: vbox.hostPath, commandTimeoutMs: 300, reconnectIntervalMs: 50 });
    fixations = [];
    statuses = [];
    warnings = [];
    rig.on("fixation", (f, ms) => fixations.push([f, ms]));
    rig.on("status", (s, reason) => statuses.push([s, reason]));
    rig.on("warning", (w) => warnings.push(w));
    await rig.open();
  });

  afterEach(async () => {
    await rig.close();
    await vbox.close();
  });

  it("delivers event codes and rewards in order and resolves on their ACKs", async () => {
    await rig.sendEvent(17);
    await rig.reward(120);
    await Promise.all([rig.sendEvent(0), rig.sendEvent(65535), rig.sendEvent(300)]);
    expect(vbox.events).toEqual([17, 0, 65535, 300]);
    expect(vbox.rewards).toEqual([120]);
    const rtt = await rig.ping();
    expect(rtt).toBeGreaterThan(0);
    expect(vbox.received.at(-1)?.line).toEqual({ kind: "ping", n: 1 });
    expect(warnings).toEqual([]);
  });

  it("rejects out-of-range commands before writing anything", async () => {
    await expect(rig.sendEvent(70000)).rejects.toMatchObject({ code: "EPHYS_BAD_OPTION" });
    await expect(rig.reward(-1)).rejects.toMatchObject({ code: "EPHYS_BAD_OPTION" });
    await rig.ping();
    // The first line is the version probe every connection starts with (a version 1 box refuses it).
    expect(vbox.received.map((r) => r.line.kind)).toEqual(["bad", "ping"]);
    expect(vbox.received[0].line).toMatchObject({ kind: "bad", text: "HELLO" });
  });

  it("learns that the virtual box speaks protocol version 1 and keeps version 2 settings out", async () => {
    const versions: number[] = [];
    rig.on("hello", (v) => versions.push(v));
    if (rig.version === null) await waitFor("the version", () => (versions.length > 0 ? true : undefined));
    expect(rig.version).toBe(1);
    await expect(rig.configure({ window: { xDeg: 0, yDeg: 0, radiusDeg: 2 } })).rejects.toMatchObject({
      code: "EPHYS_RIG_UNSUPPORTED",
    });
    await rig.ping();
    expect(vbox.received.filter((r) => r.line.kind !== "bad").map((r) => r.line.kind)).toEqual(["ping"]);
    expect(warnings).toEqual([]); // the ERR answering the probe is not a warning
  });

  it("reports FIX transitions with the box clock, not repeats of the known state", async () => {
    vbox.setFixating(true);
    vbox.setFixating(true);
    vbox.setFixating(false);
    vbox.setFixating(true);
    await waitFor("three transitions", () => (fixations.length >= 3 ? true : undefined));
    await rig.ping(); // every FIX line has been read by now
    const sent = vbox.fixationsSent;
    expect(sent).toHaveLength(4);
    expect(fixations).toEqual([
      [true, sent[0].boxMs],
      [false, sent[2].boxMs],
      [true, sent[3].boxMs],
    ]);
    expect(rig.fixating).toBe(true);
  });

  it("learns the state from the heartbeat when it opens after the model started", async () => {
    const early = await VirtualRigBox.start({ heartbeatMs: 30 });
    early.startFixationModel(); // breakRatePerS 0: fixating, and says so every 30 ms
    const late = new SerialRigBox({ path: early.hostPath });
    const seen: boolean[] = [];
    late.on("fixation", (f) => seen.push(f));
    try {
      await waitFor("the model's first heartbeats", () =>
        early.fixationsSent.length >= 2 ? true : undefined,
      );
      await late.open();
      await waitFor("the heartbeat FIX", () => (seen.length > 0 ? true : undefined));
      // Three more heartbeats repeat the state: none of them is a change, so none is re-emitted.
      const sent = early.fixationsSent.length;
      await waitFor("three more heartbeats", () =>
        early.fixationsSent.length >= sent + 3 ? true : undefined,
      );
      expect(seen).toEqual([true]);
      expect(early.fixationsSent.length).toBeGreaterThan(3);
    } finally {
      early.stopFixationModel();
      await late.close();
      await early.close();
    }
  });

  it("runs a seeded fixation model whose breaks arrive at the host", async () => {
    const seeded = await VirtualRigBox.start({
      fixation: { breakRatePerS: 20, reacquireMeanMs: 20, seed: 7 },
    });
    const host = new SerialRigBox({ path: seeded.hostPath });
    const seen: boolean[] = [];
    host.on("fixation", (f) => seen.push(f));
    try {
      await host.open();
      seeded.startFixationModel();
      await waitFor("five FIX states", () => (seen.length >= 5 ? true : undefined));
      seeded.stopFixationModel();
      // The model announces "fixating" at start, then alternates breaks and re-acquisitions.
      expect(seen.slice(0, 5)).toEqual([true, false, true, false, true]);
      const transitions = seeded.fixationsSent.filter(
        (f, i, all) => i === 0 || f.fixating !== all[i - 1].fixating,
      );
      expect(transitions.length).toBeGreaterThanOrEqual(5);
    } finally {
      await host.close();
      await seeded.close();
    }
  });

  it("turns a malformed line into a warning and keeps working", async () => {
    vbox.sendRaw("FIX 2 banana");
    vbox.sendRaw("HOWDY");
    vbox.setFixating(false);
    await rig.sendEvent(5);
    await waitFor("the FIX after the bad lines", () => (fixations.length >= 1 ? true : undefined));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain("FIX <0|1> <box ms>");
    expect(warnings[0]).toContain("FIX 2 banana");
    expect(warnings[1]).toContain("one of FIX, ACK, PONG, ERR");
    expect(fixations).toEqual([[false, vbox.fixationsSent[0].boxMs]]);
    expect(vbox.events).toEqual([5]);
  });

  it("warns about an unexpected ACK and an ERR line", async () => {
    vbox.sendRaw("ACK EVT 99");
    vbox.sendRaw("ERR valve stuck");
    await rig.ping();
    expect(warnings.some((w) => w.includes('unexpected "ACK EVT 99"'))).toBe(true);
    expect(warnings.some((w) => w.includes("reported ERR: valve stuck"))).toBe(true);
  });

  it("rejects with EPHYS_RIG_TIMEOUT when the box does not answer", async () => {
    vbox.responding = false;
    const err = await rig.sendEvent(9).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RigBoxError);
    expect(err).toMatchObject({ code: "EPHYS_RIG_TIMEOUT" });
    expect(String((err as Error).message)).toContain('"EVT 9"');
    await expect(rig.ping()).rejects.toMatchObject({ code: "EPHYS_RIG_TIMEOUT" });
    expect(vbox.events).toEqual([9]);
    vbox.responding = true;
    await rig.reward(10);
  });

  it("emits lost with the reason when unplugged, reconnects on replug, and works again", async () => {
    await rig.sendEvent(1);
    vbox.responding = false;
    const pending = rig.sendEvent(2).catch((e: unknown) => e);
    await waitFor("EVT 2 at the box", () => (vbox.events.length === 2 ? true : undefined));
    await vbox.unplug();
    expect(existsSync(vbox.hostPath)).toBe(false);
    const [status, reason] = await waitFor("status lost", () => statuses[0]);
    expect(status).toBe("lost");
    expect(reason).toContain(`rig box ${vbox.hostPath} disconnected:`);
    expect(await pending).toMatchObject({ code: "EPHYS_RIG_DISCONNECTED" });
    expect(rig.connected).toBe(false);
    await expect(rig.sendEvent(3)).rejects.toMatchObject({ code: "EPHYS_RIG_DISCONNECTED" });

    // While unplugged the box keeps retrying, and says why the last try failed.
    await waitFor("a failed reconnect", () => (rig.reconnectError !== "" ? true : undefined));
    vbox.responding = true;
    await vbox.replug();
    await waitFor("status connected", () => (statuses.length >= 2 ? true : undefined));
    expect(statuses[1][0]).toBe("connected");
    expect(rig.connected).toBe(true);
    await rig.sendEvent(4);
    await rig.reward(50);
    vbox.setFixating(false);
    await waitFor("FIX after reconnect", () => (fixations.length >= 1 ? true : undefined));
    expect(vbox.events).toEqual([1, 2, 4]);
    expect(vbox.rewards).toEqual([50]);
    expect(statuses).toHaveLength(2);
  });

  it("notices an unplug with nothing in flight (the pty reads 0 bytes instead of failing)", async () => {
    await vbox.unplug();
    const [status, reason] = await waitFor("status lost", () => statuses[0]);
    expect(status).toBe("lost");
    // Either the path watch (ENOENT) or, when the poller notices first, the binding's own error.
    expect(reason).toMatch(/disconnected: (device vanished \(ENOENT\)|bad file descriptor|.*EIO.*)$/);
    expect(reason.startsWith(`rig box ${vbox.hostPath} disconnected: `)).toBe(true);
    await vbox.replug();
    await waitFor("status connected", () => (statuses.length >= 2 ? true : undefined));
    expect(await rig.ping()).toBeGreaterThan(0);
  });

  it("close() rejects pending commands and stops reconnecting", async () => {
    vbox.responding = false;
    const pending = rig.sendEvent(8).catch((e: unknown) => e);
    await rig.close();
    expect(await pending).toMatchObject({ code: "EPHYS_RIG_CLOSED" });
    await expect(rig.sendEvent(1)).rejects.toMatchObject({ code: "EPHYS_RIG_CLOSED" });
    expect(statuses).toEqual([]);
  });

  it("fails to open a missing device with EPHYS_RIG_OPEN naming the path", async () => {
    const missing = new SerialRigBox({ path: `${vbox.hostPath}-missing` });
    await expect(missing.open()).rejects.toMatchObject({ code: "EPHYS_RIG_OPEN" });
    await expect(missing.open()).rejects.toThrow(`cannot open rig box ${vbox.hostPath}-missing`);
    await missing.close();
  });

  it("validates options at construction", () => {
    expect(() => new SerialRigBox({ path: "" })).toThrow(/option path/);
    expect(() => new SerialRigBox({ path: "/dev/x", baudRate: 0 })).toThrow(/option baudRate/);
    expect(() => new SerialRigBox({ path: "/dev/x", commandTimeoutMs: -5 })).toThrow(/commandTimeoutMs/);
  });
});
