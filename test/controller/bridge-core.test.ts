// The bridge core on a fast acquisition clock (the demo's 50× real time): an announcement that comes a few wall ms
// after its event word, while the acquisition clock has already passed the whole trial, still gets the trial its
// photodiode onset and every spike of its window (they are kept while the onset waits for its announcement).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
});
