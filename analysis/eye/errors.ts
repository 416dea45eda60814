// Errors of the eye calibration, with stable codes.

export type EyeErrorCode = "EPHYS_CALIBRATION_DEGENERATE" | "EPHYS_BAD_CALIBRATION_INPUT";

export class EyeCalibrationError extends Error {
  constructor(
    readonly code: EyeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EyeCalibrationError";
  }
}
