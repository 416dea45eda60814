// The session database behind one facade: SessionStore opens it (database.ts) and hands out the methods of each
// table family, each in its own module — sessions, channels and stimuli, trials, the spike data, the day's results,
// artifacts, and the event log. Callers keep one object; each family keeps its SQL and statements to itself.
import { ArtifactsTable } from "./artifacts.ts";
import { ChannelsAndStimuli } from "./channels-stimuli.ts";
import { type Db, openDatabase } from "./database.ts";
import { EventLog } from "./event-log.ts";
import { eyeCalibrations, type StoredCalibration, saveEyeCalibration } from "./eye-calibrations.ts";
import { ResultsTable } from "./results.ts";
import { SessionsTable } from "./sessions.ts";
import { TrialDataTable } from "./trial-data.ts";
import { TrialsTable } from "./trials.ts";

export { type Db, migrate, openDatabase } from "./database.ts";
export type * from "./records.ts";

export class SessionStore {
  readonly db: Db;
  // event-log.ts
  readonly appendEvent: EventLog["append"];
  readonly onEvent: EventLog["onEvent"];
  readonly events: EventLog["events"];
  readonly latestEvents: EventLog["latest"];
  // sessions.ts
  readonly createSession: SessionsTable["createSession"];
  readonly getSession: SessionsTable["getSession"];
  readonly listSessions: SessionsTable["listSessions"];
  readonly resumableSession: SessionsTable["resumableSession"];
  readonly saveSnapshot: SessionsTable["saveSnapshot"];
  readonly setWeightsHash: SessionsTable["setWeightsHash"];
  // channels-stimuli.ts
  readonly upsertChannels: ChannelsAndStimuli["upsertChannels"];
  readonly channels: ChannelsAndStimuli["channels"];
  readonly insertStimuli: ChannelsAndStimuli["insertStimuli"];
  readonly stimuli: ChannelsAndStimuli["stimuli"];
  // trials.ts
  readonly settleTrial: TrialsTable["settleTrial"];
  readonly voidPendingTrials: TrialsTable["voidPendingTrials"];
  readonly nextTrialId: TrialsTable["nextTrialId"];
  readonly recordTrial: TrialsTable["recordTrial"];
  readonly trials: TrialsTable["trials"];
  readonly trialInfo: TrialsTable["trialInfo"];
  // trial-data.ts
  readonly ingest: TrialDataTable["ingest"];
  readonly ingestPacked: TrialDataTable["ingestPacked"];
  readonly trialData: TrialDataTable["trialData"];
  readonly lastTrialDataRowId: TrialDataTable["lastTrialDataRowId"];
  readonly trialDataPage: TrialDataTable["trialDataPage"];
  readonly trialOnsets: TrialDataTable["trialOnsets"];
  readonly lastAckedSeq: TrialDataTable["lastAckedSeq"];
  readonly trialsWithData: TrialDataTable["trialsWithData"];
  readonly counts: TrialDataTable["counts"];
  // results.ts
  readonly saveSplits: ResultsTable["saveSplits"];
  readonly splits: ResultsTable["splits"];
  readonly saveModels: ResultsTable["saveModels"];
  readonly models: ResultsTable["models"];
  readonly saveSelections: ResultsTable["saveSelections"];
  readonly selections: ResultsTable["selections"];
  readonly saveChecks: ResultsTable["saveChecks"];
  readonly checkResults: ResultsTable["checkResults"];
  readonly decisions: ResultsTable["decisions"];
  // artifacts.ts
  readonly addArtifact: ArtifactsTable["addArtifact"];
  readonly artifacts: ArtifactsTable["artifacts"];

  constructor(pathOrDb: string | Db) {
    this.db = typeof pathOrDb === "string" ? openDatabase(pathOrDb) : pathOrDb;
    const events = new EventLog(this.db);
    this.appendEvent = events.append.bind(events);
    this.onEvent = events.onEvent.bind(events);
    this.events = events.events.bind(events);
    this.latestEvents = events.latest.bind(events);
    const sessions = new SessionsTable(this.db, events);
    this.createSession = sessions.createSession.bind(sessions);
    this.getSession = sessions.getSession.bind(sessions);
    this.listSessions = sessions.listSessions.bind(sessions);
    this.resumableSession = sessions.resumableSession.bind(sessions);
    this.saveSnapshot = sessions.saveSnapshot.bind(sessions);
    this.setWeightsHash = sessions.setWeightsHash.bind(sessions);
    const setup = new ChannelsAndStimuli(this.db);
    this.upsertChannels = setup.upsertChannels.bind(setup);
    this.channels = setup.channels.bind(setup);
    this.insertStimuli = setup.insertStimuli.bind(setup);
    this.stimuli = setup.stimuli.bind(setup);
    const trialsTable = new TrialsTable(this.db, events);
    this.settleTrial = trialsTable.settleTrial.bind(trialsTable);
    this.voidPendingTrials = trialsTable.voidPendingTrials.bind(trialsTable);
    this.nextTrialId = trialsTable.nextTrialId.bind(trialsTable);
    this.recordTrial = trialsTable.recordTrial.bind(trialsTable);
    this.trials = trialsTable.trials.bind(trialsTable);
    this.trialInfo = trialsTable.trialInfo.bind(trialsTable);
    const data = new TrialDataTable(this.db);
    this.ingest = data.ingest.bind(data);
    this.ingestPacked = data.ingestPacked.bind(data);
    this.trialData = data.trialData.bind(data);
    this.lastTrialDataRowId = data.lastTrialDataRowId.bind(data);
    this.trialDataPage = data.trialDataPage.bind(data);
    this.trialOnsets = data.trialOnsets.bind(data);
    this.lastAckedSeq = data.lastAckedSeq.bind(data);
    this.trialsWithData = data.trialsWithData.bind(data);
    this.counts = data.counts.bind(data);
    const results = new ResultsTable(this.db, events);
    this.saveSplits = results.saveSplits.bind(results);
    this.splits = results.splits.bind(results);
    this.saveModels = results.saveModels.bind(results);
    this.models = results.models.bind(results);
    this.saveSelections = results.saveSelections.bind(results);
    this.selections = results.selections.bind(results);
    this.saveChecks = results.saveChecks.bind(results);
    this.checkResults = results.checkResults.bind(results);
    this.decisions = results.decisions.bind(results);
    const artifactsTable = new ArtifactsTable(this.db);
    this.addArtifact = artifactsTable.addArtifact.bind(artifactsTable);
    this.artifacts = artifactsTable.artifacts.bind(artifactsTable);
  }

  /** The session's eye calibrations, oldest first (the last is the one in use); eye-calibrations.ts. */
  eyeCalibrations(sessionId: string): StoredCalibration[] {
    return eyeCalibrations(this.db, sessionId);
  }

  saveEyeCalibration(sessionId: string, c: Omit<StoredCalibration, "id" | "createdAt">): number {
    return saveEyeCalibration(this.db, sessionId, c);
  }

  close(): void {
    this.db.close();
  }

  integrityCheck(): string {
    return this.db.pragma("integrity_check", { simple: true }) as string;
  }
}
