// Errors of the readout, split, selection and synthetic-neuron modules, each with a stable public `code`.
import { EphysError } from "../errors.ts";

export type ReadoutErrorCode =
  | "EPHYS_BAD_FEATURES" // a feature map whose shape or values do not fit
  | "EPHYS_BAD_SPLIT" // split counts exceed the stimuli, or duplicated/missing ids
  | "EPHYS_BAD_READOUT" // a readout or fit option out of range, or a malformed serialized readout
  | "EPHYS_BAD_SELECTION" // selection inputs that do not line up
  | "EPHYS_FIT_ABORTED"; // the fit was cancelled through its AbortSignal

export class ReadoutError extends EphysError<ReadoutErrorCode> {}
