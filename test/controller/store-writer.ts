// Child process for the crash test: writes bursts of acquisition messages, printing each committed seq.
import { SessionStore } from "../../controller/store/store.ts";

const [dbPath, sessionId] = process.argv.slice(2);
const store = new SessionStore(dbPath);
let seq = 0;
for (;;) {
  const batch = Array.from({ length: 20 }, () => {
    seq++;
    store.recordTrial(sessionId, {
      trialId: seq,
      phase: 1,
      block: 0,
      stimulusId: `s${seq % 7}`,
      eventCode: 1,
      status: "shown",
    });
    return {
      seq,
      trialId: seq,
      channels: Array.from({ length: 16 }, (_, c) => ({
        channelId: `ch${c}`,
        counts: { baseline: c, response: seq % 13 },
      })),
    };
  });
  store.ingest(sessionId, batch);
  process.stdout.write(`${seq}\n`);
}
