// `ephysloop bridge openephys`: the Open Ephys Event Broadcaster → /acquisition bridge as its own process (see
// docs/openephys.md). Runs until SIGINT/SIGTERM; a kill -9 loses nothing committed to the outbox.
import { resolve } from "node:path";
import type { BridgeCore, BridgeCoreOptions, BridgeTiming } from "../core/bridge-core.ts";
import type { DaemonLink } from "../core/daemon-link.ts";
import { linkedCore, timingFlags } from "../core/linked-core.ts";
import type { Outbox } from "../core/outbox.ts";
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
  const m = o.channelMap;
  const linked = linkedCore({
    kind: "openephys",
    url: o.url,
    token: o.token,
    outboxPath: o.outboxPath,
    channels: helloChannels(m),
    words: {
      eventLines: m.eventLines,
      strobeLine: m.strobeLine,
      wordBytes: m.wordBytes,
      photodiodeLine: m.photodiodeLine,
      eventSourceNode: m.eventSourceNode,
      photodiodeSourceNode: m.photodiodeSourceNode,
    },
    timing: o.timing,
    log: o.log,
    onTrialSent: o.onTrialSent,
    onAck: o.onAck,
  });
  const input = new OpenEphysInput(o.zmq, m, linked.core);
  input.start();
  linked.start();
  return {
    core: linked.core,
    link: linked.link,
    input,
    outbox: linked.outbox,
    stop: async () => {
      linked.core.stop();
      linked.link.stop();
      await input.stop();
      linked.outbox.close();
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
  const timing = timingFlags(opts);
  if (typeof timing === "string") {
    console.error(`error EPHYS_BAD_OPTION: ${timing}`);
    process.exitCode = 1;
    return;
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
