// Public API of online spike detection on continuous data (pure: typed arrays in, detections out).

export {
  type CommonReference,
  DETECTOR_DEFAULTS,
  type Detection,
  type DetectorOptions,
  OnlineSpikeDetector,
} from "./detect.ts";
export { BAD_DETECTOR_INPUT, SpikeDetectorError } from "./errors.ts";
export { medianInPlace, selectInPlace } from "./select.ts";
