// Errors of the shared-feature saliency with stable codes (public API, asserted in tests).
import { EphysError } from "../errors.ts";
export type SaliencyErrorCode =
  | "EPHYS_BAD_SALIENCY" // bad input: images, readout, settings
  | "EPHYS_BOUND_VIOLATED" // ‖I‖ ≤ s (eq. 7) failed on a computed map
  | "EPHYS_NO_PAIR" // no recorded (object, body) pair to explain
  | "EPHYS_ABORTED";

export class SaliencyError extends EphysError<SaliencyErrorCode> {}
