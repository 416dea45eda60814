// `ephysloop explain SESSION [--channel ID]`: recompute the shared-feature maps of a stored session (every included
// channel, or one) from its stored protocol, readouts, decisions and recorded responses; new artifacts are added.

import { EphysError } from "../../analysis/errors.ts";
import { type Config, resolvePaths } from "../../config/index.ts";
import { stepContext } from "../day/context.ts";
import { type VisualizeOutcome, visualizeStep } from "../day/steps/visualize.ts";
import { createLogger } from "../log.ts";
import { SessionStore } from "../store/store.ts";
import { sessionRow, storedProtocol } from "./stored-session.ts";

export class ExplainCommandError extends EphysError<"EPHYS_BAD_EXPLAIN_COMMAND"> {
  constructor(message: string) {
    super("EPHYS_BAD_EXPLAIN_COMMAND", message);
  }
}

export async function explainCommand(
  config: Config,
  sessionId: string,
  flags: { channel?: string },
  signal?: AbortSignal,
): Promise<VisualizeOutcome> {
  const { dbPath } = resolvePaths(config);
  const store = new SessionStore(dbPath);
  try {
    const row = sessionRow(store, dbPath, sessionId, ExplainCommandError);
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
    const loaded = storedProtocol(row);
    const log = createLogger({ level: config.logLevel, name: "explain" });
    return await visualizeStep(
      stepContext({ store, sessionId, loaded, config, log }),
      signal,
      flags.channel !== undefined ? { channels: [flags.channel] } : {},
    );
  } finally {
    store.close();
  }
}
