// `ephysloop bridge spikeglx`: SpikeGLX's Remote Command API → online spike detection → /acquisition, as its own
// process (docs/spikeglx.md). Runs until SIGINT/SIGTERM; a kill -9 loses nothing committed to the outbox.
import { resolve } from "node:path";
import type { BridgeCore, BridgeCoreOptions, BridgeTiming } from "../core/bridge-core.ts";
import { type LinkedCore, linkedCore, timingFlags } from "../core/linked-core.ts";
import { helloChannels, loadSpikeGlxMap, type SpikeGlxMap } from "./channel-map.ts";
import { SpikeGlxInput } from "./input.ts";
import { SpikeGlxClient } from "./remote-api.ts";

export interface SpikeGlxBridgeOptions {
  host: string;
  port: number;
  url: string;
  token: string;
  channelMap: SpikeGlxMap;
  outboxPath: string;
  timing?: Partial<BridgeTiming>;
  pollMs?: number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  onTrialSent?: BridgeCoreOptions["onTrialSent"];
}

export interface RunningSpikeGlxBridge {
  core: BridgeCore;
  input: SpikeGlxInput;
  linked: LinkedCore;
  stop(): Promise<void>;
}

export async function startSpikeGlxBridge(o: SpikeGlxBridgeOptions): Promise<RunningSpikeGlxBridge> {
  const m = o.channelMap;
  const client = await SpikeGlxClient.connect(o.host, o.port);
  const linked = linkedCore({
    kind: "spikeglx",
    url: o.url,
    token: o.token,
    outboxPath: o.outboxPath,
    channels: helloChannels(m),
    words: {
      eventLines: m.eventLines,
      strobeLine: m.strobeLine,
      wordBytes: m.wordBytes,
      photodiodeLine: m.photodiodeLine,
    },
    timing: o.timing,
    log: o.log,
    onTrialSent: o.onTrialSent,
  });
  const input = new SpikeGlxInput({ client, map: m, core: linked.core, pollMs: o.pollMs, log: o.log });
  try {
    await input.start();
  } catch (e) {
    linked.stop();
    await client.close();
    throw e;
  }
  linked.start();
  return {
    core: linked.core,
    input,
    linked,
    stop: async () => {
      await input.stop();
      linked.stop();
      await client.close();
    },
  };
}

export async function spikeGlxBridgeCommand(opts: {
  host: string;
  port: string;
  url: string;
  token: string;
  channels: string;
  outbox: string;
  pollMs?: string;
  settleMs?: string;
  photodiodeMaxMs?: string;
  maxOnsetDelayMs?: string;
}): Promise<void> {
  const fail = (code: string, message: string) => {
    console.error(`error ${code}: ${message}`);
    process.exitCode = 1;
  };
  let map: SpikeGlxMap;
  try {
    map = loadSpikeGlxMap(opts.channels);
  } catch (e) {
    return fail((e as { code?: string }).code ?? "EPHYS_BAD_CHANNEL_MAP", (e as Error).message);
  }
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return fail(
      "EPHYS_BAD_OPTION",
      `--port: expected SpikeGLX's command server port (1..65535), got ${opts.port}`,
    );
  const pollMs = opts.pollMs === undefined ? undefined : Number(opts.pollMs);
  if (pollMs !== undefined && !(pollMs >= 1 && pollMs <= 1000))
    return fail("EPHYS_BAD_OPTION", `--poll-ms: expected 1..1000 ms, got ${opts.pollMs}`);
  const timing = timingFlags(opts);
  if (typeof timing === "string") return fail("EPHYS_BAD_OPTION", timing);
  const log = (level: string, message: string) => console.error(`[bridge ${level}] ${message}`);
  let bridge: RunningSpikeGlxBridge;
  try {
    bridge = await startSpikeGlxBridge({
      host: opts.host,
      port,
      url: opts.url,
      token: opts.token,
      channelMap: map,
      outboxPath: resolve(opts.outbox),
      timing,
      pollMs,
      log,
    });
  } catch (e) {
    return fail(
      (e as { code?: string }).code ?? "EPHYS_SPIKEGLX_ERROR",
      `cannot start reading SpikeGLX at ${opts.host}:${port}: ${(e as Error).message} (is SpikeGLX running, with its command server enabled: Options ▸ Command Server Settings ▸ Enable Remote Command Server, and acquisition started?)`,
    );
  }
  log(
    "info",
    `SpikeGLX bridge: ${opts.host}:${port} (imec probe ${map.probe}, word on ${map.wordStream.type} ${map.wordStream.ip} channel ${map.wordChannel}) → ${opts.url}/acquisition, ${map.channels.length} channels, outbox ${opts.outbox}`,
  );
  const stop = async () => {
    await bridge.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
