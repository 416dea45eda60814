// The rig box within a session (protocol version 2 boxes; a version 1 box keeps working as before, without eye
// or photodiode): sends the box its settings (the protocol's fixation window, the session's newest eye
// calibration, the EYE stream and photodiode thresholds from the config; SerialRigBox sends them again after
// every HELLO), streams the eye to the dashboards with fixation and photodiode statistics, and runs the eye
// calibration procedure behind the control API:
//   GET  /api/calibration                         the procedure's state (CalibrationView)
//   POST /api/calibration/start?points=9&spacing=5 targets 5, 9 or 13, spacing in degrees (default 9 and 5)
//   POST /api/calibration/accept | skip | cancel
import type { WebSocket } from "ws";
import type { Config } from "../../config/index.ts";
import type { Protocol } from "../../protocols/index.ts";
import type { Logger } from "../log.ts";
import type { DisplayPort } from "../scheduler/rig-ports.ts";
import type { SessionStore } from "../store/store.ts";
import type { EyeView, MonitorServerMessage } from "../wire/monitor.ts";
import type { BoxHandle } from "./box-handle.ts";
import { CalibrationError, EyeCalibration } from "./eye-calibration.ts";
import type { PresentationMeasures } from "./rig-signals.ts";

export interface RigSessionOptions {
  box: BoxHandle;
  store: SessionStore;
  sessionId: string;
  protocol: Protocol;
  config: Config;
  log: Logger;
  /** Sends a message to every dashboard. */
  broadcast(message: MonitorServerMessage): void;
  /** The connected display, if any. */
  display(): DisplayPort | null;
  /** The day machine's state name, e.g. "phase1.running". */
  dayState(): string;
}

const EYE_FLUSH_MS = 100;
const RECENT = 50;

