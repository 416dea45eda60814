// An in-memory serial cable: a serialport binding (@serialport/bindings-interface) whose two ports are the ends of
// one cable. The simulated day's rig box and the daemon's SerialRigBox talk through it in one process, with the
// same SerialPortStream, line parser and reconnect logic as on a real device — and with nothing from the operating
// system (no pseudo-terminal, no socat). Unplugging makes both ends see a disconnect, as a pulled USB cable does.
import type {
  BindingInterface,
  BindingPortInterface,
  OpenOptions,
  PortInfo,
  PortStatus,
} from "./serial-binding.ts";

type End = "host" | "box";

/** What a binding's read or write rejects with: `canceled` on close (serialport's contract), else a disconnect. */
function bindingError(message: string, canceled: boolean): Error & { canceled?: boolean } {
  return Object.assign(new Error(message), canceled ? { canceled: true } : {});
}

class CablePort implements BindingPortInterface {
  readonly openOptions: Required<OpenOptions>;
  isOpen = true;
  private readonly incoming: Buffer[] = [];
  private reader: { buffer: Buffer; offset: number; length: number; resolve: (n: number) => void } | null =
    null;
  private rejectReader: ((e: Error) => void) | null = null;

  constructor(
    private readonly cable: SerialCable,
    readonly end: End,
    options: OpenOptions,
  ) {
    this.openOptions = {
      dataBits: 8,
      lock: true,
      stopBits: 1,
      parity: "none",
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      hupcl: true,
      ...options,
    } as Required<OpenOptions>;
  }

  /** Bytes from the other end. */
  deliver(data: Buffer): void {
    this.incoming.push(data);
    this.serve();
  }

  /** The other end went away (unplugged): a pending read fails, which serialport reports as a disconnect. */
  sever(why: string): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.rejectReader?.(bindingError(why, false));
    this.reader = null;
    this.rejectReader = null;
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (!this.isOpen) return Promise.reject(bindingError("the port is not open", true));
    return new Promise((resolve, reject) => {
      this.reader = { buffer, offset, length, resolve: (n) => resolve({ buffer, bytesRead: n }) };
      this.rejectReader = reject;
      this.serve();
    });
  }

  async write(buffer: Buffer): Promise<void> {
    if (!this.isOpen) throw bindingError("the port is not open", true);
    this.cable.carry(this.end, Buffer.from(buffer));
  }

  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.rejectReader?.(bindingError("the port was closed", true));
    this.reader = null;
    this.rejectReader = null;
    this.cable.detach(this);
  }

  async update(options: { baudRate: number }): Promise<void> {
    this.openOptions.baudRate = options.baudRate;
  }
  async set(): Promise<void> {}
  async get(): Promise<PortStatus> {
    return { cts: true, dsr: true, dcd: true };
  }
  async getBaudRate(): Promise<{ baudRate: number }> {
    return { baudRate: this.openOptions.baudRate };
  }
  async flush(): Promise<void> {
    this.incoming.length = 0;
  }
  async drain(): Promise<void> {}

  private serve(): void {
    const r = this.reader;
    if (!r || this.incoming.length === 0) return;
    let n = 0;
    while (n < r.length && this.incoming.length > 0) {
      const head = this.incoming[0];
      const take = Math.min(head.length, r.length - n);
      head.copy(r.buffer, r.offset + n, 0, take);
      n += take;
      if (take === head.length) this.incoming.shift();
      else this.incoming[0] = head.subarray(take);
    }
    this.reader = null;
    this.rejectReader = null;
    r.resolve(n);
  }
}

export class SerialCable {
  /** The path the daemon's SerialRigBox opens. */
  readonly hostPath: string;
  /** The path the virtual box opens. */
  readonly boxPath: string;
  readonly binding: BindingInterface;
  private readonly ports: Record<End, CablePort | null> = { host: null, box: null };
  private plugged = true;

  constructor(readonly name = "virtual-rigbox") {
    this.hostPath = `${name}:host`;
    this.boxPath = `${name}:box`;
    this.binding = {
      list: async (): Promise<PortInfo[]> =>
        (this.plugged ? [this.hostPath, this.boxPath] : []).map((path) => ({
          path,
          manufacturer: "ephysloop (in-memory cable)",
          serialNumber: undefined,
          pnpId: undefined,
          locationId: undefined,
          productId: undefined,
          vendorId: undefined,
        })),
      open: async (options: OpenOptions): Promise<BindingPortInterface> => this.open(options),
    };
  }

  /** Both ends see a disconnect; opening fails until replug(). */
  unplug(): void {
    this.plugged = false;
    for (const end of ["host", "box"] as const) {
      this.ports[end]?.sever(`${this.name}: the cable was unplugged`);
      this.ports[end] = null;
    }
  }

  replug(): void {
    this.plugged = true;
  }

  /** Bytes written at `from` arrive at the other end (lost when nobody holds it open, as on a real line). */
  carry(from: End, data: Buffer): void {
    const to = this.ports[from === "host" ? "box" : "host"];
    if (to) setImmediate(() => to.deliver(data));
  }

  detach(port: CablePort): void {
    if (this.ports[port.end] === port) this.ports[port.end] = null;
  }

  private open(options: OpenOptions): CablePort {
    const end: End | null =
      options.path === this.hostPath ? "host" : options.path === this.boxPath ? "box" : null;
    if (end === null)
      throw Object.assign(
        new Error(`no such port ${options.path} (this cable has ${this.hostPath} and ${this.boxPath})`),
        { code: "ENOENT" },
      );
    if (!this.plugged)
      throw Object.assign(new Error(`${options.path}: the cable is unplugged`), { code: "ENOENT" });
    if (this.ports[end]) throw Object.assign(new Error(`${options.path} is already open`), { code: "EBUSY" });
    const port = new CablePort(this, end, options);
    this.ports[end] = port;
    return port;
  }
}
