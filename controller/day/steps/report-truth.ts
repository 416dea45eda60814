// A simulated day's truth for the report: the neurons the virtual rig wrote into the session folder
// (<session folder>/simulation-truth.json, `ephysloop simulate --truth-neurons`, which `ephysloop demo` asks for),
// compared with the day's models and phase-2 choices (analysis/simulation-truth.ts). The simulator writes it because
// only it knows what it simulated (channel count, faults, the features it used); a recorded day has no such file, so
// its report never claims a truth.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { GaussianReadoutJSON } from "../../../analysis/readout/index.ts";
import {
  checkTruth,
  compareWithTruth,
  SIMULATION_TRUTH_FILE,
  type SimulationTruth,
  type TruthComparison,
} from "../../../analysis/simulation-truth.ts";
import type { StimulusRecord } from "../../store/store.ts";

/** A simulated day's truth appendix as a table, beside report.html. */
export const TRUTH_CSV = "truth.csv";

/**
 * The simulated neurons the virtual rig wrote for this session (<session folder>/simulation-truth.json, written by
 * `ephysloop simulate --truth-neurons`, which `ephysloop demo` asks for) against the day's models and phase-2
 * choices; null on a day without that file (a recorded day), with a note when the file is there but unusable.
 */
export async function simulationTruth(
  dir: string,
  protocolSha256: string,
  readouts: GaussianReadoutJSON[],
  selections: Array<{ channelId: string; stimulusId: string; rule: string }>,
  stimuli: StimulusRecord[],
  notes: string[],
): Promise<TruthComparison | null> {
  const file = join(dir, SIMULATION_TRUTH_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return null;
  }
  try {
    const truth = JSON.parse(text) as SimulationTruth;
    checkTruth(truth);
    if (truth.protocolSha256 && truth.protocolSha256 !== protocolSha256) {
      notes.push(
        `${file} was written for another protocol (sha256 ${truth.protocolSha256.slice(0, 12)}…, this session's ${protocolSha256.slice(0, 12)}…): no truth appendix.`,
      );
      return null;
    }
    return compareWithTruth(
      truth,
      readouts.map((r) => ({
        channelId: r.channelId,
        location: r.location as [number, number],
        weights: r.weights,
      })),
      selections,
      {
        objects: stimuli.filter((s) => s.role === "object").map((s) => s.id),
        controls: stimuli.filter((s) => s.role === "control").map((s) => s.id),
      },
    );
  } catch (e) {
    notes.push(`${file} could not be used for the truth appendix: ${(e as Error).message}`);
    return null;
  }
}
