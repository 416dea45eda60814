// The live dashboard (client of /monitor; contract in controller/wire/monitor.ts). Token from ?token=, used for the
// socket's hello and as a Bearer header for the control API. Shows the session state and phase progress, the
// fixation-break rate, a grid of every channel coloured by status, one channel's PSTH, responses and stability on
// click (uPlot), alerts, and the model fit between the phases; pause, resume and abort (confirmed) call the API.
// The eye panel (eye-panel.ts) shows the rig box's eye trace and window and runs the eye calibration.
import uPlot from "uplot";
import type {
  ChannelDetail,
  ChannelLive,
  FitProgressView,
  MonitorAlert,
  MonitorServerMessage,
  MonitorSummary,
} from "../../controller/wire/monitor.ts";
import { createEyePanel } from "./eye-panel.ts";

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? "";
const wsUrl =
  params.get("ws") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/monitor`;
const apiBase = params.get("api") ?? "";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const grid = $("grid");
const alertsList = $("alerts");
const cells = new Map<string, HTMLDivElement>();
let focus: string | null = null;
let socket: WebSocket | null = null;
let state = "–";
const fitHistory: [number[], number[], number[]] = [[], [], []];

const eyePanel = createEyePanel({
  call: async (action) => {
    const res = await fetch(`${apiBase}/api/calibration/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { code?: string; message?: string };
    if (!res.ok) throw new Error(`${body.code ?? res.status}: ${body.message ?? ""}`);
    return body;
  },
  message: (text) => setMessage(text),
});

function send(m: object): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(m));
}

function setMessage(text: string): void {
  $("message").textContent = text;
}

function connect(): void {
  const ws = new WebSocket(wsUrl);
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", role: "monitor", version: 1, token }));
  ws.onmessage = (ev) => onMessage(JSON.parse(String(ev.data)) as MonitorServerMessage);
  ws.onclose = (ev) => {
    socket = null;
    if (ev.code === 4401) {
      setMessage("not authorized: open this page with ?token=<the daemon's token>");
      return;
    }
    setMessage("connection lost, reconnecting…");
    setTimeout(connect, 1000);
  };
}

function onMessage(m: MonitorServerMessage): void {
  switch (m.type) {
    case "welcome": {
      setMessage("");
      $("session").textContent = m.sessionId ?? "";
      const s = m.status as
        | {
            state?: string;
            acquisitionConnected?: number;
            displayConnected?: boolean;
            boxConnected?: boolean;
            rig?: { state: string; reason: string } | null;
          }
        | undefined;
      if (s?.state) setState(s.state);
      setConn("acquisition", Boolean(s?.acquisitionConnected));
      setConn("display", Boolean(s?.displayConnected));
      if (s?.rig) setRig(s.rig.state, s.rig.reason);
      else setConn("rig", Boolean(s?.boxConnected));
      if (focus) send({ type: "focus", channelId: focus });
      break;
    }
    case "snapshot":
      renderSummary(m.summary);
      renderChannels(m.channels);
      if (m.fit) renderFit(m.fit);
      alertsList.replaceChildren();
      for (const a of m.alerts) addAlert(a);
      break;
    case "channels":
      renderChannels(m.channels);
      break;
    case "summary":
      renderSummary(m.summary);
      break;
    case "channel":
      if (m.detail.id === focus) renderDetail(m.detail);
      break;
    case "fit":
      renderFit(m.fit);
      break;
    case "eye":
      eyePanel.onEye(m.eye);
      break;
    case "calibration":
      eyePanel.onCalibration(m.calibration);
      break;
    case "event":
      onEvent(m.eventType, m.subtype, m.content as Record<string, unknown>, m.id, m.t);
      break;
    case "error":
      setMessage(`${m.code}: ${m.message}`);
      break;
  }
}

function onEvent(
  type: string,
  subtype: string,
  content: Record<string, unknown>,
  id: number,
  t: number,
): void {
  if (type === "state") setState(subtype);
  else if (type === "alert")
    addAlert({
      id,
      t,
      kind: subtype,
      message: String(content.message ?? subtype),
      channelId: content.channelId as string | undefined,
    });
  else if (type === "acquisition" && (subtype === "connected" || subtype === "disconnected"))
    setConn("acquisition", subtype === "connected");
  else if (type === "display" && (subtype === "connected" || subtype === "disconnected"))
    setConn("display", subtype === "connected");
  else if (type === "rig" && ["connected", "lost", "waiting"].includes(subtype))
    setRig(subtype, String(content.reason ?? ""));
}

