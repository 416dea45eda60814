// A tiny typed event emitter: listeners keyed by event name with typed argument tuples.
// A throwing listener is isolated (reported to `onListenerError`) so one bad subscriber never breaks I/O.

export type EventMap = Record<string, unknown[]>;

export class TypedEmitter<E extends EventMap> {
  private readonly listeners: { [K in keyof E]?: Array<(...args: E[K]) => void> } = {};

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** Subscribe; returns the unsubscribe function. */
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): () => void {
    const list = this.listeners[event] ?? [];
    list.push(listener);
    this.listeners[event] = list;
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): void {
    const list = this.listeners[event];
    if (!list) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const listener of [...(this.listeners[event] ?? [])]) {
      try {
        listener(...args);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  removeAll(): void {
    for (const key of Object.keys(this.listeners) as Array<keyof E>) delete this.listeners[key];
  }
}
