// Adapting the rig pieces to the ports a phase uses: the serial rig box (fixation state, events, rewards, loss)
// and the display link.
import type { WebSocket } from "ws";
import type { z } from "zod";
import { DisplayLink } from "../display/display-link.ts";
import type { Logger } from "../log.ts";
import { RigSignals } from "../rig/rig-signals.ts";
import { SerialRigBox } from "../rig/serial-box.ts";
import type { BoxPort } from "../scheduler/rig-ports.ts";
import type { displayHello } from "../wire/display.ts";

export type BoxHandle = BoxPort & {
  onStatus(l: (status: "connected" | "lost", reason: string) => void): () => void;
  close(): Promise<void>;
  /** The serial box itself (protocol version, settings, eye and photodiode events), for the rig session. */
  serial?: SerialRigBox;
  /** Its photodiode edges and eye samples (protocol version 2). */
  signals?: RigSignals;
};

/**
 * Open the rig box; while the device is absent at start, keep trying (a virtual rig's pty may appear a moment
 * later) — until then fixation reads false, so no presentation starts without the box.
 */
export async function openRigBox(path: string, baudRate: number, log: Logger): Promise<BoxHandle> {
  const box = new SerialRigBox({ path, baudRate, commandTimeoutMs: 1000 });
  let fixating = false;
  const fixListeners = new Set<(f: boolean) => void>();
  const statusListeners = new Set<(s: "connected" | "lost", reason: string) => void>();
  box.on("fixation", (f) => {
    fixating = f;
    for (const l of fixListeners) l(f);
  });
  box.on("status", (s, reason) => {
    if (s === "lost") {
      fixating = false;
      for (const l of fixListeners) l(false);
    }
    for (const l of statusListeners) l(s, reason);
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
  const tryOpen = async (): Promise<void> => {
    for (let attempt = 0; !closed; attempt++) {
      try {
        await box.open();
        log.info(`rig box open on ${path}`);
        return;
      } catch (e) {
        if (attempt % 20 === 0)
          log.warn(`rig box ${path} not available yet (${(e as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, 250));
        if ((e as { code?: string }).code === "EPHYS_RIG_OPEN" && /called twice/.test((e as Error).message))
          return;
      }
    }
  };
  void tryOpen();
  return {
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
      await box.close();
    },
  };
}

export function createDisplayLink(ws: WebSocket, hello: z.infer<typeof displayHello>): DisplayLink {
  return new DisplayLink(ws, hello.screen);
}