/** The rig box indicator: up when connected; while waiting or lost, the reason stays on screen until it is back. */
function setRig(state: string, reason: string): void {
  setConn("rig", state === "connected");
  const el = $("conn-rig");
  el.title = reason;
  el.dataset.state = state;
  el.textContent = state === "waiting" ? "rig box: waiting" : state === "lost" ? "rig box: lost" : "rig box";
  const note = $("rig-note");
  note.textContent = state === "connected" ? "" : reason;
  note.hidden = state === "connected";
}

function setState(s: string): void {
  state = s;
  const el = $("state");
  el.textContent = s;
  el.dataset.kind = s.endsWith(".paused")
    ? "paused"
    : ["done", "failed", "aborted"].includes(s)
      ? "ended"
      : "running";
  const ended = el.dataset.kind === "ended";
  $<HTMLButtonElement>("pause").disabled = ended || !/^phase[12]\.running/.test(s);
  $<HTMLButtonElement>("resume").disabled = ended || !s.endsWith(".paused");
  $<HTMLButtonElement>("abort").disabled = ended;
  if (s === "fitting") $("fit").hidden = false;
}

function setConn(which: "acquisition" | "display" | "rig", up: boolean): void {
  $(`conn-${which}`).classList.toggle("up", up);
}

function fmtDuration(s: number | null): string {
  if (s === null) return "–";
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

const fmt = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? "–" : v.toFixed(digits);
const pct = (v: number | null) => (v === null ? "–" : `${Math.round(v * 100)} %`);

function renderSummary(s: MonitorSummary): void {
  if (s.state && s.state !== state) setState(s.state);
  $("phase").textContent = s.phase === null ? "–" : String(s.phase);
  $("shown").textContent = String(s.shown);
  // Phase 3's plan grows as channels' fragments are made: "96+" until the last part is known.
  $("planned").textContent = `${s.planned}${s.planComplete === false ? "+" : ""}`;
  $("voided").textContent = String(s.voided);
  const bar = $<HTMLProgressElement>("bar");
  bar.max = Math.max(1, s.planned);
  bar.value = s.shown;
  $("rate").textContent = s.trialsPerS === null ? "–" : s.trialsPerS.toFixed(1);
  $("eta").textContent = fmtDuration(s.etaS);
  $("breaks").textContent = pct(s.breakRate);
  $("recent-breaks").textContent = pct(s.recentBreakRate);
}

function renderChannels(list: ChannelLive[]): void {
  for (const c of list) {
    let cell = cells.get(c.id);
    if (!cell) {
      cell = document.createElement("div");
      cell.className = "cell";
      cell.dataset.id = c.id;
      cell.textContent = c.id.replace(/^ch0*/, "") || c.id;
      cell.addEventListener("click", () => select(c.id));
      cells.set(c.id, cell);
      grid.append(cell);
    }
    cell.dataset.status = c.status;
    cell.title = `${c.id}: ${c.status}, ${c.trials} trials, net ${fmt(c.netRate, 1)} sp/s, split-half ${fmt(c.splitHalf)}, retest ${fmt(c.retestR)} (${c.retestN})`;
  }
  $("channel-count").textContent = `(${cells.size})`;
}

function select(id: string): void {
  if (focus) cells.get(focus)?.classList.remove("selected");
  focus = id;
  cells.get(id)?.classList.add("selected");
  $("panel").hidden = false;
  $("panel-title").textContent = `Channel ${id}`;
  send({ type: "focus", channelId: id });
}

let psthPlot: uPlot | null = null;
let respPlot: uPlot | null = null;
let stabPlot: uPlot | null = null;
let fitPlot: uPlot | null = null;
const PLOT_W = 410;

function linePlot(
  el: HTMLElement,
  title: string,
  xLabel: string,
  series: uPlot.Series[],
  stepped = false,
): uPlot {
  return new uPlot(
    {
      title,
      width: PLOT_W,
      height: 150,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: xLabel, size: 36, labelSize: 14 }, { size: 44 }],
      series: [
        {},
        ...series.map((s, i) =>
          i === 0 && stepped && uPlot.paths.stepped ? { ...s, paths: uPlot.paths.stepped({ align: 1 }) } : s,
        ),
      ],
    },
    [[], ...series.map(() => [])] as uPlot.AlignedData,
    el,
  );
}

