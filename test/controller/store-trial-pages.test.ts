// SessionStore.trialDataPage / lastTrialDataRowId (the export's bounded-memory read): pages in trial order that
// together are trialData, nothing newer than the snapshot row, spike times left unread on request; and
// trialDataPages, which pages through them while other statements run on the same connection.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { trialDataPages } from "../../controller/export/trial-data-pages.ts";
import { SessionStore } from "../../controller/store/store.ts";

const dir = mkdtempSync(join(tmpdir(), "ephys-pages-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function filled(): SessionStore {
  const store = new SessionStore(join(dir, `${Math.random().toString(36).slice(2)}.db`));
  for (const id of ["s1", "s2"])
    store.createSession({
      id,
      protocolName: "demo",
      protocolPath: "/p.yaml",
      protocolText: "version: 1\n",
      protocolSha256: "a".repeat(64),
      codeVersion: "test",
      software: {},
      seed: 7,
    });
  // Trials stored out of order and in parts (two messages for trial 3), and another session's rows in between.
  let seq = 0;
  for (const [trialId, channels] of [
    [5, ["a", "b"]],
    [3, ["a"]],
    [1, ["a", "b"]],
    [3, ["b"]],
    [2, ["a", "b"]],
  ] as const) {
    store.ingest("s1", [
      {
        seq: ++seq,
        trialId,
        channels: channels.map((channelId, c) => ({
          channelId,
          counts: { response: trialId + c },
          spikes: new Float32Array([trialId, trialId + 0.5 * c]),
        })),
      },
    ]);
    store.ingest("s2", [
      {
        seq,
        trialId,
        channels: [{ channelId: "z", counts: { response: 1 }, spikes: new Float32Array([9]) }],
      },
    ]);
  }
  return store;
}

describe("paged trial data", () => {
  it("pages together are trialData, in (trial, storage) order, up to the snapshot row", () => {
    const store = filled();
    const until = store.lastTrialDataRowId("s1");
    store.ingest("s1", [
      {
        seq: 99,
        trialId: 4,
        channels: [{ channelId: "a", counts: { response: 0 }, spikes: new Float32Array([4]) }],
      },
    ]);
    const all = store.trialData("s1").filter((p) => p.trialId !== 4);
    const rows = [];
    let after: { trialId: number; rowId: number } | undefined;
    let pages = 0;
    for (;;) {
      const page = store.trialDataPage("s1", { after, until, limit: 2 });
      rows.push(...page.rows);
      pages++;
      if (!page.next) break;
      after = page.next;
    }
    expect(pages).toBe(3);
    expect(rows.map((r) => [r.trialId, r.channelIds])).toEqual([
      [1, ["a", "b"]],
      [2, ["a", "b"]],
      [3, ["a"]],
      [3, ["b"]],
      [5, ["a", "b"]],
    ]);
    expect(rows).toEqual(all);
    expect(store.lastTrialDataRowId("nobody")).toBe(0);
    store.close();
  });

  it("leaves spike times unread with spikes: false; trialDataPages lets writes in between pages", async () => {
    const store = filled();
    const until = store.lastTrialDataRowId("s1");
    const page = store.trialDataPage("s1", { until, limit: 100, spikes: false });
    expect(page.rows.every((r) => r.spikes === null && r.offsets !== null)).toBe(true);
    expect(page.next).toBeUndefined();
    const seen: number[] = [];
    for await (const rows of trialDataPages(store, "s1", { until, spikes: true, pageRows: 1 })) {
      seen.push(...rows.map((r) => r.trialId));
      store.appendEvent("s1", "test", "between-pages", {}); // the connection is free between pages
    }
    expect(seen).toEqual([1, 2, 3, 3, 5]);
    expect(store.events("s1").filter((e) => e.type === "test")).toHaveLength(5);
    store.close();
  });
});
