// /monitor wire contract: dashboards subscribe with hello; the server pushes state, progress, channel stats, alerts
// and every event record as it happens.
import { z } from "zod";

export const MONITOR_VERSION = 1;

export const monitorHello = z.strictObject({
  type: z.literal("hello"),
  role: z.literal("monitor"),
  version: z.number().int(),
  token: z.string(),
});
export const monitorClientMessage = z.discriminatedUnion("type", [monitorHello]);

export type MonitorServerMessage =
  | { type: "welcome"; sessionId: string | null }
  | { type: "event"; id: number; t: number; eventType: string; subtype: string; content: unknown }
  | { type: "error"; code: string; message: string };