function renderDetail(d: ChannelDetail): void {
  const l = d.live;
  const stats: Array<[string, string, string]> = [
    ["status", "status", l.status],
    ["trials", `trials (phase ${d.phase})`, String(l.trials)],
    ["net-rate", "mean net rate", `${fmt(l.netRate, 1)} spikes/s`],
    ["split-half", "split-half r (phase 1)", fmt(l.splitHalf)],
    ["retest", "test/retest r (phase 2)", `${fmt(l.retestR)} over ${l.retestN} stimuli`],
    ["threshold", `stability threshold (${d.stability.measure})`, String(d.stability.threshold)],
    ["silent-trials", "trials without a spike", String(l.silentTrials)],
    [
      "last-spike",
      "last spike",
      l.lastSpikeT === null ? "never" : new Date(l.lastSpikeT).toLocaleTimeString(),
    ],
  ];
  $("panel-stats").replaceChildren(
    ...stats.flatMap(([key, label, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dd.dataset.key = key;
      return [dt, dd];
    }),
  );
  psthPlot ??= linePlot(
    $("psth-plot"),
    "PSTH (spikes/s)",
    "ms from onset",
    [{ label: "rate", stroke: "#3563b8", fill: "rgba(53,99,184,0.15)", points: { show: false } }],
    true,
  );
  const xs = d.psth.rates.map((_, i) => -d.psth.preMs + i * d.psth.binMs);
  psthPlot.setData([xs, d.psth.rates]);
  respPlot ??= linePlot($("resp-plot"), "Net response per stimulus, best first (spikes/s)", "stimulus rank", [
    { label: "net rate", stroke: "#2f8a4e", points: { show: true, size: 4 }, width: 1 },
  ]);
  respPlot.setData([d.responses.map((_, i) => i + 1), d.responses.map((r) => r.mean)]);
  stabPlot ??= linePlot($("stab-plot"), "Stability vs threshold", "trials", [
    { label: "r", stroke: "#c2571a", width: 2, points: { show: true, size: 4 } },
    { label: "threshold", stroke: "#d64545", dash: [6, 4], points: { show: false } },
  ]);
  const h = d.stability.history;
  stabPlot.setData([h.map((p) => p[0]), h.map((p) => p[1]), h.map(() => d.stability.threshold)]);
}

function renderFit(f: FitProgressView): void {
  $("fit").hidden = false;
  const parts = [`stage ${f.stage}`];
  if (f.done !== null && f.total !== null) parts.push(`${f.done}/${f.total} images`);
  if (f.epoch !== null) parts.push(`epoch ${f.epoch}`);
  if (f.active !== null) parts.push(`${f.active} channel(s) still improving`);
  $("fit-text").textContent = parts.join(" · ");
  if (!f.channels.length || f.epoch === null) return;
  const losses = f.channels.map((c) => c.bestValLoss).filter(Number.isFinite);
  const sorted = [...losses].sort((a, b) => a - b);
  if (fitHistory[0].at(-1) !== f.epoch && sorted.length) {
    fitHistory[0].push(f.epoch);
    fitHistory[1].push(sorted[Math.floor(sorted.length / 2)]);
    fitHistory[2].push(sorted[sorted.length - 1]);
  }
  fitPlot ??= linePlot($("fit-plot"), "Best validation loss (median, worst channel)", "epoch", [
    { label: "median", stroke: "#3563b8", width: 2 },
    { label: "worst", stroke: "#d64545", points: { show: false } },
  ]);
  fitPlot.setData(fitHistory);
  const max = Math.max(...losses, 1e-12);
  $("fit-bars").replaceChildren(
    ...f.channels.flatMap((c) => {
      const name = document.createElement("span");
      name.textContent = c.id;
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${Math.max(1, (100 * c.bestValLoss) / max)}%`;
      const v = document.createElement("span");
      v.textContent = Number.isFinite(c.bestValLoss) ? c.bestValLoss.toPrecision(3) : "–";
      return [name, bar, v];
    }),
  );
}

function addAlert(a: MonitorAlert): void {
  if (alertsList.querySelector(`[data-alert-id="${a.id}"]`)) return;
  const li = document.createElement("li");
  li.dataset.alertId = String(a.id);
  li.dataset.kind = a.kind;
  if (a.channelId) li.dataset.channel = a.channelId;
  const time = document.createElement("time");
  time.textContent = new Date(a.t).toLocaleTimeString();
  const kind = document.createElement("b");
  kind.textContent = a.kind;
  li.append(time, kind, document.createTextNode(a.message));
  if (a.channelId) li.addEventListener("click", () => select(a.channelId!));
  alertsList.prepend(li);
  $("alert-count").textContent = `(${alertsList.children.length})`;
}

async function control(action: "pause" | "resume" | "abort"): Promise<void> {
  if (action === "abort" && !confirm("Abort the session? The day ends here and cannot be resumed.")) return;
  try {
    const res = await fetch(`${apiBase}/api/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { state?: string; code?: string; message?: string };
    if (!res.ok) setMessage(`${action}: ${body.code ?? res.status} ${body.message ?? ""}`);
    else if (body.state) setState(body.state);
  } catch (e) {
    setMessage(`${action}: ${(e as Error).message}`);
  }
}

for (const action of ["pause", "resume", "abort"] as const)
  $(action).addEventListener("click", () => void control(action));
setState("–");
connect();
