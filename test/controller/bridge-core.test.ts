// The bridge core on a fast acquisition clock (the demo's 50× real time): an announcement that comes a few wall ms
// after its event word, while the acquisition clock has already passed the whole trial, still gets the trial its
// photodiode onset and every spike of its window (they are kept while the onset waits for its announcement).
// And a stream whose spikes come behind its clock (processing blocks not in sample order): the trial that went out
// without a late spike is reported, and later trials wait long enough to include such spikes.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BridgeCoreOptions } from "../../controller/bridges/core/bridge-core.ts";
import { BridgeCore } from "../../controller/bridges/core/bridge-core.ts";
import type { Notice } from "../../controller/bridges/core/daemon-link.ts";
import { Outbox } from "../../controller/bridges/core/outbox.ts";

const RATE = 30000;
const ms = (x: number) => Math.round((x * RATE) / 1000);

describe("bridge core", () => {
  it("pairs a late announcement with its held onset, photodiode rise and spikes intact", () => {
    const notices: Notice[] = [];
    const sent: Array<{
      trialId: number;
      channels: Record<string, number[]>;
      onset: { source: string; sample: number };
    }> = [];
    const outbox = new Outbox(join(mkdtempSync(join(tmpdir(), "ephys-core-")), "outbox.db"));
    outbox.useSession("s");
    const core = new BridgeCore({
      channelIds: ["a", "b"],
      words: { eventLines: [0, 1, 2, 3, 4, 5, 6, 7], photodiodeLine: 8 },
      outbox,
      link: {
        send: (m) => {
          for (const x of m) sent.push(JSON.parse(x.text));
        },
        notice: (n) => notices.push(n),
      },
    });
    core.setSampleRate(RATE);
    core.setWindow({ preMs: 75, postMs: 250 });
    const W = ms(10_000);
    const pd = W + ms(12);
    core.spike(W - ms(200), [0]); // before the window: not sent
    core.spike(W - ms(50), [0, 1]);
    // Code 5 on lines 0 and 2, then the photodiode; no trial announced yet.
    core.ttlLine("100/TTL", 100, W, 0, true);
    core.ttlLine("100/TTL", 100, W, 2, true);
    core.ttlLine("104/XD", 104, pd, 8, true);
    core.ttlLine("100/TTL", 100, W + ms(10), 0, false);
    core.ttlLine("100/TTL", 100, W + ms(10), 2, false);
    core.spike(pd + ms(100), [1]);
    core.spike(pd + ms(249), [0]);
    // The acquisition clock runs 2 s on (40 wall ms at 50×) before the announcement; the wall timer services it.
    for (let t = pd + ms(300); t <= W + ms(2000); t += ms(100)) {
      core.spike(t, []);
      core.service();
    }
    expect(sent).toHaveLength(0);
    core.announce({ trialId: 1, eventCode: 5, stimulusId: "s5", replay: false });
    core.spike(W + ms(2100), []);
    expect(notices).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0].trialId).toBe(1);
    expect(sent[0].onset).toMatchObject({ source: "photodiode", sample: pd, photodiodeMinusEventMs: 12 });
    expect(sent[0].channels).toEqual({ a: [-62, 249], b: [-62, 100] });
    core.stop();
    outbox.close();
  });

  it("reports a spike that arrives behind the clock after its trial went out, and waits that long from then on", () => {
    const notices: Notice[] = [];
    const sent: Array<{ trialId: number; channels: Record<string, number[]> }> = [];
    const outbox = new Outbox(join(mkdtempSync(join(tmpdir(), "ephys-core-")), "outbox.db"));
    outbox.useSession("s");
    const link: BridgeCoreOptions["link"] = {
      send: (m) => {
        for (const x of m) sent.push(JSON.parse(x.text));
      },
      notice: (n) => notices.push(n),
    };
    const core = new BridgeCore({ channelIds: ["a"], words: { eventLines: [0, 1, 2, 3] }, outbox, link });
    core.setSampleRate(RATE);
    core.setWindow({ preMs: 75, postMs: 250 });
    const trial = (id: number, code: number, onset: number) => {
      core.announce({ trialId: id, eventCode: code, stimulusId: `s${code}`, replay: false });
      core.ttlLine("100/TTL", 100, onset, 0, true);
      core.ttlLine("100/TTL", 100, onset + ms(10), 0, false);
      core.spike(onset + ms(100), [0]);
    };
    // Trial 1 goes out once the clock passes onset + 250 + 20 ms; then a spike of its window arrives 30 ms behind.
    trial(1, 1, ms(1000));
    core.spike(ms(1000 + 275), [0]);
    expect(sent.map((m) => m.trialId)).toEqual([1]);
    core.spike(ms(1000 + 245), [0]);
    expect(notices).toEqual([expect.objectContaining({ code: "EPHYS_BRIDGE_LATE_SPIKE", trialId: 1 })]);
    expect(notices[0].message).toMatch(/arrived 30\.0 ms behind the stream.*wait 50\.0 ms past their window/);
    // Trial 2: the clock passes onset + 270 ms, but the trial waits 30 ms more, and gets its late spike.
    trial(2, 1, ms(3000));
    core.spike(ms(3000 + 275), [0]);
    expect(sent.map((m) => m.trialId)).toEqual([1]);
    core.spike(ms(3000 + 248), [0]);
    core.spike(ms(3000 + 301), [0]);
    expect(sent.map((m) => m.trialId)).toEqual([1, 2]);
    expect(sent[1].channels.a).toEqual([100, 248]);
    expect(notices).toHaveLength(1);
    // A jump back of more than a second is a clock reset, not a late spike: it changes nothing.
    core.spike(ms(1000), [0]);
    expect(notices).toHaveLength(1);
    core.stop();
    outbox.close();
  });
});
