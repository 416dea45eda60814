// /acquisition on a real daemon over loopback: malformed, oversized, unauthenticated and wrong-version messages each
// get their error; the connection stays open except on a failed hello; stored data are unaffected.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { loadConfig } from "../../config/index.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import type { Daemon } from "../../controller/daemon.ts";
import { silentLogger } from "../../controller/log.ts";
import { countsOf, spikesOf } from "../../controller/store/packed.ts";
import { simulatedProtocol, stall, waitFor } from "./simulated-day.ts";

let daemon: Daemon;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "ephys-acq-"));
  const protocolPath = simulatedProtocol(dir); // the test day's 76 stimuli, not the full demo set
  const config = loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } });
  // No display connects, so phase 1 waits; we announce a trial by hand through the hub.
  daemon = await startDaemon(config, { protocolPath, log: silentLogger, steps: { fit: () => stall() } });
});
afterAll(async () => daemon?.stop());

type Msg = { type: string; code?: string; seq?: number; message?: string; lastAckedSeq?: number };

function open(): Promise<{ ws: WebSocket; next: () => Promise<Msg>; closed: Promise<number> }> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`${daemon.wsUrl}/acquisition`);
    const queue: Msg[] = [];
    const waiters: Array<(m: Msg) => void> = [];
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString()) as Msg;
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    });
    const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
    ws.on("open", () =>
      res({
        ws,
        closed,
        next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
      }),
    );
    ws.on("error", rej);
  });
}

const hello = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: "hello",
    role: "acquisition",
    version: 1,
    token: daemon.token,
    channels: [{ id: "a", probe: "p", index: 0 }],
    ...over,
  });

describe("/acquisition errors", () => {
  it("refuses a wrong token and a wrong version, closing the connection", async () => {
    const c1 = await open();
    c1.ws.send(hello({ token: "wrong-token-wrong-token" }));
    expect(await c1.next()).toMatchObject({ type: "error", code: "EPHYS_UNAUTHORIZED" });
    expect(await c1.closed).toBe(4401);
    const c2 = await open();
    c2.ws.send(hello({ version: 2 }));
    expect(await c2.next()).toMatchObject({ type: "error", code: "EPHYS_BAD_VERSION" });
    expect(await c2.closed).toBe(4426);
    const c3 = await open();
    c3.ws.send("{not json");
    expect(await c3.next()).toMatchObject({ type: "error", code: "EPHYS_BAD_HELLO" });
    expect(await c3.closed).toBe(4400);
  });

  it("answers malformed, oversized, unknown-trial and unknown-channel messages with errors and keeps the link", async () => {
    const c = await open();
    c.ws.send(hello());
    expect(await c.next()).toMatchObject({ type: "welcome", lastAckedSeq: 0 });
    daemon.hub.announce({ trialId: 1, eventCode: 1, stimulusId: "bodies/x" });
    expect(await c.next()).toMatchObject({ type: "trial", trialId: 1 });

    c.ws.send("{oops");
    expect(await c.next()).toMatchObject({ type: "error", code: "EPHYS_BAD_MESSAGE" });
    c.ws.send(JSON.stringify({ type: "spikes", seq: 1, trialId: 1, channels: { a: ["x"] } }));
    const bad = await c.next();
    expect(bad).toMatchObject({ type: "error", code: "EPHYS_BAD_MESSAGE", seq: 1 });
    expect(bad.message).toContain("channels.a.0");
    c.ws.send(
      JSON.stringify({
        type: "spikes",
        seq: 2,
        trialId: 1,
        channels: { a: Array.from({ length: 100_000 }, (_, i) => i / 3) },
        pad: "x".repeat(4_200_000),
      }),
    );
    expect(await c.next()).toMatchObject({ type: "error", code: "EPHYS_MESSAGE_TOO_LARGE" });
    c.ws.send(JSON.stringify({ type: "spikes", seq: 3, trialId: 99, channels: { a: [60] } }));
    expect(await c.next()).toMatchObject({ type: "error", code: "EPHYS_UNKNOWN_TRIAL", seq: 3 });
    c.ws.send(JSON.stringify({ type: "spikes", seq: 4, trialId: 1, channels: { zz: [60] } }));
    expect(await c.next()).toMatchObject({ type: "error", code: "EPHYS_UNKNOWN_CHANNEL", seq: 4 });
    // The link still works: a good message is stored and acked, a repeat is acked and not stored twice, also
    // when it is written differently (other spacing, number spelling) but carries the same data.
    c.ws.send(JSON.stringify({ type: "spikes", seq: 5, trialId: 1, channels: { a: [-50, 60, 70, 300] } }));
    expect(await c.next()).toMatchObject({ type: "ack", seq: 5 });
    c.ws.send('{ "channels": {"a": [-50.0, 60, 70.00, 300]}, "trialId": 1, "type": "spikes", "seq": 5 }');
    expect(await c.next()).toMatchObject({ type: "ack", seq: 5 });
    // A repeated seq with other data is an error naming the seq; the stored data stay and a warning is logged.
    c.ws.send(JSON.stringify({ type: "counts", seq: 5, trialId: 1, channels: { a: { response: 9 } } }));
    const conflict = await c.next();
    expect(conflict).toMatchObject({ type: "error", code: "EPHYS_SEQ_CONFLICT", seq: 5 });
    expect(conflict.message).toMatch(/seq 5 was already stored with other data/);
    c.ws.send(JSON.stringify({ type: "spikes", seq: 5, trialId: 1, channels: { a: [-50, 60, 70, 300.5] } }));
    expect(await c.next()).toMatchObject({ type: "error", code: "EPHYS_SEQ_CONFLICT", seq: 5 });
    const warnings = daemon.store
      .events(daemon.sessionId)
      .filter((e) => e.type === "acquisition" && e.subtype === "seq-conflict");
    expect(warnings.map((e) => JSON.parse(e.content))).toEqual([
      { seq: 5, trialId: 1, storedTrialId: 1 },
      { seq: 5, trialId: 1, storedTrialId: 1 },
    ]);
    // The link is still usable after a conflict.
    c.ws.send(JSON.stringify({ type: "counts", seq: 6, trialId: 1, channels: { a: { response: 9 } } }));
    expect(await c.next()).toMatchObject({ type: "ack", seq: 6 });
    const parts = daemon.store.trialData(daemon.sessionId, 1);
    expect(parts).toHaveLength(1);
    expect(parts[0].channelIds).toEqual(["a"]);
    expect(countsOf(parts[0], 0)).toEqual({ baseline: 1, response: 2 });
    expect([...spikesOf(parts[0], 0)!]).toEqual([-50, 60, 70, 300]);
    c.ws.close();
    await c.closed;
  });
});

