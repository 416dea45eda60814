// The export's own errors (the parts' errors carry their own codes: EPHYS_NWB_BAD_SESSION, EPHYS_NWB_REGION, …).
// Its own module, so that the daemon's thread can name them without loading h5wasm.
import { EphysError } from "../../../analysis/errors.ts";
export type NwbExportCode = "EPHYS_NO_SESSION" | "EPHYS_NWB_WRITE";

export class NwbExportError extends EphysError<NwbExportCode> {}
