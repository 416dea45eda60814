// Artifacts: files a session produced (report, NWB, saliency and optvis folders, concepts), with their metadata.
import { type Db, now } from "./database.ts";

export class ArtifactsTable {
  constructor(private readonly db: Db) {}

  addArtifact(
    sessionId: string,
    a: { channelId?: string; kind: string; path?: string; meta: unknown },
  ): number {
    return Number(
      this.db
        .prepare(
          "INSERT INTO artifacts (session_id, channel_id, kind, path, meta, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .run(sessionId, a.channelId ?? null, a.kind, a.path ?? null, JSON.stringify(a.meta), now())
        .lastInsertRowid,
    );
  }

  artifacts(
    sessionId: string,
    kind?: string,
  ): Array<{ id: number; channelId: string | null; kind: string; path: string | null; meta: unknown }> {
    const rows = this.db
      .prepare(`SELECT * FROM artifacts WHERE session_id = ? ${kind ? "AND kind = ?" : ""} ORDER BY id`)
      .all(...(kind ? [sessionId, kind] : [sessionId])) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      channelId: r.channel_id as string | null,
      kind: r.kind as string,
      path: r.path as string | null,
      meta: JSON.parse(r.meta as string),
    }));
  }
}
