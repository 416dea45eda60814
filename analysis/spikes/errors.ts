// The one error of the spike detector: an option or a block that does not fit, named by field, value and expectation.
import { EphysError } from "../errors.ts";

export const BAD_DETECTOR_INPUT = "EPHYS_BAD_DETECTOR_INPUT";

export class SpikeDetectorError extends EphysError<typeof BAD_DETECTOR_INPUT> {
  constructor(
    /** The option or argument, e.g. "options.thresholdK" or "push(startSample)". */
    readonly field: string,
    /** A short rendering of the offending value. */
    readonly found: string,
    /** What was expected instead. */
    readonly expected: string,
  ) {
    super(BAD_DETECTOR_INPUT, `OnlineSpikeDetector: ${field}: expected ${expected}; found ${found}`);
  }
}
