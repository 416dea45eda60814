// The Open Ephys input of the bridge: subscribes to the GUI's Event Broadcaster (ZMQ PUB, default port 5557) and
// hands TTL changes and spikes of one stream to the bridge core. It subscribes to everything: the first frame is a
// binary uint16 type, so a topic filter such as "ttl" would never match. Electrodes become channel indices through
// the channel map; a second stream, an unmapped electrode, a bad message or a missing sample rate is reported
// once (a notice to the daemon and the log) and its messages are left out, never guessed at.
import * as zmq from "zeromq";
import type { BridgeCore } from "../core/bridge-core.ts";
import { BroadcastError, type BroadcastMessage, decodeBroadcast } from "./broadcast-format.ts";
import { type ChannelMap, SpikeRouter } from "./channel-map.ts";

const NO_CHANNELS: readonly number[] = [];

export class OpenEphysInput {
  private readonly socket = new zmq.Subscriber();
  private readonly router: SpikeRouter;
  private stream: string | number | undefined;
  private readonly reported = new Set<string>();
  private stopped = false;
  private loop: Promise<void> | null = null;
  badMessages = 0;
  messages = 0;

  constructor(
    private readonly endpoint: string,
    private readonly map: ChannelMap,
    private readonly core: BridgeCore,
  ) {
    this.router = new SpikeRouter(map);
    this.stream = map.stream;
    if (map.sampleRate) core.setSampleRate(map.sampleRate);
  }

  start(): void {
    this.socket.connect(this.endpoint);
    this.socket.subscribe();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.socket.close();
    await this.loop?.catch(() => {});
  }

  private async run(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.socket.receive();
      } catch (e) {
        if (this.stopped) return;
        throw e;
      }
      this.handle(frames);
    }
  }

  /** One ZMQ message (also called directly by the bench). */
  handle(frames: Buffer[]): void {
    this.messages++;
    let m: BroadcastMessage;
    try {
      m = decodeBroadcast(frames);
    } catch (e) {
      if (!(e instanceof BroadcastError)) throw e;
      this.badMessages++;
      if (this.badMessages === 1 || this.badMessages % 1000 === 0)
        this.core.notice({
          code: "EPHYS_BAD_BROADCAST",
          message: `Event Broadcaster message left out (${this.badMessages} so far): ${e.message}`,
        });
      return;
    }
    if (!this.sameStream(m)) return;
    if (!this.rate(m)) return;
    const node = m.sourceNode;
    if (m.kind === "ttl") {
      const key = `${node}/${m.channel}`;
      if (m.word !== undefined) this.core.ttlWord(key, node, m.sampleNumber, m.word);
      else this.core.ttlLine(key, node, m.sampleNumber, m.line, m.state);
      return;
    }
    const key = m.electrode !== undefined ? `e:${m.electrode}` : `i:${m.channelIndex}`;
    const channels = this.router.route(key, m.sortedId);
    if (channels.length === 0) {
      const what =
        m.electrode !== undefined ? `electrode "${m.electrode}"` : `spike channel ${m.channelIndex}`;
      const onlySorted = this.reportOnce(`unmapped ${key}`);
      if (onlySorted)
        this.core.notice({
          code: "EPHYS_BRIDGE_UNMAPPED_ELECTRODE",
          message: `spikes of ${what} (sorted id ${m.sortedId}) match no entry of the channel map; they are left out${m.format === "binary" && m.channelIndex !== undefined ? " (the binary format names electrodes by index: give entries a spikeChannel)" : ""}`,
        });
    }
    this.core.spike(m.sampleNumber, channels.length ? channels : NO_CHANNELS);
  }

  private reportOnce(key: string): boolean {
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    return true;
  }

  private sameStream(m: BroadcastMessage): boolean {
    if (this.stream === undefined) {
      this.stream = m.stream;
      return true;
    }
    if (typeof this.stream !== typeof m.stream) {
      // The map names the stream one way (name or id) and this format carries the other: take this stream.
      if (this.reportOnce("stream kind"))
        this.core.notice({
          code: "EPHYS_BRIDGE_STREAM_MIX",
          message: `the channel map's stream ${JSON.stringify(this.stream)} cannot be checked against the ${m.format} format (it carries stream ${typeof m.stream === "number" ? "ids" : "names"}); using stream ${JSON.stringify(m.stream)}, the first seen`,
        });
      this.stream = m.stream;
      return true;
    }
    if (m.stream === this.stream) return true;
    if (this.reportOnce(`stream ${m.stream}`))
      this.core.notice({
        code: "EPHYS_BRIDGE_STREAM_MIX",
        message: `${m.kind === "ttl" ? "TTL events" : "spikes"} of stream ${JSON.stringify(m.stream)} are left out: the bridge uses stream ${JSON.stringify(this.stream)} only (a trial's onset and spikes must share one clock; set stream in the channel map)`,
      });
    return false;
  }

  private rate(m: BroadcastMessage): boolean {
    const given = this.map.sampleRate;
    if (m.sampleRate === undefined) {
      if (this.core.sampleRate) return true;
      if (this.reportOnce("no rate"))
        this.core.notice({
          code: "EPHYS_BRIDGE_NO_SAMPLE_RATE",
          message:
            "the binary format does not carry the sample rate: set sampleRate in the channel map; messages are left out until then",
        });
      return false;
    }
    if (given !== undefined && Math.abs(m.sampleRate - given) > 1e-3 * given) {
      if (this.reportOnce("rate mismatch"))
        this.core.notice({
          code: "EPHYS_BRIDGE_SAMPLE_RATE",
          message: `the stream's sample_rate is ${m.sampleRate} Hz but the channel map says ${given} Hz; using the map's`,
        });
      return true;
    }
    if (!this.core.sampleRate) this.core.setSampleRate(m.sampleRate);
    return true;
  }
}
