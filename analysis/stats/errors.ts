// The one error the statistics throw: malformed input, named by argument, value and expectation.
import { EphysError } from "../errors.ts";

export const BAD_STATS_INPUT = "EPHYS_BAD_STATS_INPUT";

export class StatsInputError extends EphysError<typeof BAD_STATS_INPUT> {
  constructor(
    /** The function that rejected its input, e.g. "pearson". */
    readonly fn: string,
    /** The argument (with index or field where useful), e.g. "x[3]" or "options.method". */
    readonly argument: string,
    /** A short rendering of the offending value. */
    readonly found: string,
    /** What was expected instead. */
    readonly expected: string,
  ) {
    super(BAD_STATS_INPUT, `${fn}: ${argument}: expected ${expected}; found ${found}`);
  }
}
