// The rig box firmware (firmware/rigbox), built with avr-gcc and run in simavr by its harness, against the
// daemon's SerialRigBox over the harness's pseudo-terminal. The harness logs every conversion, port change and
// line with its cycle, so each check compares what the host heard with what the simulated pins did.
import { ReadlineParser, SerialPort } from "serialport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventWordDecoder } from "../../controller/bridges/core/event-words.ts";
import { SerialRigBox } from "../../controller/rig/serial-box.ts";
import {
  ADC,
  CYCLES_PER_MS,
  FirmwareBox,
  type PortRecord,
  WIRING,
} from "../../controller/simulate/firmware-box.ts";

/** The firmware's mapping from pin millivolts to ADC counts (simavr: floor(mV · 1023 / Vref)). */
const counts = (mv: number) => Math.floor((mv * 1023) / 5000);
const volts = (mv: number) => (counts(mv) * 5) / 1023;

function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const value = check();
      if (value !== undefined) resolve(value);
      else if (Date.now() - t0 > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

describe("rig box firmware in simavr ↔ SerialRigBox", () => {
  let box: FirmwareBox;
  let host: SerialRigBox;
  let fixations: Array<[boolean, number]>;
  let photodiode: Array<[boolean, number, number]>;
  let eyes: Array<{ xDeg: number; yDeg: number; boxMs: number; xMv: number; yMv: number }>;
  let warnings: string[];

  beforeEach(async () => {
    box = await FirmwareBox.start({ logAdc: true });
    host = new SerialRigBox({ path: box.hostPath, commandTimeoutMs: 1000, syncIntervalMs: 200 });
    fixations = [];
    photodiode = [];
    eyes = [];
    warnings = [];
    host.on("fixation", (f, ms) => fixations.push([f, ms]));
    host.on("photodiode", (on, ms) => photodiode.push([on, ms, Date.now()]));
    host.on("eye", (e) => eyes.push(e));
    host.on("warning", (w) => warnings.push(w));
    const hello = new Promise<[number, string]>((r) => host.on("hello", (v, info) => r([v, info])));
    await host.open();
    expect(await hello).toEqual([2, "rigbox/1.0 uno 1000"]);
  });

  afterEach(async () => {
    await host.close();
    await box.close();
  });

  it("speaks protocol version 2 and stamps PONG with its clock, which maps onto the daemon's", async () => {
    expect(host.version).toBe(2);
    const rtt = await host.ping();
    expect(rtt).toBeGreaterThan(0);
    const pong = await box.waitFor("tx", (r) => /^PONG 1 \d+$/.test(r.line) || /^PONG \d+ \d+$/.test(r.line));
    expect(pong.line).toMatch(/^PONG \d+ \d+$/);
    expect(host.clock.sampleCount).toBeGreaterThan(0);
    // A FIX line's box time, mapped, precedes the moment the host read it.
    const readAt = Date.now();
    const lastFix = fixations.at(-1)!;
    expect(host.clock.toHostMs(lastFix[1])! - readAt).toBeLessThan(20);
    expect(warnings).toEqual([]);
  });

  it("decides fixation on the box at the sample that leaves the window, with the host's calibration", async () => {
    // 10 deg/V around 2.5 V on both axes; a 2-degree window around the centre.
    await host.configure({
      calibration: [10, 0, -25, 0, 10, -25],
      window: { xDeg: 0, yDeg: 0, radiusDeg: 2 },
    });
    await waitFor("fixating", () => (host.fixating ? true : undefined));
    const c0 = await box.now();
    const out = c0 + 30 * CYCLES_PER_MS;
    const back = out + 40 * CYCLES_PER_MS;
    box.setAnalogAt(out, ADC.eyeX, 2800); // 3 degrees right: outside
    box.setAnalogAt(back, ADC.eyeX, 2500);
    await waitFor("the break and the return", () => (fixations.length >= 3 ? true : undefined));
    const leave = box.firstSampleAfter(out)!;
    const enter = box.firstSampleAfter(back)!;
    expect(leave.mv).toBe(2800);
    expect(fixations.slice(-2)).toEqual([
      [false, box.sampleMs(leave)],
      [true, box.sampleMs(enter)],
    ]);
    // The LED (D13) follows the state, switched when the FIX line is queued.
    const ledOff = box.ports.find(
      (r) => r.port === "B" && r.cycle > leave.cycle && WIRING.led(r.value) === 0,
    );
    expect(ledOff).toBeDefined();
    expect(ledOff!.cycle - leave.cycle).toBeLessThan(CYCLES_PER_MS);
  });

  it("changes state only after `samples` disagreeing samples in a row", async () => {
    await host.configure({
      calibration: [10, 0, -25, 0, 10, -25],
      window: { xDeg: 0, yDeg: 0, radiusDeg: 2, samples: 5 },
    });
    await waitFor("fixating", () => (host.fixating ? true : undefined));
    const before = fixations.length;
    const c0 = await box.now();
    const blip = c0 + 30 * CYCLES_PER_MS; // 3 samples out: too short to count as a break
    const away = blip + 30 * CYCLES_PER_MS; // out for good
    box.setAnalogAt(blip, ADC.eyeY, 1500); // 10 degrees down
    box.setAnalogAt(blip + 3 * CYCLES_PER_MS - 100, ADC.eyeY, 2500);
    box.setAnalogAt(away, ADC.eyeY, 1500);
    await waitFor("the break", () => (fixations.length > before ? true : undefined));
    const first = box.firstSampleAfter(away, ADC.eyeY)!;
    // The blip's samples were outside too (the log shows them), but only the fifth outside sample in a row counts.
    expect(
      box.adc.filter((r) => r.channel === ADC.eyeY && r.cycle > blip && r.cycle < away && r.mv === 1500),
    ).toHaveLength(3);
    expect(fixations.slice(before)).toEqual([[false, box.sampleMs(first) + 4]]);
  });

  it("streams EYE samples in degrees through the affine calibration, with the raw millivolts", async () => {
    const map = [8, 2, -25, -1, 12, -27.5] as const;
    await host.configure({ calibration: map, streamMs: 10 });
    const c0 = await box.now();
    box.setAnalogAt(c0 + 20 * CYCLES_PER_MS, ADC.eyeX, 3000);
    box.setAnalogAt(c0 + 20 * CYCLES_PER_MS, ADC.eyeY, 2000);
    const mv = (v: number) => Math.floor((counts(v) * 5000 + 511) / 1023);
    const e = await waitFor("an EYE line at the new position", () => eyes.find((s) => s.xMv === mv(3000)));
    expect(e.yMv).toBe(mv(2000));
    const u = volts(3000);
    const v = volts(2000);
    expect(Math.abs(e.xDeg - (map[0] * u + map[1] * v + map[2]))).toBeLessThanOrEqual(0.011);
    expect(Math.abs(e.yDeg - (map[3] * u + map[4] * v + map[5]))).toBeLessThanOrEqual(0.011);
    // Every 10 box ms.
    const later = await waitFor("two more lines", () =>
      eyes.length >= eyes.indexOf(e) + 3 ? true : undefined,
    );
    expect(later).toBe(true);
    const i = eyes.indexOf(e);
    expect(eyes[i + 1].boxMs - eyes[i].boxMs).toBe(10);
  });

  it("puts each event code on the port as two strobed bytes and acknowledges with the strobe's box time", async () => {
    for (const code of [0x1234, 7, 65535, 256]) {
      const ackMs = await host.sendEventTimed(code);
      const rx = await box.waitFor("rx", (r) => r.line === `EVT ${code}`);
      const after = box.ports.filter((r) => r.cycle >= rx.cycle);
      const rises = strobeEdges(after, 1).slice(0, 2);
      const falls = strobeEdges(after, 0).slice(0, 2);
      expect(rises).toHaveLength(2);
      const words = rises.map((c) => WIRING.word(box.portAt("B", c), box.portAt("D", c)));
      expect(words).toEqual([code >> 8, code & 0xff]);
      // The data lines hold still while the strobe is high, and are back at 0 after the second byte.
      for (let k = 0; k < 2; k++)
        expect(after.filter((r) => r.cycle > rises[k] && r.cycle < falls[k] && r.port === "D")).toEqual([]);
      expect(WIRING.word(box.portAt("B", falls[1] + 1000), box.portAt("D", falls[1] + 1000))).toBe(0);
      // The ACK carries the box ms of the first strobe: the number of sample ticks up to it.
      expect(ackMs).toBe(box.boxMsAt(rises[0]));
    }
    // What an acquisition system sampling these 9 lines at 30 kHz records, read by the bridges' decoder
    // (controller/bridges/core/event-words.ts, wordBytes 2): the four codes, each at its first strobe.
    const firstRx = box.rx.find((r) => r.line === "EVT 4660")!;
    const decoder = new EventWordDecoder({
      eventLines: [0, 1, 2, 3, 4, 5, 6, 7],
      strobeLine: 8,
      wordBytes: 2,
    });
    const sample = (cycle: number) => Math.round((cycle / (CYCLES_PER_MS * 1000)) * 30_000);
    const decoded: Array<{ code: number; sample: number }> = [];
    let b = 0;
    let d = 0;
    for (const r of box.ports.filter((x) => x.cycle >= firstRx.cycle)) {
      if (r.port === "B") b = r.value;
      else if (r.port === "D") d = r.value;
      else continue;
      const lines = BigInt(WIRING.word(b, d) | (WIRING.strobe(b) << 8));
      for (const e of decoder.wholeWord("box", 1, sample(r.cycle), lines))
        if (e.kind === "word") decoded.push({ code: e.code, sample: e.sample });
    }
    const rises = strobeEdges(
      box.ports.filter((x) => x.cycle >= firstRx.cycle),
      1,
    );
    expect(decoded).toEqual(
      [0x1234, 7, 65535, 256].map((code, k) => ({ code, sample: sample(rises[2 * k]) })),
    );
  });

  it("opens the reward valve for the asked milliseconds", async () => {
    await host.reward(30);
    const rx = await box.waitFor("rx", (r) => r.line === "REWARD 30");
    const open = await box.waitFor(
      "port",
      (r) => r.port === "B" && r.cycle >= rx.cycle && WIRING.valve(r.value) === 1,
    );
    const shut = await box.waitFor(
      "port",
      (r) => r.port === "B" && r.cycle > open.cycle && WIRING.valve(r.value) === 0,
    );
    // Closed by the 30th tick after it opened.
    expect(shut.cycle - open.cycle).toBeGreaterThan(29 * CYCLES_PER_MS);
    expect(shut.cycle - open.cycle).toBeLessThanOrEqual(30 * CYCLES_PER_MS);
  });

  it("reports photodiode edges at the samples that cross the thresholds, with hysteresis", async () => {
    await host.configure({ photodiode: { onMv: 2000, offMv: 1000 } });
    await waitFor("the photodiode state", () => (photodiode.length > 0 ? true : undefined));
    expect(photodiode[0].slice(0, 1)).toEqual([false]);
    const c0 = await box.now();
    const on = c0 + 20 * CYCLES_PER_MS;
    const between = on + 20 * CYCLES_PER_MS; // below on, above off: stays on
    const off = between + 20 * CYCLES_PER_MS;
    box.setAnalogAt(on, ADC.photodiode, 3000);
    box.setAnalogAt(between, ADC.photodiode, 1500);
    box.setAnalogAt(off, ADC.photodiode, 500);
    const onSample = await box.waitFor("adc", (r) => r.channel === ADC.photodiode && r.cycle >= on);
    const offSample = await box.waitFor("adc", (r) => r.channel === ADC.photodiode && r.cycle >= off);
    await waitFor("the off edge", () =>
      photodiode.find(([state, ms]) => !state && ms >= box.sampleMs(offSample)),
    );
    const edges = photodiode.filter(([, ms]) => ms > box.boxMsAt(c0));
    expect(edges.map(([state, ms]) => [state, ms])).toEqual([
      [true, box.sampleMs(onSample)],
      [false, box.sampleMs(offSample)],
    ]);
    // Mapped onto the daemon's clock, an edge lands shortly before the host read its line (the simulation's
    // pacing to the wall clock wobbles by a few ms on a busy machine, a real board's resonator does not).
    for (const [, ms, readAt] of edges) {
      const mapped = host.clock.toHostMs(ms);
      expect(mapped).toBeDefined();
      expect(mapped! - readAt).toBeLessThan(20);
      expect(readAt - mapped!).toBeLessThan(200);
    }
  });

  it("resets when the port opens, like an Uno, and gets its settings again after the HELLO", async () => {
    await host.configure({ window: { xDeg: 1, yDeg: -1, radiusDeg: 3 }, streamMs: 20 });
    const closed = box.hangup();
    await host.close();
    await closed;
    const again = new SerialRigBox({ path: box.hostPath, syncIntervalMs: 0 });
    try {
      // Settings given before the port opens are kept and sent once the box says HELLO.
      await again.configure({ window: { xDeg: 1, yDeg: -1, radiusDeg: 3 }, streamMs: 20 });
      const hello = new Promise<number>((r) => again.on("hello", (v) => r(v)));
      await again.open();
      expect(await hello).toBe(2);
      const eye = await new Promise<{ boxMs: number }>((r) => again.on("eye", (e) => r(e)));
      expect(box.resets).toHaveLength(2); // the first host's open, then this one's
      const reset = box.resets[1];
      const after = box.rx.filter((r) => r.cycle > reset).map((r) => r.line);
      expect(after).toContain("WIN 1 -1 3");
      expect(after).toContain("STREAM 20");
      expect(eye.boxMs).toBeLessThan(box.boxMsAt(await box.now()) + 1); // the clock restarted at the reset
    } finally {
      await again.close();
    }
    host = new SerialRigBox({ path: box.hostPath }); // for afterEach
  });
});

describe("rig box firmware in simavr: bad host lines", () => {
  it("answers every bad line with ERR naming what it expected, and keeps working", async () => {
    const box = await FirmwareBox.start();
    const port = new SerialPort({ path: box.hostPath, baudRate: 115200, autoOpen: false });
    const lines: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (l: string) => lines.push(l));
      // Opening the port reset the box: what is written before its HELLO is lost, as on an Uno.
      await waitFor("the HELLO after the reset", () =>
        lines.some((l) => l.startsWith("HELLO 2")) ? true : undefined,
      );
      const bad: Array<[string, string]> = [
        ["EVT 70000", "ERR EVT 70000: expected EVT <code 0..65535>"],
        ["EVT 1.5", "ERR EVT 1.5: expected EVT <code 0..65535>"],
        ["REWARD 10001", "ERR REWARD 10001: expected REWARD <ms 0..10000>"],
        ["CAL 1 2 3", "ERR CAL 1 2 3: expected CAL <ax> <bx> <cx> <ay> <by> <cy>"],
        [
          "CAL 500 0 0 0 1 0",
          "ERR CAL 500 0 0 0 1 0: expected gains within 400 deg/V and offsets within 1000 deg",
        ],
        ["WIN 0 0 -1", "ERR WIN 0 0 -1: expected WIN <centre x deg> <centre y deg> <radius 0..300 deg>"],
        ["STREAM 2", "ERR STREAM 2: expected STREAM <0 (off) or 5..1000 ms>"],
        ["PDTHR 100 200", "ERR PDTHR 100 200: expected PDTHR <on mV 0..5000> <off mV below on>"],
        ["PING x", "ERR PING x: expected PING <n>"],
        ["BEEP", "ERR BEEP: expected one of HELLO, EVT, REWARD, PING, CAL, WIN, STREAM, PDTHR"],
        [`EVT ${"9".repeat(200)}`, "ERR line longer than 127 characters"],
      ];
      // One at a time, as the host does (it waits for each answer).
      for (const [line] of bad) {
        const before = lines.length;
        port.write(`${line}\n`);
        await waitFor(`the answer to ${line.slice(0, 20)}`, () =>
          lines.slice(before).some((l) => l.startsWith("ERR")) ? true : undefined,
        );
      }
      port.write("PING 5\n");
      await waitFor("the PONG after the bad lines", () =>
        lines.some((l) => l.startsWith("PONG 5 ")) ? true : undefined,
      );
      const errs = lines.filter((l) => l.startsWith("ERR"));
      expect(errs).toHaveLength(bad.length);
      expect(errs.map((e, i) => e.slice(0, bad[i][1].length))).toEqual(bad.map(([, expected]) => expected));
      // Nothing reached the port or the valve.
      expect(box.ports.filter((r) => r.cycle > box.rx[0].cycle)).toEqual([]);
    } finally {
      await new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r()));
      await box.close();
    }
  });
});

/** Cycles at which the strobe (PB2) became `level`. */
function strobeEdges(records: PortRecord[], level: 0 | 1): number[] {
  const out: number[] = [];
  let last = -1;
  for (const r of records) {
    if (r.port !== "B") continue;
    const s = WIRING.strobe(r.value);
    if (s !== last && s === level && last !== -1) out.push(r.cycle);
    if (last === -1 && s === level && level === 1) out.push(r.cycle);
    last = s;
  }
  return out;
}
