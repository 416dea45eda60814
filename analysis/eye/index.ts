// Eye signals of the rig box: calibration targets, the affine calibration fit, per-presentation summaries.
export { type AffineFit, applyAffine, type FitPoint, fitAffine } from "./affine-fit.ts";
export { EyeCalibrationError, type EyeErrorCode } from "./errors.ts";
export { type EyeSummary, summarizeEye } from "./eye-summary.ts";
export { calibrationTargets, type TargetCount } from "./targets.ts";
