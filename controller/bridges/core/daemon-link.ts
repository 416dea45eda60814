// The bridge's side of /acquisition (docs/protocol.md): connects, says hello with the bridge's stable id, replays
// the outbox after the welcome's lastAckedSeq, passes trial announcements on, removes acked messages from the
// outbox, sends notices, and reconnects after any loss (every reconnectMs, at most maxReconnectMs apart).
import { WebSocket } from "ws";
import type { AcquisitionServerMessage } from "../../wire/acquisition.ts";
import type { Outbox } from "./outbox.ts";

export interface LinkOptions {
  /** Daemon address, e.g. ws://127.0.0.1:8710 (the /acquisition path is added). */
  url: string;
  token: string;
  bridgeId: string;
  channels: Array<{ id: string; probe: string; index: number }>;
  outbox: Outbox;
  reconnectMs?: number;
  onWelcome?: (w: {
    sessionId: string;
    lastAckedSeq: number;
    window: { preMs: number; postMs: number };
  }) => void;
  onTrial?: (t: { trialId: number; eventCode: number; stimulusId: string; replay: boolean }) => void;
  onError?: (code: string, message: string, seq?: number) => void;
  /** Every ack, as it arrives (the bench times onset → ack with it). */
  onAck?: (seq: number) => void;
  onStatus?: (connected: boolean, reason: string) => void;
}

export interface Notice {
  code: string;
  message: string;
  trialId?: number;
}

export class DaemonLink {
  private ws: WebSocket | null = null;
  private welcomed = false;
  private stopped = false;
  private retryMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly notices: Notice[] = [];
  /** Acks received (tests and the bench read them). */
  acks = 0;

  constructor(private readonly o: LinkOptions) {
    this.retryMs = o.reconnectMs ?? 250;
  }

  get connected(): boolean {
    return this.welcomed;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "bridge stopping");
    this.ws = null;
  }

  /** Send committed outbox messages now (when connected; otherwise they go with the next replay). */
  send(messages: ReadonlyArray<{ text: string }>): void {
    if (!this.welcomed || !this.ws) return;
    for (const m of messages) this.ws.send(m.text);
  }

  notice(n: Notice): void {
    if (this.welcomed && this.ws) this.ws.send(JSON.stringify({ type: "notice", ...n }));
    else if (this.notices.length < 1000) this.notices.push(n);
  }

  private open(): void {
    const ws = new WebSocket(`${this.o.url.replace(/\/$/, "")}/acquisition`);
    this.ws = ws;
    ws.on("open", () =>
      ws.send(
        JSON.stringify({
          type: "hello",
          role: "acquisition",
          version: 1,
          token: this.o.token,
          bridgeId: this.o.bridgeId,
          channels: this.o.channels,
        }),
      ),
    );
    ws.on("message", (raw, isBinary) => {
      if (isBinary) return;
      let m: AcquisitionServerMessage & { replay?: boolean };
      try {
        m = JSON.parse(raw.toString());
      } catch {
        return;
      }
      this.onMessage(ws, m);
    });
    ws.on("error", () => {});
    ws.on("close", (code, reason) => {
      if (this.ws === ws) this.ws = null;
      const was = this.welcomed;
      this.welcomed = false;
      if (was)
        this.o.onStatus?.(false, `daemon connection closed (${code}${reason.length ? ` ${reason}` : ""})`);
      if (this.stopped) return;
      // Another bridge holds the session (EPHYS_ACQUISITION_BUSY): try again, but slowly.
      const wait = code === 4409 ? 5000 : this.retryMs;
      this.retryMs = Math.min(2000, this.retryMs * 2);
      this.timer = setTimeout(() => this.open(), wait);
    });
  }

  private onMessage(ws: WebSocket, m: AcquisitionServerMessage & { replay?: boolean }): void {
    const { outbox } = this.o;
    switch (m.type) {
      case "welcome": {
        outbox.useSession(m.sessionId);
        const replay = outbox.replayAfter(m.lastAckedSeq);
        this.welcomed = true;
        this.retryMs = this.o.reconnectMs ?? 250;
        this.o.onStatus?.(true, `connected to session ${m.sessionId}; replaying ${replay.length} message(s)`);
        this.o.onWelcome?.(m);
        for (const r of replay) ws.send(r.text);
        for (const n of this.notices.splice(0)) ws.send(JSON.stringify({ type: "notice", ...n }));
        break;
      }
      case "trial":
        this.o.onTrial?.({
          trialId: m.trialId,
          eventCode: m.eventCode,
          stimulusId: m.stimulusId,
          replay: m.replay === true,
        });
        break;
      case "ack":
        this.acks++;
        outbox.acked(m.seq);
        this.o.onAck?.(m.seq);
        break;
      case "error":
        // A stored-failed message stays for the next replay; any other refusal is final: drop it.
        if (m.seq !== undefined && m.code !== "EPHYS_STORE_FAILED") outbox.drop(m.seq);
        // The daemon's transaction failed: nothing of it is stored; send it again shortly (it stays in the outbox).
        if (m.seq !== undefined && m.code === "EPHYS_STORE_FAILED") {
          const seq = m.seq;
          setTimeout(() => {
            const again = outbox.message(seq);
            if (again && this.welcomed && this.ws === ws) ws.send(again.text);
          }, 500);
        }
        this.o.onError?.(m.code, m.message, m.seq);
        break;
    }
  }
}
