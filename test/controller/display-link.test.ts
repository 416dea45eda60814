// DisplayLink (server side of one /display connection) over a real WebSocket on loopback, with a raw client.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type DisplayLink, DisplayLinkError } from "../../controller/display/display-link.ts";
import { startDisplayServer, type TestDisplayServer } from "./display-server.helper.ts";

type Frame = { type: string; [k: string]: unknown };

class RawClient {
  readonly frames: Frame[] = [];
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      const f = JSON.parse(d.toString()) as Frame;
      this.frames.push(f);
      const i = this.waiters.findIndex((w) => w.pred(f));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(f);
    });
  }
  static async open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    const c = new RawClient(ws);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return c;
  }
  send(m: unknown): void {
    this.ws.send(typeof m === "string" ? m : JSON.stringify(m));
  }
  next(type: string, pred: (f: Frame) => boolean = () => true): Promise<Frame> {
    const seen = this.frames.find((f) => f.type === type && pred(f));
    if (seen) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve) =>
      this.waiters.push({
        pred: (f) => f.type === type && pred(f),
        resolve: (f) => {
          this.frames.splice(this.frames.indexOf(f), 1);
          resolve(f);
        },
      }),
    );
  }
}

const screen = { width: 800, height: 600, refreshHz: 60 };
const hello = { type: "hello", role: "display", version: 1, token: "t0k", screen };

