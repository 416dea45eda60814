// HeadlessDisplay (the virtual rig's display) against DisplayLink through the test stand-in of the daemon.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DisplayLink } from "../../controller/display/display-link.ts";
import { HeadlessDisplay, type HeadlessDisplayOptions } from "../../controller/simulate/headless-display.ts";
import { startDisplayServer, type TestDisplayServer } from "./display-server.helper.ts";

const frameMs = 1000 / 60;

describe("HeadlessDisplay", () => {
  let server: TestDisplayServer;
  let display: HeadlessDisplay;
  let link: DisplayLink;

  beforeEach(async () => {
    server = await startDisplayServer({ token: "tk", files: { "/img/a.png": Buffer.from("png") } });
  });
  afterEach(async () => {
    await display?.close();
    await server.close();
  });

  async function connect(
    options: Pick<HeadlessDisplayOptions, "dropRate" | "realTime" | "onPreload" | "verifyUrls"> = {},
  ): Promise<void> {
    display = await HeadlessDisplay.connect({ url: server.wsUrl, token: "tk", seed: 3, ...options });
    link = await server.nextLink();
  }

  it("says hello with its screen and preloads by fetching each URL", async () => {
    await connect();
    expect(link.screen).toEqual({ width: 1920, height: 1080, refreshHz: 60 });
    expect(
      await link.preload([
        { id: "a", url: "/img/a.png" },
        { id: "b", url: "/img/missing.png" },
      ]),
    ).toEqual({ ok: false, failed: ["b"] });
  });

  it("hands the fetched bytes to onPreload, in the request's order, and answers preloaded after it has resolved", async () => {
    await server.close();
    server = await startDisplayServer({
      token: "tk",
      files: { "/img/a.png": Buffer.from("png a"), "/img/b.png": Buffer.from("png b") },
    });
    const calls: Array<Array<{ id: string; bytes: Uint8Array }>> = [];
    let hookDone = false;
    await connect({
      onPreload: async (images) => {
        calls.push(images);
        await new Promise((r) => setTimeout(r, 50)); // the neurons computing features
        hookDone = true;
      },
    });
    const result = await link.preload([
      { id: "b", url: "/img/b.png" },
      { id: "gone", url: "/img/missing.png" },
      { id: "a", url: "/img/a.png" },
    ]);
    expect(hookDone).toBe(true); // `preloaded` came after the hook had finished
    expect(result).toEqual({ ok: false, failed: ["gone"] });
    expect(calls).toEqual([
      [
        { id: "b", bytes: new Uint8Array(Buffer.from("png b")) },
        { id: "a", bytes: new Uint8Array(Buffer.from("png a")) },
      ],
    ]);
  });

  it("names the images as failed when onPreload rejects, and warns with its reason", async () => {
    await connect({ onPreload: () => Promise.reject(new Error("no features")) });
    const warnings: string[] = [];
    display.on("warning", (w) => warnings.push(w));
    expect(await link.preload([{ id: "a", url: "/img/a.png" }])).toEqual({ ok: false, failed: ["a"] });
    expect(warnings).toEqual([expect.stringContaining("no features")]);
  });

  it("does not call onPreload when it fetches nothing (verifyUrls false)", async () => {
    let called = 0;
    await connect({
      verifyUrls: false,
      onPreload: async () => {
        called++;
      },
    });
    expect(await link.preload([{ id: "a", url: "/img/a.png" }])).toEqual({ ok: true, failed: [] });
    expect(called).toBe(0);
  });

  it("is refused with the server's error on a wrong token", async () => {
    await expect(HeadlessDisplay.connect({ url: server.wsUrl, token: "wrong" })).rejects.toMatchObject({
      code: "EPHYS_DISPLAY_REFUSED",
    });
  });

  it("reports plausible onsets and offsets in server clock, in real time", async () => {
    await connect({ dropRate: 0 });
    await link.preload([{ id: "a", url: "/img/a.png" }]);
    const sent = Date.now();
    const r = await link.show(1, "a", 100);
    const received = Date.now();
    // At least a frame after the request (less the clock-sync error, ≤ rtt/2 on loopback); loose upper bound
    // because a loaded machine delays the show frame itself.
    expect(r.onset).toBeGreaterThanOrEqual(sent + frameMs - 10);
    expect(r.onset).toBeLessThanOrEqual(sent + 2 * frameMs + 100);
    expect(r.offset - r.onset).toBeCloseTo(6 * frameMs, 6); // round(100 / 16.67) = 6 frames
    expect(received).toBeGreaterThanOrEqual(Math.floor(r.offset) - 10); // sent when the presentation ended
    expect(r.droppedFrames).toBe(0);
    expect(display.shown).toEqual([{ trialId: 1, stimulusId: "a", durationMs: 100, ...r }]);
  });

  it("drops frames at the configured rate (seeded)", async () => {
    await connect({ dropRate: 0.5, realTime: false });
    await link.preload([{ id: "a", url: "/img/a.png" }]);
    const results = [];
    for (let t = 1; t <= 40; t++) results.push(await link.show(t, "a", 50));
    const dropped = results.filter((r) => r.droppedFrames === 1).length;
    expect(dropped).toBeGreaterThan(8);
    expect(dropped).toBeLessThan(32);
    expect(results.every((r) => r.droppedFrames === 0 || r.droppedFrames === 1)).toBe(true);
  });

  it("ends a presentation early on clear", async () => {
    await connect({ dropRate: 0 });
    await link.preload([{ id: "a", url: "/img/a.png" }]);
    const started = new Promise<void>((r) => display.on("show", () => r()));
    const shown = link.show(2, "a", 5000);
    await started; // the display has the show: clear it while it is on
    link.clear();
    const r = await shown;
    expect(r.offset - r.onset).toBeLessThan(1000);
    expect(r.offset).toBeGreaterThanOrEqual(r.onset);
  });

  it("reconnects after the server drops it and keeps answering", async () => {
    display = await HeadlessDisplay.connect({
      url: server.wsUrl,
      token: "tk",
      reconnectDelayMs: 50,
      dropRate: 0,
    });
    link = await server.nextLink();
    await link.preload([{ id: "a", url: "/img/a.png" }]);
    const reconnected = new Promise<void>((resolve) => display.on("reconnected", resolve));
    link.close(1012, "daemon restarting");
    const again = await server.nextLink();
    await reconnected;
    const r = await again.show(11, "a", 30);
    expect(r.offset).toBeGreaterThan(r.onset);
  });

  it("does not answer a show for a stimulus it never loaded (the server times out) and warns", async () => {
    server = await (async () => {
      await server.close();
      return startDisplayServer({ token: "tk", link: { showTimeoutMarginMs: 100 } });
    })();
    await connect();
    const warnings: string[] = [];
    display.on("warning", (w) => warnings.push(w));
    await expect(link.show(9, "ghost", 20)).rejects.toMatchObject({ code: "EPHYS_DISPLAY_TIMEOUT" });
    expect(warnings[0]).toContain("ghost was not preloaded");
  });
});
