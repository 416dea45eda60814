// The display page in Debian's headless Chromium (playwright-core) against a DisplayLink on loopback:
// hello + preload, the stimulus drawn centred with the photodiode patch lit, cleared afterwards, `shown`
// reported in server clock. Screenshots go to test/artifacts/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DisplayLink } from "../../controller/display/display-link.ts";
import { buildDisplayPage } from "../../stimuli/display/build.ts";
import { startDisplayServer, type TestDisplayServer } from "./display-server.helper.ts";

const artifacts = new URL("../artifacts/", import.meta.url).pathname;
const W = 800;
const H = 600;

async function solidPng(r: number, g: number, b: number): Promise<Buffer> {
  return sharp({ create: { width: 200, height: 200, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
}

/** RGB of one pixel of a PNG screenshot. */
async function pixel(png: Buffer, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i], data[i + 1], data[i + 2]];
}

describe("display page in headless Chromium", () => {
  let dist: string;
  let server: TestDisplayServer;
  let browser: Browser;
  let page: Page;
  let link: DisplayLink;
  const consoleErrors: string[] = [];
  /** Screenshots until the centre pixel has this colour (the stimulus is on), then that screenshot. */
  async function untilPixel(rgb: [number, number, number]): Promise<Buffer> {
    for (let t0 = Date.now(); Date.now() - t0 < 5000; ) {
      const shot = await page.screenshot();
      const c = await pixel(shot, W / 2, H / 2);
      if (c[0] === rgb[0] && c[1] === rgb[1] && c[2] === rgb[2]) return shot;
    }
    throw new Error(`the centre never turned ${rgb.join(",")}`);
  }

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    dist = await buildDisplayPage(mkdtempSync(join(tmpdir(), "ephys-display-")));
    server = await startDisplayServer({
      token: "s3cret",
      dirs: { "/display/": dist },
      files: { "/img/red.png": await solidPng(255, 0, 0), "/img/blue.png": await solidPng(0, 0, 255) },
    });
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    page = await browser.newPage({ viewport: { width: W, height: H } });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    await page.goto(`${server.httpBase}/display/?token=s3cret`);
    link = await server.nextLink();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  it("says hello with its screen size and a measured refresh rate", () => {
    expect(link.screen.width).toBe(W);
    expect(link.screen.height).toBe(H);
    expect(link.screen.refreshHz).toBeGreaterThan(20);
    expect(link.screen.refreshHz).toBeLessThan(250);
  });

  it("preloads images and names the ones that fail", async () => {
    expect(
      await link.preload([
        { id: "red", url: "/img/red.png" },
        { id: "nope", url: "/img/missing.png" },
      ]),
    ).toEqual({ ok: false, failed: ["nope"] });
    expect(
      await link.preload([
        { id: "red", url: "/img/red.png" },
        { id: "blue", url: "/img/blue.png" },
      ]),
    ).toEqual({ ok: true, failed: [] });
  });

  it("shows a stimulus centred on gray with the photodiode patch lit, then clears it", async () => {
    // The page's clock-sync burst (8 pings, 100 ms apart) is over: its onsets are in server time from now on.
    for (let t0 = Date.now(); link.pingsAnswered < 8; ) {
      if (Date.now() - t0 > 10_000) throw new Error(`only ${link.pingsAnswered} clock-sync pings`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const sentAt = Date.now();
    const shown = link.show(1, "red", 1500);
    const during = await untilPixel([255, 0, 0]);
    writeFileSync(join(artifacts, "display-on.png"), during);
    expect(await pixel(during, W / 2, H / 2)).toEqual([255, 0, 0]);
    expect(await pixel(during, W / 2 + 90, H / 2 - 90)).toEqual([255, 0, 0]); // inside the 200 px square
    expect(await pixel(during, W / 2 + 110, H / 2)).toEqual([128, 128, 128]); // just outside it
    expect(await pixel(during, 20, H - 20)).toEqual([255, 255, 255]);
    expect(await pixel(during, 60, H - 20)).toEqual([128, 128, 128]); // the patch is 40 px wide

    const r = await shown;
    const receivedAt = Date.now();
    expect(r.onset).toBeLessThan(r.offset);
    expect(r.offset - r.onset).toBeGreaterThan(1500 - 150);
    expect(r.offset - r.onset).toBeLessThan(1500 + 500);
    // Server clock: after the request (less the ping/pong sync error), before the report arrived.
    expect(r.onset).toBeGreaterThan(sentAt - 50);
    expect(r.onset).toBeLessThan(sentAt + 500);
    expect(r.offset).toBeLessThan(receivedAt + 50);
    expect(r.droppedFrames).toBeGreaterThanOrEqual(0);

    const after = await page.screenshot();
    writeFileSync(join(artifacts, "display-off.png"), after);
    expect(await pixel(after, W / 2, H / 2)).toEqual([128, 128, 128]);
    expect(await pixel(after, 20, H - 20)).toEqual([0, 0, 0]);
  });

  it("ends a presentation early on clear and reports the shortened offset", async () => {
    const shown = link.show(2, "blue", 5000);
    const during = await untilPixel([0, 0, 255]);
    expect(await pixel(during, W / 2, H / 2)).toEqual([0, 0, 255]);
    const clearedAt = Date.now(); // server clock, which the page's reports use
    link.clear();
    const r = await shown;
    // On when the screenshot saw it, off soon after the clear: far short of the 5000 ms asked for.
    expect(r.onset).toBeLessThan(clearedAt);
    expect(r.offset).toBeGreaterThan(r.onset);
    expect(r.offset).toBeLessThan(clearedAt + 500);
    const after = await page.screenshot();
    expect(await pixel(after, W / 2, H / 2)).toEqual([128, 128, 128]);
  });

  it("plays queued shows one after another", async () => {
    const results = await Promise.all([link.show(3, "red", 100), link.show(4, "blue", 100)]);
    expect(results[1].onset).toBeGreaterThanOrEqual(results[0].offset);
    for (const r of results) expect(r.offset - r.onset).toBeGreaterThan(50);
  });

  it("answers a bad message from a browser client with an error frame", async () => {
    const reply = await page.evaluate(async (url) => {
      const ws = new WebSocket(url);
      const frames: string[] = [];
      await new Promise((resolve) => ws.addEventListener("open", resolve));
      ws.send(
        JSON.stringify({
          type: "hello",
          role: "display",
          version: 1,
          token: "s3cret",
          screen: { width: 10, height: 10, refreshHz: 60 },
        }),
      );
      const got = new Promise<void>((resolve) =>
        ws.addEventListener("message", (ev) => {
          frames.push(String(ev.data));
          if (frames.length === 2) resolve();
        }),
      );
      ws.send(JSON.stringify({ type: "shown", trialId: 1, onset: "soon", offset: 2, droppedFrames: 0 }));
      await got;
      ws.close();
      return frames.map((f) => JSON.parse(f));
    }, server.wsUrl);
    await server.nextLink();
    expect(reply[0]).toEqual({ type: "welcome", sessionId: "test-session" });
    expect(reply[1].type).toBe("error");
    expect(reply[1].code).toBe("EPHYS_BAD_MESSAGE");
    expect(reply[1].message).toContain("onset:");
  });

  it("reconnects after the server drops it, and shows again on the new link", async () => {
    link.close(1012, "daemon restarting");
    link = await server.nextLink();
    expect(link.screen.width).toBe(W);
    await link.preload([{ id: "red", url: "/img/red.png" }]);
    const r = await link.show(10, "red", 100);
    expect(r.offset).toBeGreaterThan(r.onset);
  });

  it("logged no errors in the page console", () => {
    expect(consoleErrors.filter((e) => !e.includes("missing.png") && !e.includes("404"))).toEqual([]);
  });
});