describe("DisplayLink", () => {
  let server: TestDisplayServer;
  let client: RawClient;
  let link: DisplayLink;
  let warnings: string[];

  beforeEach(async () => {
    server = await startDisplayServer({
      token: "t0k",
      link: { showTimeoutMarginMs: 150, preloadTimeoutMs: 300 },
    });
    client = await RawClient.open(server.wsUrl);
    client.send(hello);
    link = await server.nextLink();
    await client.next("welcome");
    warnings = [];
    link.on("warning", (w) => warnings.push(w));
  });

  afterEach(async () => {
    client.ws.close();
    await server.close();
  });

  it("keeps the screen from the hello", () => {
    expect(link.screen).toEqual(screen);
    expect(link.open).toBe(true);
  });

  it("answers ping with pong carrying the server clock", async () => {
    const before = Date.now();
    client.send({ type: "ping", n: 4, t: 123.5 });
    const pong = await client.next("pong");
    expect(pong.n).toBe(4);
    expect(pong.t).toBe(123.5);
    expect(pong.serverTime).toBeGreaterThanOrEqual(before);
    expect(pong.serverTime).toBeLessThanOrEqual(Date.now());
  });

  it("sends preload and resolves with the page's preloaded; requests are serialized", async () => {
    const a = link.preload([{ id: "red", url: "/img/red.png" }]);
    const b = link.preload([{ id: "blue", url: "/img/blue.png" }]);
    const first = await client.next("preload");
    expect(first.stimuli).toEqual([{ id: "red", url: "/img/red.png" }]);
    expect(client.frames.some((f) => f.type === "preload")).toBe(false);
    client.send({ type: "preloaded", ok: true, failed: [] });
    expect(await a).toEqual({ ok: true, failed: [] });
    const second = await client.next("preload");
    expect(second.stimuli).toEqual([{ id: "blue", url: "/img/blue.png" }]);
    client.send({ type: "preloaded", ok: false, failed: ["blue"] });
    expect(await b).toEqual({ ok: false, failed: ["blue"] });
  });

  it("sends show and resolves with onset, offset and dropped frames", async () => {
    const p = link.show(7, "red", 100);
    const show = await client.next("show");
    expect(show).toEqual({ type: "show", trialId: 7, stimulusId: "red", durationMs: 100 });
    client.send({ type: "shown", trialId: 7, onset: 1000.5, offset: 1100.5, droppedFrames: 2 });
    expect(await p).toEqual({ onset: 1000.5, offset: 1100.5, droppedFrames: 2 });
  });

  it("rejects show with EPHYS_DISPLAY_TIMEOUT when shown does not come, and warns about a late one", async () => {
    const err = await link.show(3, "red", 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DisplayLinkError);
    expect(err).toMatchObject({ code: "EPHYS_DISPLAY_TIMEOUT" });
    expect((err as Error).message).toContain("trial 3");
    client.send({ type: "shown", trialId: 3, onset: 1, offset: 2, droppedFrames: 0 });
    client.send({ type: "ping", n: 1, t: 0 });
    await client.next("pong");
    expect(warnings).toEqual(["display sent shown for trial 3, which is not pending (late?)"]);
  });

  it("rejects preload with EPHYS_DISPLAY_TIMEOUT and moves on to the next request", async () => {
    const a = link.preload([{ id: "x", url: "/x.png" }]).catch((e: unknown) => e);
    const b = link.preload([{ id: "y", url: "/y.png" }]);
    expect(await a).toMatchObject({ code: "EPHYS_DISPLAY_TIMEOUT" });
    await client.next("preload", (f) => (f.stimuli as Array<{ id: string }>)[0].id === "y");
    client.send({ type: "preloaded", ok: true, failed: [] });
    expect(await b).toEqual({ ok: true, failed: [] });
  });

  it("refuses bad show arguments and a duplicate trial", async () => {
    await expect(link.show(0, "red", 100)).rejects.toMatchObject({ code: "EPHYS_BAD_OPTION" });
    await expect(link.show(1, "red", 0)).rejects.toMatchObject({ code: "EPHYS_BAD_OPTION" });
    const p = link.show(1, "red", 100);
    await expect(link.show(1, "red", 100)).rejects.toMatchObject({ code: "EPHYS_DISPLAY_BUSY" });
    client.send({ type: "shown", trialId: 1, onset: 1, offset: 2, droppedFrames: 0 });
    await p;
  });

  it("answers bad messages with an error frame naming the field and stays open", async () => {
    const cases: Array<[unknown, string]> = [
      ["{not json", "expected a JSON text frame"],
      [{ type: "shown", trialId: "7", onset: 1, offset: 2, droppedFrames: 0 }, "trialId:"],
      [{ type: "shown", trialId: 7, onset: 1, offset: 2, droppedFrames: -1 }, "droppedFrames:"],
      [{ type: "ping", n: 1 }, "t:"],
      [{ type: "preloaded", ok: true, failed: [], extra: 1 }, "extra"],
      [{ type: "dance" }, "type:"],
      [hello, "hello was already received"],
    ];
    for (const [message, expected] of cases) {
      client.send(message);
      const err = await client.next("error");
      expect(err.code).toBe("EPHYS_BAD_MESSAGE");
      expect(err.message).toContain(expected);
    }
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await client.next("error")).message).toContain("binary frame");
    expect(warnings).toHaveLength(cases.length + 1);
    client.send({ type: "ping", n: 9, t: 1 });
    expect((await client.next("pong")).n).toBe(9);
    expect(link.open).toBe(true);
  });

  it("rejects pending requests with EPHYS_DISPLAY_LOST when the page goes away", async () => {
    const closed = new Promise<string>((resolve) => link.on("closed", resolve));
    const show = link.show(5, "red", 10_000).catch((e: unknown) => e);
    const pre = link.preload([{ id: "a", url: "/a.png" }]).catch((e: unknown) => e);
    await client.next("show");
    client.ws.close(1001, "page unloaded");
    expect(await closed).toContain("1001 page unloaded");
    expect(await show).toMatchObject({ code: "EPHYS_DISPLAY_LOST" });
    expect(await pre).toMatchObject({ code: "EPHYS_DISPLAY_LOST" });
    expect(link.open).toBe(false);
    await expect(link.show(6, "red", 10)).rejects.toMatchObject({ code: "EPHYS_DISPLAY_LOST" });
  });

  it("sends clear", async () => {
    link.clear();
    expect(await client.next("clear")).toEqual({ type: "clear" });
  });
});
