// What the daemon asks of a version 2 rig box: the eye calibration, the fixation window, the EYE stream and the
// photodiode thresholds. Checked here against the firmware's limits (firmware/rigbox/src/eye.h, commands.c), so
// a bad value is refused with its name before anything is written to the box.
import type { EyeMap, HostCommand } from "../wire/rig-lines.ts";

export interface BoxSettings {
  /** Eye inputs (volts) → degrees; affine. */
  calibration?: EyeMap;
  /** The fixation window: centre and radius in degrees; `samples` in a row outside (or inside) change the state. */
  window?: { xDeg: number; yDeg: number; radiusDeg: number; samples?: number };
  /** EYE lines every this many ms (0 = off, else 5..1000). */
  streamMs?: number;
  /** Photodiode on and off thresholds in millivolts at the pin (off below on). */
  photodiode?: { onMv: number; offMv: number };
}

export const EYE_GAIN_MAX = 400; // degrees per volt
export const EYE_OFFSET_MAX = 1000; // degrees

/** Returns a sentence naming the first bad field and what was expected, or null when the settings are good. */
export function settingsProblem(s: BoxSettings): string | null {
  if (s.calibration !== undefined) {
    const names = ["ax", "bx", "cx", "ay", "by", "cy"];
    if (!Array.isArray(s.calibration) || s.calibration.length !== 6)
      return `calibration: expected 6 numbers [ax, bx, cx, ay, by, cy], found ${JSON.stringify(s.calibration)}`;
    for (let i = 0; i < 6; i++) {
      const v = s.calibration[i];
      const limit = i % 3 === 2 ? EYE_OFFSET_MAX : EYE_GAIN_MAX;
      if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > limit)
        return `calibration.${names[i]}: expected a ${i % 3 === 2 ? "offset" : "gain"} within ±${limit} ${
          i % 3 === 2 ? "deg" : "deg/V"
        }, found ${String(v)}`;
    }
  }
  if (s.window !== undefined) {
    const w = s.window;
    for (const k of ["xDeg", "yDeg"] as const)
      if (!Number.isFinite(w[k]) || Math.abs(w[k]) > 1000)
        return `window.${k}: expected degrees within ±1000, found ${String(w[k])}`;
    if (!Number.isFinite(w.radiusDeg) || w.radiusDeg <= 0 || w.radiusDeg > 300)
      return `window.radiusDeg: expected a radius in (0, 300] degrees, found ${String(w.radiusDeg)}`;
    if (w.samples !== undefined && (!Number.isInteger(w.samples) || w.samples < 1 || w.samples > 255))
      return `window.samples: expected an integer 1..255, found ${String(w.samples)}`;
  }
  if (s.streamMs !== undefined) {
    const v = s.streamMs;
    if (!Number.isInteger(v) || (v !== 0 && (v < 5 || v > 1000)))
      return `streamMs: expected 0 (off) or an integer 5..1000 ms, found ${String(v)}`;
  }
  if (s.photodiode !== undefined) {
    const { onMv, offMv } = s.photodiode;
    if (!Number.isInteger(onMv) || onMv < 0 || onMv > 5000)
      return `photodiode.onMv: expected an integer 0..5000 mV, found ${String(onMv)}`;
    if (!Number.isInteger(offMv) || offMv < 0 || offMv >= onMv)
      return `photodiode.offMv: expected an integer 0..${onMv - 1} mV (below onMv), found ${String(offMv)}`;
  }
  return null;
}

/** The commands that carry the given settings, in the order the box should get them. */
export function settingsCommands(s: BoxSettings): HostCommand[] {
  const out: HostCommand[] = [];
  if (s.calibration) out.push({ kind: "cal", map: s.calibration });
  if (s.window) out.push({ kind: "win", ...s.window });
  if (s.streamMs !== undefined) out.push({ kind: "stream", everyMs: s.streamMs });
  if (s.photodiode) out.push({ kind: "pdthr", ...s.photodiode });
  return out;
}
