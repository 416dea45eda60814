// The acquisition writer on its worker thread, against the same messages through the inline writer: the same
// outcomes, the data committed (visible to another connection) by the time a write resolves, a failed
// transaction rejected with nothing stored and the writer still usable, and close() waiting for the write in flight.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { inlineWriter, startWriterWorker } from "../../controller/store/ingest-writer.ts";
import { type PackedTrial, packCounts, packSpikes, windowTable } from "../../controller/store/packed.ts";
import { SessionStore } from "../../controller/store/store.ts";

const w = windowTable({ baseline: { startMs: -50, endMs: 0 }, response: { startMs: 50, endMs: 150 } });

function newStore(): { store: SessionStore; path: string } {
  const path = join(mkdtempSync(join(tmpdir(), "ephys-writer-")), "s.db");
  const store = new SessionStore(path);
  store.createSession({
    id: "s1",
    protocolName: "demo",
    protocolPath: "/p.yaml",
    protocolText: "",
    protocolSha256: "a".repeat(64),
    codeVersion: "t",
    software: {},
    seed: 1,
  });
  return { store, path };
}

const batches = (): PackedTrial[][] => [
  [packSpikes(1, 1, { a: [60, 70], b: [-10] }, w), packSpikes(2, 2, { a: [], b: [55] }, w)],
  [
    packSpikes(1, 1, { b: [-10], a: [60, 70] }, w), // duplicate, other key order
    packSpikes(2, 2, { a: [1], b: [55] }, w), // conflict
    packSpikes(3, 1, { b: [99], c: [60] }, w), // trial 1 again: only c is new
    packCounts(4, 3, { a: { response: 2 } }),
  ],
];

describe("ingest writer", () => {
  it("on its worker gives the inline writer's outcomes, committed when the write resolves", async () => {
    const inline = newStore();
    const worker = newStore();
    const writer = await startWriterWorker(worker.path);
    expect(writer.kind).toBe("worker");
    for (const batch of batches()) {
      const expected = await inlineWriter(inline.store).write("s1", batch);
      const got = await writer.write("s1", batch);
      expect(got).toEqual(expected);
      // Another connection sees the rows as soon as the write resolved: it had committed.
      expect(worker.store.trialData("s1")).toEqual(inline.store.trialData("s1"));
    }
    expect(worker.store.lastAckedSeq("s1")).toBe(4);
    const [, second] = batches();
    const outcomes = await writer.write("s1", second);
    expect(outcomes.map((o) => o.outcome)).toEqual(["duplicate", "conflict", "duplicate", "duplicate"]);
    await writer.close();
    await expect(writer.write("s1", second)).rejects.toThrow(/closed/);
  });

  it("a failed transaction rejects, stores nothing, and the writer goes on", async () => {
    const { store, path } = newStore();
    const writer = await startWriterWorker(path);
    const broken = { ...packSpikes(2, 2, { z: [1] }, w), counts: null as unknown as Uint32Array };
    await expect(writer.write("s1", [packSpikes(1, 1, { a: [60] }, w), broken])).rejects.toThrow();
    expect(store.trialData("s1")).toEqual([]);
    expect(store.lastAckedSeq("s1")).toBe(0);
    const [o] = await writer.write("s1", [packSpikes(1, 1, { a: [60] }, w)]);
    expect(o.outcome).toBe("stored");
    expect(store.lastAckedSeq("s1")).toBe(1);
    await writer.close();
  });

  it("close waits for the write in flight", async () => {
    const { store, path } = newStore();
    const writer = await startWriterWorker(path);
    const big = Array.from({ length: 50 }, (_, i) =>
      packSpikes(
        i + 1,
        i + 1,
        Object.fromEntries(Array.from({ length: 384 }, (_, c) => [`ch${c}`, [10, 60, 70]])),
        w,
      ),
    );
    const written = writer.write("s1", big);
    await writer.close();
    expect((await written).every((o) => o.outcome === "stored")).toBe(true);
    expect(store.lastAckedSeq("s1")).toBe(50);
  });
});
