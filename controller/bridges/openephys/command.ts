// `ephysloop bridge openephys`: the Open Ephys Event Broadcaster → /acquisition bridge as its own process (see
// docs/openephys.md). Runs until SIGINT/SIGTERM; a kill -9 loses nothing committed to the outbox.
import { resolve } from "node:path";
import { BridgeCore, type BridgeCoreOptions, type BridgeTiming } from "../core/bridge-core.ts";
import { DaemonLink } from "../core/daemon-link.ts";
import { Outbox } from "../core/outbox.ts";
import { type ChannelMap, helloChannels, loadChannelMap } from "./channel-map.ts";
import { OpenEphysInput } from "./input.ts";

export interface OpenEphysBridgeOptions {
  zmq: string;
  url: string;
  token: string;
  channelMap: ChannelMap;
  outboxPath: string;
  timing?: Partial<BridgeTiming>;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** Each trial's message as committed, and each ack (the bench times onset → ack with them). */
  onTrialSent?: BridgeCoreOptions["onTrialSent"];
  onAck?: (seq: number) => void;
}

export interface RunningBridge {
  core: BridgeCore;
  link: DaemonLink;
  input: OpenEphysInput;
  outbox: Outbox;
  stop(): Promise<void>;
}

export function startOpenEphysBridge(o: OpenEphysBridgeOptions): RunningBridge {
  const outbox = new Outbox(o.outboxPath);
  const channels = helloChannels(o.channelMap);
  let core: BridgeCore | null = null;
  const link = new DaemonLink({
    url: o.url,
    token: o.token,
    bridgeId: outbox.bridgeId("openephys"),
    channels,
    outbox,
    onWelcome: (w) => core?.setWindow(w.window),
    onTrial: (t) => core?.announce(t),
    onError: (code, message, seq) =>
      o.log?.("warn", `daemon refused${seq !== undefined ? ` seq ${seq}` : ""}: ${code} ${message}`),
    onStatus: (up, reason) => o.log?.(up ? "info" : "warn", reason),
    onAck: o.onAck,
  });
  core = new BridgeCore({
    channelIds: channels.map((c) => c.id),
    words: {
      eventLines: o.channelMap.eventLines,
      strobeLine: o.channelMap.strobeLine,
      wordBytes: o.channelMap.wordBytes,
      photodiodeLine: o.channelMap.photodiodeLine,
      eventSourceNode: o.channelMap.eventSourceNode,
      photodiodeSourceNode: o.channelMap.photodiodeSourceNode,
    },
    timing: o.timing,
    outbox,
    link,
    log: o.log,
    onTrialSent: o.onTrialSent,
  });
  const input = new OpenEphysInput(o.zmq, o.channelMap, core);
  input.start();
  link.start();
  core.startTimer();
  return {
    core,
    link,
    input,
    outbox,
    stop: async () => {
      core.stop();
      link.stop();
      await input.stop();
      outbox.close();
    },
  };
}

export async function openEphysBridgeCommand(opts: {
  zmq: string;
  url: string;
  token: string;
  channels: string;
  outbox: string;
  settleMs?: string;
  photodiodeMaxMs?: string;
  maxOnsetDelayMs?: string;
}): Promise<void> {
  let map: ChannelMap;
  try {
    map = loadChannelMap(opts.channels);
  } catch (e) {
    console.error(`error ${(e as { code?: string }).code ?? ""}: ${(e as Error).message}`);
    process.exitCode = 1;
    return;
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const timing: Partial<BridgeTiming> = {};
  for (const [k, v] of [
    ["settleMs", num(opts.settleMs)],
    ["photodiodeMaxMs", num(opts.photodiodeMaxMs)],
    ["maxOnsetDelayMs", num(opts.maxOnsetDelayMs)],
  ] as const)
    if (v !== undefined) {
      if (!(v >= 0)) {
        console.error(
          `error EPHYS_BAD_OPTION: --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: expected a number of ms >= 0, got ${v}`,
        );
        process.exitCode = 1;
        return;
      }
      timing[k] = v;
    }
  const log = (level: string, message: string) => console.error(`[bridge ${level}] ${message}`);
  const bridge = startOpenEphysBridge({
    zmq: opts.zmq,
    url: opts.url,
    token: opts.token,
    channelMap: map,
    outboxPath: resolve(opts.outbox),
    timing,
    log,
  });
  log(
    "info",
    `Open Ephys bridge: ${opts.zmq} → ${opts.url}/acquisition, ${map.channels.length} channels, outbox ${opts.outbox}`,
  );
  const stop = async () => {
    await bridge.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
