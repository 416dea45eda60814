// The one error shape of the project: a stable `code` (public API, asserted in tests; EPHYS_…) and a sentence that
// names the field, what was found and what was expected. Every module's error class extends it, so a caller can
// tell ours from anything else (`instanceof EphysError`) and read `code` without casts.
export class EphysError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
