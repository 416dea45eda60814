// Preparing a session: read every stimulus set of the protocol, hash each file, store them with their event codes.
import { type LoadedProtocol, loadProtocol, resolveManifest } from "../../protocols/load.ts";
import { hashStimulusSet } from "../../stimuli/hash.ts";
import type { SessionStore, StimulusRecord } from "../store/store.ts";

/** Session stimulus id: "<set id>/<image id>", unique across the protocol's sets. */
export const stimulusKey = (setId: string, imageId: string) => `${setId}/${imageId}`;

export async function hashProtocolStimuli(loaded: LoadedProtocol): Promise<StimulusRecord[]> {
  const out: StimulusRecord[] = [];
  for (const set of loaded.protocol.stimulusSets) {
    const hashed = await hashStimulusSet(resolveManifest(loaded, set.manifest));
    for (const img of hashed.images)
      out.push({
        id: stimulusKey(set.id, img.id),
        setId: set.id,
        category: set.category,
        role: set.role,
        path: img.path,
        sha256: img.sha256,
      });
  }
  return out;
}

export async function prepareStimuli(
  store: SessionStore,
  sessionId: string,
  protocolPath: string,
): Promise<StimulusRecord[]> {
  const existing = store.stimuli(sessionId);
  if (existing.length > 0) return existing; // already prepared before a restart
  const stimuli = await hashProtocolStimuli(loadProtocol(protocolPath));
  store.insertStimuli(sessionId, stimuli);
  store.appendEvent(sessionId, "stimuli", "hashed", { count: stimuli.length });
  return stimuli;
}

/** Event code of each stimulus: its 1-based position in the session's stimulus list. */
export function eventCodes(stimuli: ReadonlyArray<{ id: string }>): Map<string, number> {
  return new Map(stimuli.map((s, i) => [s.id, i + 1]));
}
