// The part every bridge command starts the same way: the on-disk outbox, the link to the daemon's /acquisition and
// the bridge core between them (announcements in, trials out, the window from the welcome). The bridges differ only
// in the input they attach to the core (openephys/input.ts, spikeglx/input.ts).
import { BridgeCore, type BridgeCoreOptions, type BridgeTiming } from "./bridge-core.ts";
import { DaemonLink } from "./daemon-link.ts";
import type { EventWordOptions } from "./event-words.ts";
import { Outbox } from "./outbox.ts";

export interface LinkedCoreOptions {
  /** "openephys", "spikeglx": the prefix of the bridge's stable id (kept in the outbox). */
  kind: string;
  url: string;
  token: string;
  outboxPath: string;
  channels: Array<{ id: string; probe: string; index: number }>;
  words: EventWordOptions;
  timing?: Partial<BridgeTiming>;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  onTrialSent?: BridgeCoreOptions["onTrialSent"];
  onAck?: (seq: number) => void;
}

export interface LinkedCore {
  core: BridgeCore;
  link: DaemonLink;
  outbox: Outbox;
  /** Starts the link and the core's timer (after the input is attached). */
  start(): void;
  /** Stops the core and the link, and closes the outbox (after the input stopped). */
  stop(): void;
}

export function linkedCore(o: LinkedCoreOptions): LinkedCore {
  const outbox = new Outbox(o.outboxPath);
  let core: BridgeCore | null = null;
  const link = new DaemonLink({
    url: o.url,
    token: o.token,
    bridgeId: outbox.bridgeId(o.kind),
    channels: o.channels,
    outbox,
    onWelcome: (w) => core?.setWindow(w.window),
    onTrial: (t) => core?.announce(t),
    onError: (code, message, seq) =>
      o.log?.("warn", `daemon refused${seq !== undefined ? ` seq ${seq}` : ""}: ${code} ${message}`),
    onStatus: (up, reason) => o.log?.(up ? "info" : "warn", reason),
    onAck: o.onAck,
  });
  core = new BridgeCore({
    channelIds: o.channels.map((c) => c.id),
    words: o.words,
    timing: o.timing,
    outbox,
    link,
    log: o.log,
    onTrialSent: o.onTrialSent,
  });
  const c = core;
  return {
    core: c,
    link,
    outbox,
    start: () => {
      link.start();
      c.startTimer();
    },
    stop: () => {
      c.stop();
      link.stop();
      outbox.close();
    },
  };
}

/** The timing flags of a bridge command, checked: a value that is not a number of ms ≥ 0 names its flag. */
export function timingFlags(opts: Record<string, string | undefined>): Partial<BridgeTiming> | string {
  const timing: Partial<BridgeTiming> = {};
  for (const k of ["settleMs", "photodiodeMaxMs", "maxOnsetDelayMs"] as const) {
    const raw = opts[k];
    if (raw === undefined) continue;
    const v = Number(raw);
    if (!(v >= 0))
      return `--${k.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}: expected a number of ms >= 0, got ${raw}`;
    timing[k] = v;
  }
  return timing;
}
