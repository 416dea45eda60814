// The dashboard's eye panel (client side of the /monitor `eye` and `calibration` messages): the eye trace of the
// last two seconds over the fixation window (green while the box says fixating, red otherwise) and the
// calibration targets, the fixation and photodiode numbers, and the calibration controls (space bar = accept).
import type { CalibrationView, EyeView } from "../../controller/wire/monitor.ts";

const TRACE_MS = 2000;
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export interface EyePanelOptions {
  /** POSTs to /api/calibration/<action> (query included) and returns the body or throws with its message. */
  call(action: string): Promise<unknown>;
  message(text: string): void;
}

export function createEyePanel(o: EyePanelOptions) {
  const canvas = $<HTMLCanvasElement>("eye-canvas");
  const ctx = canvas.getContext("2d");
  let trace: Array<[number, number, number]> = [];
  let last: EyeView | null = null;
  let calibration: CalibrationView | null = null;

  const fmt = (v: number | null | undefined, digits: number, unit = "") =>
    v === null || v === undefined ? "–" : `${v.toFixed(digits)}${unit}`;

  function range(): number {
    const spacing = calibration?.active ? calibration.spacingDeg * 1.5 : 0;
    return Math.max(10, (last?.window?.radiusDeg ?? 0) * 3, spacing);
  }

  function draw(): void {
    if (!ctx) return;
    const w = canvas.width;
    const h = canvas.height;
    const r = range();
    const px = (x: number) => w / 2 + (x / r) * (w / 2);
    const py = (y: number) => h / 2 - (y / r) * (h / 2);
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#e3e7ec";
    ctx.lineWidth = 1;
    for (let d = -Math.floor(r / 5) * 5; d <= r; d += 5) {
      ctx.beginPath();
      ctx.moveTo(px(d), 0);
      ctx.lineTo(px(d), h);
      ctx.moveTo(0, py(d));
      ctx.lineTo(w, py(d));
      ctx.stroke();
    }
    if (last?.window) {
      ctx.strokeStyle = last.fixating ? "#2f8a4e" : "#d64545";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(
        px(last.window.xDeg),
        py(last.window.yDeg),
        (last.window.radiusDeg / r) * (w / 2),
        0,
        2 * Math.PI,
      );
      ctx.stroke();
    }
    if (calibration?.active)
      for (const p of calibration.points) {
        ctx.fillStyle = p.status === "current" ? "#c2571a" : p.status === "accepted" ? "#2f8a4e" : "#9aa4b1";
        ctx.beginPath();
        ctx.arc(px(p.xDeg), py(p.yDeg), p.status === "current" ? 6 : 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    if (trace.length) {
      ctx.strokeStyle = "#3563b8";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const [i, [, x, y]] of trace.entries()) {
        if (i) ctx.lineTo(px(x), py(y));
        else ctx.moveTo(px(x), py(y));
      }
      ctx.stroke();
      const [, x, y] = trace[trace.length - 1];
      ctx.fillStyle = "#1d232b";
      ctx.beginPath();
      ctx.arc(px(x), py(y), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.fillStyle = "#6b7480";
    ctx.font = "10px sans-serif";
    ctx.fillText(`±${r.toFixed(0)}°`, 4, 12);
  }

  function renderStats(e: EyeView): void {
    const current = trace.at(-1);
    const rows: Array<[string, string, string]> = [
      ["fixating", "fixating", e.fixating === null ? "–" : e.fixating ? "yes" : "no"],
      ["eye", "eye now", current ? `${current[1].toFixed(2)}°, ${current[2].toFixed(2)}°` : "no EYE samples"],
      ["breaks", "breaks in the last minute", String(e.breaksLastMinute)],
      [
        "fixating-fraction",
        "time fixating (last minute)",
        e.fixatingFraction === null ? "–" : `${Math.round(e.fixatingFraction * 100)} %`,
      ],
      ["eye-sd", "eye spread during presentations", fmt(e.eyeSdDeg, 2, "°")],
      [
        "photodiode",
        "photodiode − display onset",
        e.photodiode.n
          ? `median ${fmt(e.photodiode.medianMs, 1, " ms")}, last ${fmt(e.photodiode.lastMs, 1, " ms")} (${e.photodiode.n})`
          : "not measured",
      ],
      ["clock", "box clock uncertainty", fmt(e.clockUncertaintyMs, 2, " ms")],
    ];
    $("eye-stats").replaceChildren(
      ...rows.flatMap(([key, label, value]) => {
        const dt = document.createElement("dt");
        dt.textContent = label;
        const dd = document.createElement("dd");
        dd.dataset.key = key;
        dd.textContent = value;
        return [dt, dd];
      }),
    );
    $("eye-version").textContent =
      e.version === null
        ? "(no rig box)"
        : e.version < 2
          ? "(rig box protocol 1: no eye signal)"
          : `(rig box protocol ${e.version})`;
  }

  function renderCalibration(c: CalibrationView): void {
    calibration = c;
    $<HTMLButtonElement>("cal-accept").disabled = !c.active;
    $<HTMLButtonElement>("cal-skip").disabled = !c.active;
    $<HTMLButtonElement>("cal-cancel").disabled = !c.active;
    $("cal-list").replaceChildren(
      ...c.points.map((p) => {
        const li = document.createElement("li");
        li.dataset.status = p.status;
        const at = `(${p.xDeg}°, ${p.yDeg}°)`;
        li.textContent =
          p.status === "accepted"
            ? `${at} eye at ${Math.round(p.xMv!)} / ${Math.round(p.yMv!)} mV`
            : `${at} ${p.status}`;
        return li;
      }),
    );
    const fit = c.fit
      ? `in use: calibration ${c.fit.id}, residuals rms ${c.fit.rmsDeg.toFixed(2)}°, max ${c.fit.maxDeg.toFixed(2)}°`
      : "not calibrated: the box uses its default map (0..5 V = −10..+10°)";
    const repeats = c.fit && c.message.startsWith(`calibration ${c.fit.id}:`);
    $("cal-message").textContent = repeats
      ? `${c.message} (in use)`
      : c.message
        ? `${c.message}. ${fit}`
        : fit;
    draw();
  }

  async function act(action: string): Promise<void> {
    // A focused button would also take the space bar (the accept key) as a click.
    if (document.activeElement instanceof HTMLButtonElement) document.activeElement.blur();
    try {
      const view = (await o.call(action)) as CalibrationView;
      renderCalibration(view);
    } catch (e) {
      o.message(`calibration: ${(e as Error).message}`);
    }
  }

  $("cal-start").addEventListener("click", () => {
    const points = $<HTMLSelectElement>("cal-points").value;
    const spacing = $<HTMLInputElement>("cal-spacing").value;
    void act(`start?points=${encodeURIComponent(points)}&spacing=${encodeURIComponent(spacing)}`);
  });
  $("cal-accept").addEventListener("click", () => void act("accept"));
  $("cal-skip").addEventListener("click", () => void act("skip"));
  $("cal-cancel").addEventListener("click", () => void act("cancel"));
  document.addEventListener("keydown", (ev) => {
    if (ev.code === "Space" && calibration?.active && !(ev.target instanceof HTMLInputElement)) {
      ev.preventDefault();
      void act("accept");
    }
  });

  return {
    onEye(e: EyeView): void {
      last = e;
      const now = e.samples.at(-1)?.[0] ?? Date.now();
      trace = [...trace, ...e.samples].filter(([t]) => t > now - TRACE_MS);
      renderStats(e);
      draw();
    },
    onCalibration: renderCalibration,
  };
}
