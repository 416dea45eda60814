// The Open Ephys emulator as the demo uses it, read through a real ZMQ subscriber and the bridge's own decoders:
// - `ephysloop simulate --acquisition openephys` as the demo's child, its event words coming over IPC from the
//   demo's rig box ({type:"evt",code}), with the emulator's defaults (no jitter given): every word is followed by
//   its photodiode rise 12 ms later. (Before, an option passed as undefined replaced its default, the photodiode's
//   time became NaN and no rise was ever published: the demo logged "no photodiode" for every trial.)
// - a strobe line with the word's lines set one by one; a show that arrives before its word; bad options refused.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { EventWordDecoder, type LineEvent } from "../../controller/bridges/core/event-words.ts";
import { decodeBroadcast } from "../../controller/bridges/openephys/broadcast-format.ts";
import { OpenEphysBroadcaster } from "../../controller/simulate/openephys-broadcaster.ts";
import { freePort, simulatedProtocol, waitFor } from "./simulated-day.ts";

const RATE = 30000;

/** Subscribes to an Event Broadcaster and turns its TTL messages into words and photodiode edges. */
function listen(endpoint: string, words: { eventLines: number[]; strobeLine?: number }) {
  const socket = new zmq.Subscriber();
  socket.connect(endpoint);
  socket.subscribe();
  const decoder = new EventWordDecoder({ ...words, photodiodeLine: 8 });
  const events: LineEvent[] = [];
  let messages = 0;
  const loop = (async () => {
    try {
      for await (const frames of socket) {
        messages++;
        const m = decodeBroadcast(frames);
        events.push(...decoder.advance(m.sampleNumber));
        if (m.kind !== "ttl") continue;
        const key = `${m.sourceNode}/${m.channel}`;
        events.push(
          ...(m.word !== undefined
            ? decoder.wholeWord(key, m.sourceNode, m.sampleNumber, m.word)
            : decoder.line(key, m.sourceNode, m.sampleNumber, m.line, m.state)),
        );
      }
    } catch {
      // closed
    }
  })();
  return {
    events,
    get messages() {
      return messages;
    },
    words: () => events.filter((e) => e.kind === "word"),
    rises: () => events.filter((e) => e.kind === "photodiode" && e.rising),
    close: async () => {
      socket.close();
      await loop;
    },
  };
}

let child: ChildProcess | null = null;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  child?.kill("SIGKILL");
  child = null;
  for (const c of closers.splice(0)) await c();
});

