// The SESSION argument of the commands that work on a stored session (explain, optvis, concepts): its row, and its
// protocol as stored with it (the stored text, whatever the file says now).
import { type LoadedProtocol, parseProtocol } from "../../protocols/index.ts";
import type { SessionRow, SessionStore } from "../store/store.ts";

/** The session's row; a missing session throws `new Fail("SESSION: no session … in <dbPath>")`. */
export function sessionRow(
  store: SessionStore,
  dbPath: string,
  sessionId: string,
  Fail: new (message: string) => Error,
): SessionRow {
  const row = store.getSession(sessionId);
  if (!row) throw new Fail(`SESSION: no session ${JSON.stringify(sessionId)} in ${dbPath}`);
  return row;
}

/** The protocol stored with the session, parsed. */
export function storedProtocol(row: SessionRow): LoadedProtocol {
  return {
    protocol: parseProtocol(row.protocol_text, row.protocol_path),
    text: row.protocol_text,
    sha256: row.protocol_sha256,
    path: row.protocol_path,
  };
}
