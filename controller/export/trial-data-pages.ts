// Reading a session's spike data in bounded memory: pages of trial_data rows in (trial, storage) order, up to the
// newest row at the start of the read (rows stored meanwhile belong to the next export). Between pages the event
// loop runs, so a daemon exporting at the end of its day keeps answering.
import type { SessionStore, StoredTrialPart, TrialDataCursor } from "../store/store.ts";

export const PAGE_ROWS = 256;

export interface TrialDataRead {
  /** The newest row id the read includes (SessionStore.lastTrialDataRowId at its start). */
  until: number;
  /** Read spike times (false: offsets and counts only). */
  spikes: boolean;
  pageRows?: number;
}

/** Every stored row of the session up to `until`, page by page. */
export async function* trialDataPages(
  store: SessionStore,
  sessionId: string,
  read: TrialDataRead,
): AsyncGenerator<StoredTrialPart[]> {
  let after: TrialDataCursor | undefined;
  for (;;) {
    const page = store.trialDataPage(sessionId, {
      after,
      until: read.until,
      limit: read.pageRows ?? PAGE_ROWS,
      spikes: read.spikes,
    });
    if (page.rows.length) yield page.rows;
    if (!page.next) return;
    after = page.next;
    await new Promise<void>((r) => setImmediate(r));
  }
}
