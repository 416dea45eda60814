// Adapting the rig pieces to the ports a phase uses: the serial rig box (fixation state, events, rewards, loss)
// and the display link.
import type { WebSocket } from "ws";
import type { z } from "zod";
import { DisplayLink } from "../display/display-link.ts";
import type { Logger } from "../log.ts";
import type { BoxPort } from "../scheduler/rig-ports.ts";
import type { displayHello } from "../wire/display.ts";
import { RigSignals } from "./rig-signals.ts";
import type { BindingInterface } from "./serial-binding.ts";
import { SerialRigBox } from "./serial-box.ts";

/** The rig box link as the daemon and the dashboard see it: waiting for the device at start, connected, or lost. */
export type BoxLinkState = "waiting" | "connected" | "lost";

export type BoxHandle = BoxPort & {
  /** The link's state, since when (ms since the epoch) and the sentence that says why. */
  readonly link: { state: BoxLinkState; since: number; reason: string };
  /** Tries to open the device so far (one while it opened at once). */
  readonly openAttempts: number;
  onStatus(l: (status: BoxLinkState, reason: string) => void): () => void;
  close(): Promise<void>;
  /** The serial box itself (protocol version, settings, eye and photodiode events), for the rig session. */
  serial?: SerialRigBox;
  /** Its photodiode edges and eye samples (protocol version 2). */
  signals?: RigSignals;
};

/** "14:02" in local time, as the operator's clock on the wall says. */
const clock = (t: number) => new Date(t).toTimeString().slice(0, 5);

/**
 * Open the rig box. A device absent at start is waited for (a lab plugs the box in): one "waiting for rig box
 * <path> since HH:MM" status, then quiet retries every 250 ms until it opens — until then fixation reads false, so
 * no presentation starts without the box. close() ends the wait at once.
 */
export async function openRigBox(
  path: string,
  baudRate: number,
  log: Logger,
  o: { binding?: BindingInterface; retryMs?: number } = {},
): Promise<BoxHandle> {
  const box = new SerialRigBox({ path, baudRate, commandTimeoutMs: 1000, binding: o.binding });
  let fixating = false;
  const fixListeners = new Set<(f: boolean) => void>();
  const statusListeners = new Set<(s: BoxLinkState, reason: string) => void>();
  let link: { state: BoxLinkState; since: number; reason: string } = {
    state: "waiting",
    since: Date.now(),
    reason: `opening rig box ${path}`, // replaced by the first try's outcome before openRigBox returns
  };
  const setLink = (state: BoxLinkState, reason: string) => {
    link = { state, since: Date.now(), reason };
    for (const l of statusListeners) l(state, reason);
  };
  box.on("fixation", (f) => {
    fixating = f;
    for (const l of fixListeners) l(f);
  });
  box.on("status", (s, reason) => {
    if (s === "lost") {
      fixating = false;
      for (const l of fixListeners) l(false);
    }
    setLink(s, reason);
  });
  box.on("warning", (text) => log.warn({ code: "EPHYS_BAD_SERIAL_LINE" }, `rig box: ${text}`));
  // Version 2 boxes: photodiode edges and eye samples, mapped onto the daemon's clock through the box's PONGs.
  const signals = new RigSignals(box.clock);
  box.on("hello", (version, info) => {
    signals.reset();
    log.info(`rig box ${path} speaks protocol version ${version}${info ? ` (${info})` : ""}`);
  });
  box.on("photodiode", (on, boxMs) => signals.addPhotodiode(on, boxMs));
  box.on("eye", (e) => signals.addEye(e));
  let closed = false;
  let wake: (() => void) | null = null;
  const since = Date.now();
  let attempts = 0;
  const attempt = async (first: boolean): Promise<boolean> => {
    attempts++;
    try {
      await box.open();
      setLink(
        "connected",
        first ? `rig box open on ${path}` : `rig box open on ${path} (waited since ${clock(since)})`,
      );
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "EPHYS_RIG_OPEN" && /called twice/.test((e as Error).message))
        return true;
      if (first)
        setLink(
          "waiting",
          `waiting for rig box ${path} since ${clock(since)} (${(e as Error).message}); ` +
            "plug it in — no presentation starts until it answers",
        );
      return false;
    }
  };
  // The first try settles before this returns, so the caller sees "connected" or "waiting" — never a guess.
  if (!(await attempt(true)))
    void (async () => {
      while (!closed) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, o.retryMs ?? 250);
        });
        if (closed || (await attempt(false))) return;
      }
    })();
  return {
    get link() {
      return link;
    },
    get openAttempts() {
      return attempts;
    },
    get fixating() {
      return fixating && box.connected;
    },
    sendEvent: (code) => box.sendEvent(code),
    reward: (ms) => box.reward(ms),
    measure: (onsetMs, offsetMs) =>
      box.version !== null && box.version >= 2 ? signals.measure(onsetMs, offsetMs) : Promise.resolve({}),
    serial: box,
    signals,
    onFixation: (l) => {
      fixListeners.add(l);
      return () => fixListeners.delete(l);
    },
    onStatus: (l) => {
      statusListeners.add(l);
      return () => statusListeners.delete(l);
    },
    close: async () => {
      closed = true;
      wake?.();
      await box.close();
    },
  };
}

export function createDisplayLink(ws: WebSocket, hello: z.infer<typeof displayHello>): DisplayLink {
  return new DisplayLink(ws, hello.screen);
}
