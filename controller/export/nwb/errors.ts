// The export's own errors (the parts' errors carry their own codes: EPHYS_NWB_BAD_SESSION, EPHYS_NWB_REGION, …).
// Its own module, so that the daemon's thread can name them without loading h5wasm.
export type NwbExportCode = "EPHYS_NO_SESSION" | "EPHYS_NWB_WRITE";

export class NwbExportError extends Error {
  constructor(
    readonly code: NwbExportCode,
    message: string,
  ) {
    super(message);
    this.name = "NwbExportError";
  }
}
