// bench:rigbox — the rig box firmware (firmware/rigbox) in simavr, driven by the daemon's SerialRigBox over the
// harness's pseudo-terminal, timed in simulated cycles (16 per µs) from the harness's log:
// - fixation latency: from the first sample that holds an eye position outside the window (the start of its
//   eye-X conversion) to the moment the "FIX 0" line has left the UART (the host can read it from then on), with
//   the EYE stream on at 50 Hz as on a real day (a FIX line may wait behind an EYE line). Baseline, measured in
//   the same run: the floor of this design, one sample's three conversions plus the FIX line's own time on the wire
//   at 115200 baud. (simavr 1.6 times a byte as 11 bits, a parity bit the 8N1 line does not have, and hands the
//   firmware the next byte slot only once a byte is out: a 10-byte FIX line takes ~0.08 ms longer than on the chip.)
// - event-word timing: from the EVT line's newline reaching the firmware's UART to the first strobe; its jitter
//   (standard deviation, and the spread p1..p99) against the box's own time base, the sample period.
//
//   npm run bench:rigbox               (BENCH_QUICK=1: 40 breaks and 40 events instead of 200 each)
import { mulberry32 } from "../analysis/random.ts";
import { SerialRigBox } from "../controller/rig/serial-box.ts";
import { ADC, CYCLES_PER_MS, FirmwareBox, WIRING } from "../controller/simulate/firmware-box.ts";

const QUICK = process.env.BENCH_QUICK === "1";
const BREAKS = QUICK ? 40 : 200;
const EVENTS = QUICK ? 40 : 200;
const CYCLES_PER_BYTE = 10 * 136; // 115200 baud from 16 MHz: U2X, UBRR 16 → 136 cycles a bit, 10 bits a byte

const random = mulberry32(23);
const ms = (cycles: number) => cycles / CYCLES_PER_MS;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

function until<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const v = check();
      if (v !== undefined) resolve(v);
      else if (Date.now() - t0 > timeoutMs)
        reject(new Error(`bench:rigbox: no ${what} within ${timeoutMs} ms`));
      else setTimeout(poll, 2);
    };
    poll();
  });
}

const box = await FirmwareBox.start({ logAdc: true });
const host = new SerialRigBox({ path: box.hostPath, syncIntervalMs: 0, commandTimeoutMs: 2000 });
const fixations: Array<[boolean, number]> = [];
host.on("fixation", (f, boxMs) => fixations.push([f, boxMs]));
host.on("warning", (w) => console.error(`warning: ${w}`));
try {
  const hello = new Promise<number>((r) => host.on("hello", (v) => r(v)));
  await host.open();
  if ((await hello) !== 2) throw new Error("bench:rigbox: the simulated box did not say HELLO 2");
  await host.configure({
    calibration: [10, 0, -25, 0, 10, -25],
    window: { xDeg: 0, yDeg: 0, radiusDeg: 2 },
    streamMs: 20,
  });
  await until("fixation", () => (host.fixating ? true : undefined));

  // Fixation breaks at random phases of the 1 ms sample clock.
  const latency: number[] = [];
  const fromEye: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < BREAKS; i++) {
    const now = await box.now();
    const out = Math.round(now + 20 * CYCLES_PER_MS + random() * CYCLES_PER_MS);
    box.setAnalogAt(out, ADC.eyeX, 2800); // 3 degrees: outside the 2-degree window
    box.setAnalogAt(out + 12 * CYCLES_PER_MS, ADC.eyeX, 2500);
    const n = fixations.length;
    await until("the break and the return", () => (fixations.length >= n + 2 ? true : undefined));
    const sample = box.firstSampleAfter(out)!;
    if (sample.mv !== 2800)
      throw new Error(`bench:rigbox: the eye input arrived late (${JSON.stringify(box.late)})`);
    const sampleMs = box.sampleMs(sample);
    const line = await box.waitFor("tx", (r) => r.line === `FIX 0 ${sampleMs}` && r.cycle > sample.cycle);
    latency.push(line.cycle - sample.cycle);
    fromEye.push(line.cycle - out);
    const chain = box.adc.filter((r) => r.cycle >= sample.cycle).slice(0, 3);
    const conversion = chain[1].cycle - chain[0].cycle;
    floor.push(chain[2].cycle - chain[0].cycle + conversion + (line.line.length + 1) * CYCLES_PER_BYTE);
  }

  // Event words at random moments.
  const delay: number[] = [];
  let from = 0;
  for (let i = 0; i < EVENTS; i++) {
    await new Promise((r) => setTimeout(r, random() * 3));
    const code = 1 + Math.floor(random() * 65535);
    await host.sendEventTimed(code);
    const rx = await box.waitFor("rx", (r) => r.line === `EVT ${code}` && r.cycle > from);
    const rise = await box.waitFor(
      "port",
      (r) => r.port === "B" && r.cycle >= rx.cycle && WIRING.strobe(r.value) === 1,
    );
    delay.push(rise.cycle - rx.cycle);
    from = rise.cycle;
  }
  const ticks = box.adc.filter((r) => r.channel === ADC.eyeX).map((r) => r.cycle);
  const period = (ticks.at(-1)! - ticks[0]) / (ticks.length - 1);

  const us = (cycles: number) => (cycles / 16).toFixed(1);
  console.log(
    `fixation breaks: ${BREAKS}; sample → FIX 0 on the wire: median ${ms(quantile(latency, 0.5)).toFixed(3)} ms, ` +
      `p99 ${ms(quantile(latency, 0.99)).toFixed(3)} ms, max ${ms(Math.max(...latency)).toFixed(3)} ms; from the eye ` +
      `leaving (0..1 ms before its sample): median ${ms(quantile(fromEye, 0.5)).toFixed(3)} ms, max ` +
      `${ms(Math.max(...fromEye)).toFixed(3)} ms; floor (3 conversions + the line at 115200 baud) ` +
      `${ms(mean(floor)).toFixed(3)} ms`,
  );
  console.log(
    `event words: ${EVENTS}; EVT newline → first strobe: median ${us(quantile(delay, 0.5))} µs, p1..p99 ` +
      `${us(quantile(delay, 0.01))}..${us(quantile(delay, 0.99))} µs, max ${us(Math.max(...delay))} µs, SD ` +
      `${us(sd(delay))} µs; sample period ${us(period)} µs`,
  );
  console.log(
    `rigbox-event-jitter: ${us(sd(delay))} µs (${(sd(delay) / period).toFixed(4)}× sample period ${us(period)} µs)`,
  );
  const med = quantile(latency, 0.5);
  console.log(
    `rigbox: ${ms(med).toFixed(3)} ms (${(med / mean(floor)).toFixed(2)}× floor ${ms(mean(floor)).toFixed(3)} ms)`,
  );
} finally {
  await host.close();
  await box.close();
}