describe("/acquisition values, channels and the one bridge", () => {
  it("words non-JSON and binary hellos as such", async () => {
    const c1 = await open();
    c1.ws.send("hello?");
    const m1 = await c1.next();
    expect(m1).toMatchObject({ type: "error", code: "EPHYS_BAD_HELLO" });
    expect(m1.message).toMatch(/not valid JSON/);
    expect(await c1.closed).toBe(4400);
    const c2 = await open();
    c2.ws.send(Buffer.from(hello()), { binary: true });
    const m2 = await c2.next();
    expect(m2).toMatchObject({ type: "error", code: "EPHYS_BAD_HELLO" });
    expect(m2.message).toMatch(/binary frame/);
    expect(await c2.closed).toBe(4400);
  });

  it("refuses channel ids outside the documented pattern and duplicate ids", async () => {
    for (const [channels, field] of [
      [[{ id: "<script>alert(1)</script>", probe: "p", index: 0 }], "channels.0.id"],
      [[{ id: "-a", probe: "p", index: 0 }], "channels.0.id"],
      [
        [
          { id: "a", probe: "p", index: 0 },
          { id: "a", probe: "p", index: 1 },
        ],
        "channels.1.id",
      ],
    ] as const) {
      const c = await open();
      c.ws.send(hello({ channels }));
      const m = await c.next();
      expect(m).toMatchObject({ type: "error", code: "EPHYS_BAD_HELLO" });
      expect(m.message).toContain(field);
      expect(await c.closed).toBe(4400);
    }
    // Nothing of a refused hello joined the session's channels.
    expect(daemon.store.channels(daemon.sessionId).map((c) => c.id)).toEqual(["a"]);
  });

  it("refuses spike times outside the accepted span and counts beyond the limit; stores exactly what it acks", async () => {
    const c = await open();
    c.ws.send(hello());
    expect(await c.next()).toMatchObject({ type: "welcome", window: { preMs: 75, postMs: 250 } });
    daemon.hub.announce({ trialId: 2, eventCode: 2, stimulusId: "bodies/y" });
    expect(await c.next()).toMatchObject({ type: "trial", trialId: 2 });
    let seq = 100;
    for (const t of [1e308, -1e308, 3.5e38, 1251, -1076]) {
      c.ws.send(JSON.stringify({ type: "spikes", seq: ++seq, trialId: 2, channels: { a: [60, t] } }));
      const m = await c.next();
      expect(m).toMatchObject({ type: "error", code: "EPHYS_BAD_VALUE", seq });
      expect(m.message).toContain("channels.a.1");
      expect(m.message).toContain("[-1075, 1250]");
    }
    c.ws.send(
      JSON.stringify({ type: "counts", seq: ++seq, trialId: 2, channels: { a: { response: 2 ** 32 } } }),
    );
    expect(await c.next()).toMatchObject({ type: "error", code: "EPHYS_BAD_MESSAGE", seq });
    // Nothing of the refused messages was stored.
    expect(daemon.store.trialData(daemon.sessionId, 2)).toHaveLength(0);
    // Values a float32 would have changed (tiny, many digits, the span's edges) come back exactly as sent.
    const sent = [-1075, -0.1, 1e-50, 12.345678901234567, 60.000001, 1250];
    c.ws.send(JSON.stringify({ type: "spikes", seq: ++seq, trialId: 2, channels: { a: sent } }));
    expect(await c.next()).toMatchObject({ type: "ack", seq });
    const parts = daemon.store.trialData(daemon.sessionId, 2);
    expect(parts).toHaveLength(1);
    expect([...spikesOf(parts[0], 0)!]).toEqual(sent);
    expect(countsOf(parts[0], 0)).toEqual({ baseline: 3, response: 1 });
    c.ws.close();
    await c.closed;
  });

  it("fixes the channel set with the first hello and lets one bridge in at a time", async () => {
    await waitFor("the last bridge's socket to close", () => daemon.status().acquisitionConnected === 0);
    // Another channel set: refused, whatever else is right about the hello.
    const other = await open();
    other.ws.send(hello({ channels: [{ id: "b", probe: "p", index: 0 }] }));
    const changed = await other.next();
    expect(changed).toMatchObject({ type: "error", code: "EPHYS_CHANNELS_CHANGED" });
    expect(changed.message).toMatch(/lacks a \(p#0\) and adds b \(p#0\)/);
    expect(await other.closed).toBe(4409);
    const moved = await open();
    moved.ws.send(hello({ channels: [{ id: "a", probe: "p", index: 3 }] }));
    expect(await moved.next()).toMatchObject({ type: "error", code: "EPHYS_CHANNELS_CHANGED" });
    expect(await moved.closed).toBe(4409);

    const first = await open();
    first.ws.send(hello({ bridgeId: "rig-A" }));
    expect(await first.next()).toMatchObject({ type: "welcome" });
    // A second bridge, with no id or another id, is refused while the first is connected.
    for (const over of [{}, { bridgeId: "rig-B" }]) {
      const second = await open();
      second.ws.send(hello(over));
      const busy = await second.next();
      expect(busy).toMatchObject({ type: "error", code: "EPHYS_ACQUISITION_BUSY" });
      expect(busy.message).toMatch(/rig-A/);
      expect(await second.closed).toBe(4409);
    }
    // The same bridge reconnecting (its old socket still open) takes over; announcements go to the new one only.
    const again = await open();
    again.ws.send(hello({ bridgeId: "rig-A" }));
    expect(await again.next()).toMatchObject({ type: "welcome" });
    expect(await first.next()).toMatchObject({ type: "error", code: "EPHYS_REPLACED" });
    expect(await first.closed).toBe(4410);
    daemon.hub.announce({ trialId: 3, eventCode: 3, stimulusId: "bodies/z" });
    expect(await again.next()).toMatchObject({ type: "trial", trialId: 3 });
    expect(daemon.status().acquisitionConnected).toBe(1);
    const refused = daemon.store
      .events(daemon.sessionId)
      .filter((e) => e.type === "acquisition" && e.subtype === "refused")
      .map((e) => JSON.parse(e.content).code);
    expect(refused).toEqual([
      "EPHYS_CHANNELS_CHANGED",
      "EPHYS_CHANNELS_CHANGED",
      "EPHYS_ACQUISITION_BUSY",
      "EPHYS_ACQUISITION_BUSY",
    ]);
    again.ws.close();
    await again.closed;
  });
});
