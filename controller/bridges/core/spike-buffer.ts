// Recent spikes of every channel on the acquisition clock (sample number, channel index), kept long enough to cut
// each trial's window [onset − preMs, onset + postMs] once it has passed. Appends are in arrival order; the Event
// Broadcaster sends a processing block's events in sample order, so the buffer is searched by bisection while it
// stays sorted and scanned otherwise.
export class SpikeBuffer {
  private samples = new Float64Array(1 << 14);
  private channels = new Uint32Array(1 << 14);
  private head = 0;
  private tail = 0;
  private unsorted = 0;

  get size(): number {
    return this.tail - this.head;
  }

  push(sample: number, channel: number): void {
    if (this.tail === this.samples.length) this.grow();
    if (this.tail > this.head && sample < this.samples[this.tail - 1]) this.unsorted++;
    this.samples[this.tail] = sample;
    this.channels[this.tail] = channel;
    this.tail++;
  }

  /** Drop spikes before `sample`. */
  dropBefore(sample: number): void {
    if (this.unsorted === 0) this.head = this.lowerBound(sample);
    else {
      let w = this.head;
      for (let r = this.head; r < this.tail; r++)
        if (this.samples[r] >= sample) {
          this.samples[w] = this.samples[r];
          this.channels[w] = this.channels[r];
          w++;
        }
      this.tail = w;
      this.unsorted = 0;
      for (let r = this.head + 1; r < this.tail; r++)
        if (this.samples[r] < this.samples[r - 1]) this.unsorted++;
    }
  }

  /** Spike times of each of `nChannels` channels in [from, to] (samples), as ms relative to `onset`. */
  window(from: number, to: number, onset: number, sampleRate: number, nChannels: number): number[][] {
    const out: number[][] = Array.from({ length: nChannels }, () => []);
    const start = this.unsorted === 0 ? this.lowerBound(from) : this.head;
    const k = 1000 / sampleRate;
    for (let i = start; i < this.tail; i++) {
      const s = this.samples[i];
      if (s > to) {
        if (this.unsorted === 0) break;
        continue;
      }
      if (s >= from) out[this.channels[i]].push((s - onset) * k);
    }
    if (this.unsorted) for (const c of out) c.sort((a, b) => a - b);
    return out;
  }

  private lowerBound(sample: number): number {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.samples[mid] < sample) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(): void {
    const n = this.tail - this.head;
    const size = n * 2 > this.samples.length ? this.samples.length * 2 : this.samples.length;
    const s = new Float64Array(size);
    const c = new Uint32Array(size);
    s.set(this.samples.subarray(this.head, this.tail));
    c.set(this.channels.subarray(this.head, this.tail));
    this.samples = s;
    this.channels = c;
    this.head = 0;
    this.tail = n;
  }
}
