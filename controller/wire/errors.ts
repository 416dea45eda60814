// The one way a wire message's zod error becomes words: the field, what was expected, what was found (when the
// message is at hand), for the first three issues — "channels.0.id: expected a channel id …; found "<b>"".
import type { z } from "zod";

export function describeIssues(error: z.ZodError, input?: unknown): string {
  const shown = error.issues.slice(0, 3).map((issue) => {
    const path = issue.path.length ? issue.path.map(String).join(".") : "(message)";
    if (input === undefined || !issue.path.length) return `${path}: ${issue.message}`;
    let value: unknown = input;
    for (const key of issue.path)
      value =
        value !== null && typeof value === "object"
          ? (value as Record<PropertyKey, unknown>)[key]
          : undefined;
    const found = value === undefined ? "missing" : `found ${JSON.stringify(value)?.slice(0, 40)}`;
    return `${path}: ${issue.message} (${found})`;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : "";
  return `${shown.join("; ")}${more}`;
}