const median = (xs: number[]) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export class RigSession {
  readonly calibration: EyeCalibration;
  private pendingEye: Array<[number, number, number]> = [];
  private fixations: Array<{ t: number; fixating: boolean }> = [];
  private measured: Array<{ pdMinusDisplayMs?: number; eyeSdDeg?: number }> = [];
  private readonly window: EyeView["window"];
  private timer: NodeJS.Timeout;
  private unsubscribe: Array<() => void> = [];

  constructor(private readonly o: RigSessionOptions) {
    const serial = o.box.serial;
    const latest = o.store.eyeCalibrations(o.sessionId).at(-1);
    this.window = { xDeg: 0, yDeg: 0, radiusDeg: o.protocol.presentation.fixationWindowDeg };
    this.calibration = new EyeCalibration(
      {
        showTarget: (t) => {
          const display = o.display();
          if (!display?.target) {
            if (t === null) return;
            throw new CalibrationError(
              "EPHYS_CALIBRATION_NO_DISPLAY",
              "no display is connected: open the display page before calibrating",
            );
          }
          display.target(t && { ...t, pixelsPerDegree: o.config.rig.pixelsPerDegree });
        },
        recentEye: (ms) => o.box.signals?.recentEye(ms) ?? [],
        reward: () =>
          o.box
            .reward(o.protocol.presentation.rewardMs)
            .catch((e: unknown) => o.log.warn(`calibration reward: ${(e as Error).message}`)),
        apply: async (fit, points) => {
          const id = o.store.saveEyeCalibration(o.sessionId, {
            points,
            map: fit.map,
            rmsDeg: fit.rmsDeg,
            maxDeg: fit.maxDeg,
          });
          o.store.appendEvent(o.sessionId, "rig", "calibration", {
            id,
            map: fit.map,
            rmsDeg: fit.rmsDeg,
            maxDeg: fit.maxDeg,
            points,
          });
          await serial?.configure({ calibration: fit.map });
          o.log.info(
            `eye calibration ${id} in use: rms ${fit.rmsDeg.toFixed(2)}°, max ${fit.maxDeg.toFixed(2)}°`,
          );
          return id;
        },
        changed: (calibration) => o.broadcast({ type: "calibration", t: Date.now(), calibration }),
      },
      latest
        ? {
            id: latest.id,
            map: [...latest.map],
            rmsDeg: latest.rmsDeg,
            maxDeg: latest.maxDeg,
            createdAt: latest.createdAt,
          }
        : null,
    );
    if (serial) {
      serial
        .configure({
          window: this.window,
          streamMs: o.config.rig.eyeStreamMs,
          photodiode: o.config.rig.photodiode,
          ...(latest ? { calibration: latest.map } : {}),
        })
        .catch((e: unknown) => o.log.warn(`rig box settings: ${(e as Error).message}`));
      this.unsubscribe.push(
        serial.on("eye", (e) => {
          const t = serial.clock.toHostMs(e.boxMs) ?? Date.now();
          this.pendingEye.push([Math.round(t), e.xDeg, e.yDeg]);
        }),
        serial.on("fixation", (fixating) => this.fixations.push({ t: Date.now(), fixating })),
      );
    }
    // What each presentation measured, for the dashboard's photodiode and eye numbers.
    const measure = o.box.measure;
    if (measure)
      o.box.measure = async (onsetMs, offsetMs) => {
        const m: PresentationMeasures = await measure(onsetMs, offsetMs);
        if (m.pdOnsetMs !== undefined || m.eye) {
          this.measured.push({
            pdMinusDisplayMs: m.pdOnsetMs === undefined ? undefined : m.pdOnsetMs - onsetMs,
            eyeSdDeg: m.eye?.sdDeg,
          });
          if (this.measured.length > RECENT) this.measured.shift();
        }
        return m;
      };
    this.timer = setInterval(() => this.flush(), EYE_FLUSH_MS);
  }

  /** A new dashboard gets the calibration state and the current numbers. */
  attachMonitor(ws: WebSocket): void {
    const send = (m: MonitorServerMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
    };
    send({ type: "calibration", t: Date.now(), calibration: this.calibration.view() });
    send({ type: "eye", t: Date.now(), eye: this.eyeView([]) });
  }

  /** Handles the calibration routes; null for any other path. */
  async http(method: string, url: URL): Promise<{ code: number; body: unknown } | null> {
    if (!url.pathname.startsWith("/api/calibration")) return null;
    const action = url.pathname.slice("/api/calibration".length);
    try {
      if (action === "" && method === "GET") return { code: 200, body: this.calibration.view() };
      if (method !== "POST") return null;
      if (action === "/start") {
        const state = this.o.dayState();
        if (/^phase[12]\.running/.test(state))
          throw new CalibrationError(
            "EPHYS_CALIBRATION_BUSY",
            `the day is presenting (${state}): pause it before calibrating, resume after`,
          );
        const serial = this.o.box.serial;
        if (!serial?.connected || serial.version === null || serial.version < 2)
          throw new CalibrationError(
            "EPHYS_CALIBRATION_NO_BOX",
            serial?.connected
              ? `the rig box speaks protocol version ${serial.version ?? "?"}; the calibration needs version 2 (firmware/rigbox)`
              : "the rig box is not connected",
          );
        const points = Number(url.searchParams.get("points") ?? 9);
        const spacing = Number(url.searchParams.get("spacing") ?? 5);
        this.calibration.start(points, spacing);
        this.o.store.appendEvent(this.o.sessionId, "rig", "calibration-started", {
          points,
          spacingDeg: spacing,
        });
      } else if (action === "/accept") await this.calibration.accept();
      else if (action === "/skip") await this.calibration.skip();
      else if (action === "/cancel") this.calibration.cancel();
      else return null;
      return { code: 200, body: this.calibration.view() };
    } catch (e) {
      const code = (e as { code?: string }).code ?? "EPHYS_CALIBRATION_FAILED";
      const status = code === "EPHYS_BAD_CALIBRATION_INPUT" ? 400 : 409;
      return { code: status, body: { code, message: (e as Error).message } };
    }
  }

  stop(): void {
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
  }

  private flush(): void {
    if (this.pendingEye.length === 0) return;
    const samples = this.pendingEye;
    this.pendingEye = [];
    this.o.broadcast({ type: "eye", t: Date.now(), eye: this.eyeView(samples) });
  }

  private eyeView(samples: Array<[number, number, number]>): EyeView {
    const now = Date.now();
    const from = now - 60_000;
    this.fixations = this.fixations.filter((f, i, all) => f.t >= from || all[i + 1]?.t >= from);
    const serial = this.o.box.serial;
    // Time fixating over the last minute (from the first state known within it).
    let fixatingMs = 0;
    let knownMs = 0;
    for (const [i, f] of this.fixations.entries()) {
      const start = Math.max(f.t, from);
      const end = this.fixations[i + 1]?.t ?? now;
      if (end <= start) continue;
      knownMs += end - start;
      if (f.fixating) fixatingMs += end - start;
    }
    const pd = this.measured.flatMap((m) => (m.pdMinusDisplayMs === undefined ? [] : [m.pdMinusDisplayMs]));
    const sds = this.measured.flatMap((m) => (m.eyeSdDeg === undefined ? [] : [m.eyeSdDeg]));
    return {
      samples,
      fixating: this.o.box.fixating,
      window: this.window,
      version: serial?.version ?? null,
      clockUncertaintyMs: serial?.clock.uncertaintyMs ?? null,
      breaksLastMinute: this.fixations.filter((f) => f.t >= from && !f.fixating).length,
      fixatingFraction: knownMs > 0 ? fixatingMs / knownMs : null,
      photodiode: { n: pd.length, medianMs: median(pd), lastMs: pd.at(-1) ?? null },
      eyeSdDeg: median(sds),
    };
  }
}