describe("Open Ephys emulator", () => {
  it("under the demo, publishes each IPC event word and its photodiode rise 12 ms later (defaults)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-oe-ipc-"));
    const protocolPath = simulatedProtocol(dir, { simulation: ["neurons: thumbnail"] });
    const endpoint = `tcp://127.0.0.1:${await freePort()}`;
    const c = spawn(
      process.execPath,
      [
        ...["bin/ephysloop.mjs", "simulate", "--url", "ws://127.0.0.1:9", "--token", "t"],
        ...["--protocol", protocolPath, "--no-display", "--acquisition", "openephys", "--zmq", endpoint],
      ],
      { stdio: ["ignore", "ignore", "pipe", "ipc"] },
    );
    child = c;
    let stderr = "";
    c.stderr?.on("data", (d) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      c.on("message", (m: { type?: string }) =>
        m.type === "ready" ? resolve() : reject(new Error(JSON.stringify(m))),
      );
      c.on("exit", (code) => reject(new Error(`simulate exited ${code}: ${stderr}`)));
    });
    const sub = listen(endpoint, { eventLines: [0, 1, 2, 3, 4, 5, 6, 7] });
    closers.push(sub.close);
    // The subscription is live once the baseline spikes arrive (ZMQ drops what a PUB sends before it).
    await waitFor("the first broadcast message", () => sub.messages > 0, 10_000);
    const codes = Array.from({ length: 12 }, (_, i) => 1 + ((i * 37) % 200));
    for (const code of codes) {
      c.send({ type: "evt", code });
      await new Promise((r) => setTimeout(r, 30)); // 3 s of acquisition apart at the day's timeScale 0.01
    }
    await waitFor(
      "every word and its photodiode rise",
      () => sub.words().length >= codes.length && sub.rises().length >= codes.length,
      60_000, // a loaded machine slows the child's ticks; the words still come, in order
    ).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(sub.events.slice(0, 6))} ${stderr}`);
    });
    const words = sub.words() as Array<{ sample: number; code: number }>;
    expect(words.map((w) => w.code)).toEqual(codes);
    expect(sub.rises().map((r, i) => r.sample - words[i].sample)).toEqual(
      codes.map(() => (12 * RATE) / 1000),
    );
  }, 60_000);

  it("with a strobe, the word's lines settle one by one and the strobe rises once they hold it", async () => {
    const oe = await OpenEphysBroadcaster.start({
      format: "binary",
      timeScale: 0.01,
      electrodes: 1,
      rate: () => 0,
      baselineRate: 50,
      latencyMs: 50,
      responseMs: 100,
      strobeLine: 9,
      lineSkewMs: 1,
    });
    closers.push(() => oe.close());
    const strobed = listen(oe.endpoint, { eventLines: [0, 1, 2, 3, 4, 5, 6, 7], strobeLine: 9 });
    const plain = listen(oe.endpoint, { eventLines: [0, 1, 2, 3, 4, 5, 6, 7] });
    closers.push(strobed.close, plain.close);
    await waitFor("the first broadcast message", () => strobed.messages > 0 && plain.messages > 0, 10_000);
    const codes = [0b10000001, 0b01010110, 0b11111111, 0b00000011];
    for (const code of codes) {
      oe.eventWord(code);
      await new Promise((r) => setTimeout(r, 30));
    }
    await waitFor("the words", () => strobed.rises().length >= codes.length, 10_000);
    const truth = oe.presentations.map((p) => ({ kind: "word", sample: p.wordSample, code: p.code }));
    expect(strobed.words()).toEqual(truth);
    // The lines set 1 ms apart: without the strobe the word is read when its first line rises, and it is wrong.
    expect(plain.words().map((w) => (w as { code: number }).code)).not.toEqual(codes);
    // The strobe rises 7 ms (and a sample) after the first line; the photodiode 12 ms after the strobe.
    for (const [i, p] of oe.presentations.entries()) {
      expect(p.photodiodeSample - p.wordSample!).toBe(12 * 30);
      expect((strobed.rises()[i] as { sample: number }).sample).toBe(p.photodiodeSample);
    }
  }, 60_000);

  it("gives a show that arrives before its word to that word's presentation; its neurons respond", async () => {
    const oe = await OpenEphysBroadcaster.start({
      format: "json",
      timeScale: 0.01,
      electrodes: 2,
      rate: (e, stimulusId) => (e === 0 && stimulusId === "s1" ? 1000 : 0),
      baselineRate: 0,
      latencyMs: 50,
      responseMs: 100,
    });
    closers.push(() => oe.close());
    oe.show("s1"); // the display's show came first
    oe.eventWord(7);
    const p = oe.presentations[0];
    expect(p.stimulusId).toBe("s1");
    const from = p.photodiodeSample + 50 * 30;
    await waitFor("the response to be published", () => oe.publishedUpTo >= from + 100 * 30, 10_000);
    oe.eventWord(9);
    oe.show("s2"); // in order
    expect(oe.presentations.map((x) => x.stimulusId)).toEqual(["s1", "s2"]);
    const inResponse = oe.spikes[0].filter((s) => s >= from && s < from + 100 * 30).length;
    expect(inResponse).toBeGreaterThan(50); // Poisson, mean 100
    expect(oe.spikes[0].length).toBe(inResponse);
    expect(oe.spikes[1]).toEqual([]);
  }, 30_000);

  it("refuses an option that is not a valid number or line, naming it; undefined takes the default", async () => {
    const base = {
      format: "json" as const,
      electrodes: 1,
      rate: () => 0,
      baselineRate: 1,
      latencyMs: 50,
      responseMs: 100,
    };
    await expect(
      OpenEphysBroadcaster.start({ ...base, photodiodeLatencyMs: Number.NaN }),
    ).rejects.toMatchObject({
      code: "EPHYS_BAD_OPTION",
      message: expect.stringContaining("photodiodeLatencyMs: expected a number >= 0"),
    });
    await expect(OpenEphysBroadcaster.start({ ...base, strobeLine: 3 })).rejects.toThrow(
      /strobeLine: expected a TTL line 0\.\.63 that is not an event line, got 3/,
    );
    await expect(OpenEphysBroadcaster.start({ ...base, timeScale: 0 })).rejects.toThrow(/timeScale/);
    const oe = await OpenEphysBroadcaster.start({
      ...base,
      photodiodeJitterMs: undefined,
      lineSkewMs: undefined,
    });
    closers.push(() => oe.close());
    oe.eventWord(3);
    expect(oe.presentations[0].photodiodeSample - oe.presentations[0].wordSample!).toBe(12 * 30);
  });
});
