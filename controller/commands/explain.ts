// `ephysloop explain SESSION [--channel ID]`: recompute the shared-feature maps of a stored session (every included
// channel, or one) from its stored protocol, readouts, decisions and recorded responses; new artifacts are added.
import { type Config, resolvePaths } from "../../config/index.ts";
import { parseProtocol } from "../../protocols/load.ts";
import { createLogger } from "../log.ts";
import { type VisualizeOutcome, visualizeStep } from "../session/visualize.ts";
import { SessionStore } from "../store/store.ts";

export class ExplainCommandError extends Error {
  readonly code = "EPHYS_BAD_EXPLAIN_COMMAND";
  constructor(message: string) {
    super(message);
    this.name = "ExplainCommandError";
  }
}

export async function explainCommand(
  config: Config,
  sessionId: string,
  flags: { channel?: string },
  signal?: AbortSignal,
): Promise<VisualizeOutcome> {
  const store = new SessionStore(resolvePaths(config).dbPath);
  try {
    const row = store.getSession(sessionId);
    if (!row)
      throw new ExplainCommandError(
        `SESSION: no session ${JSON.stringify(sessionId)} in ${resolvePaths(config).dbPath}`,
      );
    if (flags.channel !== undefined) {
      const decision = store.decisions(sessionId).find((d) => d.channelId === flags.channel);
      if (!decision) {
        throw new ExplainCommandError(
          `--channel: ${JSON.stringify(flags.channel)} has no stored decision; expected a checked channel of ${sessionId}`,
        );
      }
      if (!decision.included) {
        throw new ExplainCommandError(
          `--channel: ${flags.channel} was excluded by the checks (${decision.reason}); expected an included channel`,
        );
      }
    }
    const loaded = {
      protocol: parseProtocol(row.protocol_text, row.protocol_path),
      text: row.protocol_text,
      sha256: row.protocol_sha256,
      path: row.protocol_path,
    };
    const log = createLogger({ level: config.logLevel, name: "explain" });
    return await visualizeStep(
      { store, sessionId, loaded, config, log },
      signal,
      flags.channel !== undefined ? { channels: [flags.channel] } : {},
    );
  } finally {
    store.close();
  }
}
