import { describe, expect, it } from "vitest";
import { BlockQueue, planBlocks, remainingBlocks } from "../../controller/scheduler/blocks.ts";

const ids = Array.from({ length: 12 }, (_, i) => `s${i}`);

describe("pseudorandom blocks", () => {
  it("shows every stimulus once per block, in a seeded order that differs between blocks", () => {
    const blocks = planBlocks(ids, 8, 42, 1);
    expect(blocks).toHaveLength(8);
    for (const b of blocks) expect([...b].sort()).toEqual([...ids].sort());
    expect(new Set(blocks.map((b) => b.join())).size).toBeGreaterThan(6);
    expect(planBlocks(ids, 8, 42, 1)).toEqual(blocks);
    expect(planBlocks(ids, 8, 43, 1)).not.toEqual(blocks);
    expect(planBlocks(ids, 8, 42, 2)).not.toEqual(blocks);
  });

  it("a re-queued stimulus stays in its block, not straight after the break", () => {
    const q = new BlockQueue(planBlocks(ids, 2, 1, 1), 1);
    const first = q.next()!;
    q.requeue(first);
    const order: Array<{ block: number; stimulusId: string }> = [];
    for (let p = q.next(); p; p = q.next()) order.push(p);
    expect(order).toHaveLength(24);
    expect(order[0].stimulusId).not.toBe(first.stimulusId);
    const blockOne = order.slice(0, 12);
    expect(blockOne.every((p) => p.block === 0)).toBe(true);
    expect(blockOne.map((p) => p.stimulusId)).toContain(first.stimulusId);
  });

  it("after a restart the remaining work is the plan minus what was shown", () => {
    const blocks = planBlocks(ids, 3, 5, 1);
    const shown = [
      ...blocks[0].map((s) => ({ block: 0, stimulusId: s })),
      { block: 1, stimulusId: blocks[1][3] },
    ];
    const rest = remainingBlocks(blocks, shown);
    expect(rest[0]).toEqual([]);
    expect(rest[1]).toHaveLength(11);
    expect(rest[1]).not.toContain(blocks[1][3]);
    expect(rest[2]).toEqual(blocks[2]);
  });
});
