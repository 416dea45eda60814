// The stimulus display page (client of /display; contract in controller/wire/display.ts).
// Connects with the token from ?token=, says hello with the screen size and a measured refresh rate, syncs
// its clock to the server's with ping/pong, preloads (decodes) images, and on `show` draws the image centred
// on gray at the next animation frame with a white photodiode patch (bottom-left) while it is on, removes it
// after the requested number of frames, and reports onset/offset in server clock and the dropped frames. During an
// eye calibration it draws the fixation target the server places (degrees from the centre).
import type { CalibrationTarget, DisplayServerMessage } from "../../controller/wire/display.ts";
import {
  bestClockOffset,
  droppedInInterval,
  framesForDuration,
  medianFrameInterval,
  refreshHzFromInterval,
  type SyncSample,
  shouldClear,
} from "./clock.ts";

type ShowRequest = { trialId: number; stimulusId: string; durationMs: number };

type Presentation = ShowRequest & {
  image: HTMLImageElement;
  frames: number;
  phase: "queued" | "drawn" | "on" | "clearing";
  onsetTs: number;
  lastTs: number;
  dropped: number;
};

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? "";
const wsUrl =
  params.get("ws") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/display`;

const stage = document.getElementById("stage") as HTMLDivElement;
const diode = document.getElementById("diode") as HTMLDivElement;
const statusBox = document.getElementById("status") as HTMLDivElement;
const target = document.getElementById("target") as HTMLDivElement;

const images = new Map<string, HTMLImageElement>();
const showQueue: ShowRequest[] = [];
let current: Presentation | null = null;
let frameMs = 1000 / 60;
let socket: WebSocket | null = null;
let samples: SyncSample[] = [];
let pingN = 0;
let syncTimer: number | undefined;

/** Client clock on the epoch scale (ms); rAF timestamps convert with the same origin. */
const clientNow = () => performance.timeOrigin + performance.now();
const toServer = (rafTs: number) =>
  performance.timeOrigin + rafTs + (bestClockOffset(samples)?.offsetMs ?? 0);

/** The eye calibration's target: a white dot with a black centre, on top of everything, or none. */
function drawTarget(t: CalibrationTarget | null): void {
  target.style.display = t ? "block" : "none";
  if (!t) return;
  const size = Math.max(4, t.sizeDeg * t.pixelsPerDegree);
  target.style.width = `${size}px`;
  target.style.height = `${size}px`;
  target.style.left = `${window.innerWidth / 2 + t.xDeg * t.pixelsPerDegree - size / 2}px`;
  target.style.top = `${window.innerHeight / 2 - t.yDeg * t.pixelsPerDegree - size / 2}px`;
}

function setStatus(text: string): void {
  statusBox.textContent = text;
  statusBox.style.display = text ? "block" : "none";
}

function send(message: object): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

/** Measures the refresh interval from `n` animation frames. */
function measureFrameInterval(n: number): Promise<number> {
  return new Promise((resolve) => {
    const ts: number[] = [];
    const step = (t: number) => {
      ts.push(t);
      if (ts.length > n) resolve(medianFrameInterval(ts) ?? 1000 / 60);
      else requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
}

function loadImage(id: string, url: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.decoding = "sync";
  img.alt = id;
  img.src = url;
  return img.decode().then(() => {
    images.set(id, img);
    return img;
  });
}

async function preload(stimuli: Array<{ id: string; url: string }>): Promise<void> {
  const results = await Promise.allSettled(stimuli.map((s) => loadImage(s.id, s.url)));
  const failed = stimuli.filter((_, i) => results[i].status === "rejected").map((s) => s.id);
  send({ type: "preloaded", ok: failed.length === 0, failed });
}

function drawStimulus(image: HTMLImageElement | null): void {
  stage.replaceChildren(...(image ? [image] : []));
  diode.style.background = image ? "rgb(255, 255, 255)" : "rgb(0, 0, 0)";
}

async function startNextShow(): Promise<void> {
  if (current || showQueue.length === 0) return;
  const req = showQueue.shift()!;
  const image = images.get(req.stimulusId);
  if (!image) {
    // Not preloaded: the URL is unknown to the page, so this trial cannot be shown; the server times out.
    console.error(`show: stimulus ${req.stimulusId} was not preloaded`);
    void startNextShow();
    return;
  }
  current = {
    ...req,
    image,
    frames: framesForDuration(req.durationMs, frameMs),
    phase: "queued",
    onsetTs: 0,
    lastTs: 0,
    dropped: 0,
  };
}

function onFrame(ts: number): void {
  const p = current;
  if (p) {
    if (p.phase === "on" || p.phase === "clearing") {
      p.dropped += droppedInInterval(ts - p.lastTs, frameMs);
      p.lastTs = ts;
    }
    if (p.phase === "clearing") {
      // The frame drawn in the previous callback (without the stimulus) is now on screen.
      send({
        type: "shown",
        trialId: p.trialId,
        onset: toServer(p.onsetTs),
        offset: toServer(ts),
        droppedFrames: p.dropped,
      });
      current = null;
      void startNextShow();
    } else if (p.phase === "drawn") {
      // The frame drawn in the previous callback (with the stimulus) is now on screen.
      p.phase = "on";
      p.onsetTs = ts;
      p.lastTs = ts;
    } else if (p.phase === "queued") {
      drawStimulus(p.image);
      p.phase = "drawn";
    }
    if (p.phase === "on" && shouldClear(ts - p.onsetTs, p.frames, frameMs)) {
      drawStimulus(null);
      p.phase = "clearing";
    }
  }
  requestAnimationFrame(onFrame);
}

function clearNow(): void {
  const p = current;
  if (!p) return;
  drawStimulus(null);
  if (p.phase === "drawn") {
    // Drawn but its first frame not yet seen: it reaches the screen for about one frame.
    p.onsetTs = performance.now();
    p.lastTs = p.onsetTs;
    p.phase = "clearing";
  } else if (p.phase === "on") p.phase = "clearing";
  else current = null;
}

function syncRound(rounds: number): void {
  let left = rounds;
  const next = () => {
    if (left-- <= 0) return;
    send({ type: "ping", n: ++pingN, t: clientNow() });
    syncTimer = window.setTimeout(next, 100);
  };
  next();
}

function onMessage(msg: DisplayServerMessage): void {
  switch (msg.type) {
    case "welcome":
      setStatus("");
      return;
    case "pong": {
      samples.push({ tSend: msg.t, tRecv: clientNow(), serverTime: msg.serverTime });
      if (samples.length > 32) samples = samples.slice(-32);
      return;
    }
    case "preload":
      void preload(msg.stimuli);
      return;
    case "show":
      showQueue.push({ trialId: msg.trialId, stimulusId: msg.stimulusId, durationMs: msg.durationMs });
      void startNextShow();
      return;
    case "clear":
      showQueue.length = 0;
      clearNow();
      return;
    case "target":
      drawTarget(msg.target);
      return;
    case "error":
      console.warn(`server error ${msg.code}: ${msg.message}`);
      if (statusBox.style.display !== "none") setStatus(`server error ${msg.code}: ${msg.message}`);
      return;
  }
}

function connect(): void {
  setStatus(`connecting to ${wsUrl}…`);
  const ws = new WebSocket(wsUrl);
  socket = ws;
  samples = [];
  ws.onopen = () => {
    send({
      type: "hello",
      role: "display",
      version: 1,
      token,
      screen: {
        width: Math.round(window.innerWidth),
        height: Math.round(window.innerHeight),
        refreshHz: refreshHzFromInterval(frameMs),
      },
    });
    // A burst of pings for the initial offset, then a few every 10 s to follow drift.
    window.clearTimeout(syncTimer);
    syncRound(8);
    const periodic = window.setInterval(() => {
      if (socket !== ws) window.clearInterval(periodic);
      else syncRound(3);
    }, 10_000);
  };
  ws.onmessage = (ev) => {
    try {
      onMessage(JSON.parse(String(ev.data)) as DisplayServerMessage);
    } catch (err) {
      console.error("bad message from server", err);
    }
  };
  ws.onclose = (ev) => {
    if (socket !== ws) return;
    socket = null;
    showQueue.length = 0;
    clearNow();
    current = null;
    setStatus(`disconnected (${ev.code} ${ev.reason}); reconnecting…`);
    window.setTimeout(connect, 1000);
  };
}

async function main(): Promise<void> {
  drawStimulus(null);
  frameMs = await measureFrameInterval(30);
  requestAnimationFrame(onFrame);
  connect();
}

void main();
