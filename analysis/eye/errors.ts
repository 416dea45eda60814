// Errors of the eye calibration, with stable codes.
import { EphysError } from "../errors.ts";

export type EyeErrorCode = "EPHYS_CALIBRATION_DEGENERATE" | "EPHYS_BAD_CALIBRATION_INPUT";

export class EyeCalibrationError extends EphysError<EyeErrorCode> {}
