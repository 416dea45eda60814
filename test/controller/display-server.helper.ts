// Test stand-in for the daemon's /display endpoint: an http server (static files) plus a ws server that
// checks the hello's token and version the way the daemon does, then hands the socket to a DisplayLink.
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { WebSocketServer } from "ws";
import { DisplayLink, type DisplayLinkOptions } from "../../controller/display/display-link.ts";
import { DISPLAY_VERSION, displayHello } from "../../controller/wire/display.ts";

const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".png": "image/png" };

export interface TestDisplayServer {
  httpBase: string;
  wsUrl: string;
  /** Resolves with the next DisplayLink handed over after a good hello. */
  nextLink(): Promise<DisplayLink>;
  close(): Promise<void>;
}

export async function startDisplayServer(options: {
  token: string;
  /** URL prefix → directory, e.g. { "/display/": distDir }. */
  dirs?: Record<string, string>;
  /** Exact URL path → bytes. */
  files?: Record<string, Buffer>;
  link?: DisplayLinkOptions;
}): Promise<TestDisplayServer> {
  const waiting: Array<(l: DisplayLink) => void> = [];
  const ready: DisplayLink[] = [];
  const http: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    let body: Buffer | undefined = options.files?.[path];
    if (!body) {
      for (const [prefix, dir] of Object.entries(options.dirs ?? {})) {
        if (!path.startsWith(prefix)) continue;
        const rel = normalize(path.slice(prefix.length) || "index.html");
        if (rel.startsWith("..")) break;
        body = await readFile(join(dir, rel)).catch(() => undefined);
      }
    }
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": types[extname(path)] ?? "text/html" }).end(body);
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on("upgrade", (req, socket, head) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== "/display") {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.once("message", (data) => {
        const parsed = displayHello.safeParse(JSON.parse(data.toString()));
        if (
          !parsed.success ||
          parsed.data.token !== options.token ||
          parsed.data.version !== DISPLAY_VERSION
        ) {
          ws.send(JSON.stringify({ type: "error", code: "EPHYS_AUTH", message: "bad hello" }));
          ws.close(1008, "bad hello");
          return;
        }
        const link = new DisplayLink(ws, parsed.data.screen, options.link);
        ws.send(JSON.stringify({ type: "welcome", sessionId: "test-session" }));
        const w = waiting.shift();
        if (w) w(link);
        else ready.push(link);
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    httpBase: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/display`,
    nextLink: () => {
      const l = ready.shift();
      return l ? Promise.resolve(l) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
