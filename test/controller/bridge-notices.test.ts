// Repeated notices collapsed (controller/bridges/core/notice-limiter.ts): the first few of a code as they are, then a
// periodic summary that counts every held one, per code, starting over after a quiet spell; and the bridge core
// sending a fault that hits every trial (no photodiode) through it, with every trial accounted for.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BridgeCore } from "../../controller/bridges/core/bridge-core.ts";
import type { Notice } from "../../controller/bridges/core/daemon-link.ts";
import { NoticeLimiter } from "../../controller/bridges/core/notice-limiter.ts";
import { Outbox } from "../../controller/bridges/core/outbox.ts";

/** "12 more notices CODE …" → 12; a verbatim notice → 1. */
const counted = (n: Notice) => Number(n.message.match(/^(\d+) more notices? /)?.[1] ?? 1);

describe("notice limiter", () => {
  it("sends the first notices of a code as they are, then one summary per period that counts the rest", () => {
    const out: Notice[] = [];
    const l = new NoticeLimiter((n) => out.push(n), {
      verbatim: 3,
      summaryEveryMs: 1000,
      resetAfterMs: 60_000,
    });
    for (let i = 1; i <= 20; i++) l.push({ code: "A", message: `trial ${i}: a`, trialId: i }, i * 100);
    expect(out.map((n) => n.message)).toEqual(["trial 1: a", "trial 2: a", "trial 3: a"]);
    // The held ones (trials 4..20, since t = 400) are summarized once the period since the first of them is over.
    l.tick(1399);
    expect(out).toHaveLength(3);
    l.tick(1400);
    expect(out).toHaveLength(4);
    expect(out[3]).toEqual({
      code: "A",
      message: "17 more notices A in the last 1 s (17 trials, 4 to 20); latest: trial 20: a",
    });
    // A new period: two more, listed by trial, in the next summary; nothing between.
    l.push({ code: "A", message: "trial 21: a", trialId: 21 }, 2100);
    l.push({ code: "A", message: "trial 22: a", trialId: 22 }, 2200);
    l.tick(3000);
    expect(out).toHaveLength(4);
    l.tick(3100);
    expect(out[4].message).toBe("2 more notices A in the last 1 s (trials 21, 22); latest: trial 22: a");
    expect(out.reduce((s, n) => s + counted(n), 0)).toBe(22);
    l.tick(10_000);
    expect(out).toHaveLength(5);
  });

  it("keeps codes apart, summarizes a held one without trial, and starts over after a quiet spell", () => {
    const out: Notice[] = [];
    const l = new NoticeLimiter((n) => out.push(n), { verbatim: 1, summaryEveryMs: 500, resetAfterMs: 5000 });
    l.push({ code: "A", message: "a1" }, 0);
    l.push({ code: "B", message: "b1" }, 10);
    l.push({ code: "A", message: "a2" }, 20);
    l.push({ code: "B", message: "b2", trialId: 7 }, 30);
    expect(out.map((n) => n.message)).toEqual(["a1", "b1"]);
    l.tick(600);
    expect(out.slice(2)).toEqual([
      { code: "A", message: "1 more notice A in the last 1 s; latest: a2" },
      { code: "B", message: "1 more notice B in the last 1 s (trial 7); latest: b2" },
    ]);
    // Quiet for less than resetAfterMs: still collapsed.
    l.push({ code: "A", message: "a3" }, 4000);
    expect(out).toHaveLength(4);
    l.tick(4500);
    expect(out).toHaveLength(5);
    // Quiet for resetAfterMs: the next one goes out as it is.
    l.push({ code: "A", message: "a4" }, 9500);
    expect(out[5]).toEqual({ code: "A", message: "a4" });
    // flush (the bridge stops): what is held goes out at once.
    l.push({ code: "A", message: "a5" }, 9600);
    l.flush(9700);
    expect(out[6].message).toBe("1 more notice A in the last 1 s; latest: a5");
  });

  it("refuses limits that are not numbers >= 0, naming the limit", () => {
    expect(() => new NoticeLimiter(() => {}, { verbatim: -1 })).toThrow(
      /notice limits: verbatim: expected a number >= 0, got -1/,
    );
    expect(() => new NoticeLimiter(() => {}, { summaryEveryMs: Number.NaN })).toThrow(/summaryEveryMs/);
  });
});

describe("bridge core notices", () => {
  const cores: BridgeCore[] = [];
  afterEach(() => {
    for (const c of cores.splice(0)) c.stop();
  });

  it("a photodiode that never rises: 5 notices as they are, the rest in summaries, every trial counted", () => {
    const sent: Notice[] = [];
    const outbox = new Outbox(join(mkdtempSync(join(tmpdir(), "ephys-notices-")), "outbox.db"));
    outbox.useSession("s");
    const core = new BridgeCore({
      channelIds: ["ch001"],
      words: { eventLines: [0, 1, 2, 3, 4, 5, 6, 7], photodiodeLine: 8 },
      outbox,
      link: { send: () => {}, notice: (n) => sent.push(n) },
    });
    cores.push(core);
    core.setSampleRate(30000);
    core.setWindow({ preMs: 75, postMs: 250 });
    const trials = 40;
    const lines = (code: number) => [0, 1, 2, 3, 4, 5, 6, 7].filter((b) => code & (1 << b));
    for (let i = 1; i <= trials; i++) {
      const onset = i * 30000; // 1 s apart on the acquisition clock
      const code = 1 + (i % 200);
      core.announce({ trialId: i, eventCode: code, stimulusId: `s${i}`, replay: false });
      for (const b of lines(code)) core.ttlLine("100/TTL", 100, onset, b, true);
      for (const b of lines(code)) core.ttlLine("100/TTL", 100, onset + 300, b, false);
      core.spike(onset + 15000, [0]); // the clock moves on: the trial's photodiode deadline has passed
    }
    const photodiode = () => sent.filter((n) => n.code === "EPHYS_BRIDGE_NO_PHOTODIODE");
    expect(
      photodiode()
        .filter((n) => n.trialId !== undefined)
        .map((n) => n.trialId),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(photodiode()).toHaveLength(5);
    // Stopping sends what is held as one summary: all 40 trials accounted for, none twice.
    core.stop();
    const all = photodiode();
    expect(all).toHaveLength(6);
    expect(all[5].message).toMatch(
      /^35 more notices EPHYS_BRIDGE_NO_PHOTODIODE in the last \d+ s \(35 trials, 6 to 40\)/,
    );
    expect(all.reduce((s, n) => s + counted(n), 0)).toBe(trials);
    expect(outbox.pendingCount).toBe(trials); // and every trial went out, its onset from the word
    outbox.close();
  });
});
