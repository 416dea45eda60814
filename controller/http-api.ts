// The daemon's HTTP side: /health, the control API (status, pause, resume, abort, the eye calibration), the
// session's stimulus images and the built display and dashboard pages — every route but /health behind the token.
import { createReadStream, existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize } from "node:path";
import { pipeline } from "node:stream";
import { requestToken, tokenMatches } from "./auth.ts";
import type { DayEvent } from "./day/machine.ts";
import type { RigSession } from "./rig/rig-session.ts";
import type { SessionStore } from "./store/store.ts";

/** The control API takes no body; anything larger than this is refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpDeps {
  token: string;
  store: SessionStore;
  sessionId: string;
  status(): unknown;
  send(event: DayEvent): void;
  rig: RigSession | null;
  displayDir?: string;
  monitorDir?: string;
}

export function handleHttp(d: HttpDeps, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  const json = (code: number, body: unknown) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === "/health") return json(200, { ok: true });
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES)
    return json(413, {
      code: "EPHYS_BODY_TOO_LARGE",
      message: `request bodies are limited to ${MAX_BODY_BYTES} bytes (the API takes none)`,
    });
  if (!tokenMatches(d.token, requestToken(req, url)))
    return json(401, {
      code: "EPHYS_UNAUTHORIZED",
      message: "missing or wrong token (Authorization: Bearer … or ?token=)",
    });
  if (url.pathname === "/api/status" && req.method === "GET") return json(200, d.status());
  if (url.pathname.startsWith("/api/calibration")) {
    if (!d.rig)
      return json(409, {
        code: "EPHYS_CALIBRATION_NO_BOX",
        message: "no rig box configured (rig.serialPath): the eye calibration needs one",
      });
    void d.rig
      .http(req.method ?? "GET", url)
      .then((r) =>
        r
          ? json(r.code, r.body)
          : json(404, { code: "EPHYS_NOT_FOUND", message: `no route ${req.method} ${url.pathname}` }),
      );
    return;
  }
  const control: Record<string, DayEvent> = {
    "/api/pause": { type: "PAUSE", reason: "paused by the operator" },
    "/api/resume": { type: "RESUME" },
    "/api/abort": { type: "ABORT", by: "operator" },
  };
  if (control[url.pathname] && req.method === "POST") {
    d.store.appendEvent(d.sessionId, "control", url.pathname.slice(5), {
      remote: req.socket.remoteAddress,
    });
    d.send(control[url.pathname]);
    return json(200, d.status());
  }
  if (url.pathname.startsWith("/stimuli/") && req.method === "GET") {
    const id = decodeURIComponent(url.pathname.slice("/stimuli/".length));
    const s = d.store.stimuli(d.sessionId).find((x) => x.id === id);
    if (!s || !existsSync(s.path))
      return json(404, { code: "EPHYS_NO_STIMULUS", message: `no stimulus ${id}` });
    return sendFile(res, s.path);
  }
  for (const [prefix, dir] of [
    ["/display", d.displayDir],
    ["/monitor", d.monitorDir],
  ] as const) {
    if (!dir || !(url.pathname === prefix || url.pathname.startsWith(`${prefix}/`))) continue;
    const rel = normalize(url.pathname.slice(prefix.length) || "/index.html").replace(/^(\.\.[/\\])+/, "");
    const file = join(dir, rel === "/" ? "index.html" : rel);
    if (!file.startsWith(dir) || !existsSync(file))
      return json(404, { code: "EPHYS_NOT_FOUND", message: url.pathname });
    return sendFile(res, file);
  }
  json(404, { code: "EPHYS_NOT_FOUND", message: `no route ${req.method} ${url.pathname}` });
}

/** A file as the response body; a read error (file gone mid-read) ends the response instead of the process. */
function sendFile(res: ServerResponse, path: string): void {
  res.writeHead(200, { "content-type": contentType(path), "cache-control": "no-store" });
  pipeline(createReadStream(path), res, () => {});
}

function contentType(path: string): string {
  const types: Record<string, string> = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
  };
  return types[extname(path).toLowerCase()] ?? "application/octet-stream";
}
