// PSTHs and rasters per channel and phase from the stored spike times (ms from stimulus onset): bins of the
// protocol's psthBinMs from the start of the span the bridge sends (the counting windows' extent), one curve per
// stimulus category, and a raster of evenly spaced presentations in presentation order (drift shows as a change
// down the raster). The reader pages the stored rows into PsthAccumulator; nothing here reads them.
import type { ReportPsth, ReportPsthPhase } from "./types.ts";

/** How many presentations of a phase the raster shows (evenly spaced over the phase). */
export const RASTER_ROWS = 30;

export interface PsthTrial {
  phase: 1 | 2 | 3;
  /** The curve the trial adds to: its stimulus's category (body, object, synthesized, …). */
  group: string;
}

/** Up to `rows` trial ids of each phase, evenly spaced over the phase's trials (in the order given). */
export function rasterTrials(
  trials: Array<{ trialId: number; phase: 1 | 2 | 3 }>,
  rows = RASTER_ROWS,
): Set<number> {
  const out = new Set<number>();
  for (const phase of [1, 2, 3] as const) {
    const mine = trials.filter((t) => t.phase === phase);
    const n = Math.min(rows, mine.length);
    for (let k = 0; k < n; k++) out.add(mine[Math.floor((k * mine.length) / n)].trialId);
  }
  return out;
}

/** One stored row of trial data: its channels, and each one's spikes[offsets[c] .. offsets[c + 1]). */
export interface SpikeRow {
  trialId: number;
  channelIds: string[];
  offsets: Uint32Array | null;
  spikes: Float64Array | null;
}

interface Cell {
  counts: Map<string, Float64Array>;
  trials: Map<string, number>;
  raster: Array<{ trialId: number; group: string; spikes: number[] }>;
}

export class PsthAccumulator {
  private readonly nBins: number;
  private readonly cells = new Map<string, Cell>();
  private readonly noSpikes = new Set<number>();

  /**
   * `trials`: the shown presentations to count (others are ignored); `raster`: those drawn as raster rows;
   * bins of `binMs` from `startMs` as far as they fit before `endMs`.
   */
  constructor(
    private readonly o: {
      binMs: number;
      startMs: number;
      endMs: number;
      windows: ReportPsth["windows"];
      trials: Map<number, PsthTrial>;
      raster: Set<number>;
    },
  ) {
    if (!(o.binMs > 0 && o.endMs > o.startMs))
      throw new RangeError(
        `PsthAccumulator: expected binMs > 0 and endMs > startMs; found binMs ${o.binMs}, ${o.startMs}..${o.endMs} ms`,
      );
    this.nBins = Math.max(1, Math.floor((o.endMs - o.startMs) / o.binMs));
  }

  /** The span the bins cover: [startMs, startMs + nBins × binMs). */
  get binnedEndMs(): number {
    return this.o.startMs + this.nBins * this.o.binMs;
  }

  add(row: SpikeRow): void {
    const t = this.o.trials.get(row.trialId);
    if (!t) return;
    if (!row.spikes || !row.offsets) {
      this.noSpikes.add(row.trialId);
      return;
    }
    const { startMs, binMs } = this.o;
    const end = this.binnedEndMs;
    const drawn = this.o.raster.has(row.trialId);
    for (let c = 0; c < row.channelIds.length; c++) {
      const cell = this.cell(`${row.channelIds[c]}\u0000${t.phase}`);
      let bins = cell.counts.get(t.group);
      if (!bins) {
        bins = new Float64Array(this.nBins);
        cell.counts.set(t.group, bins);
      }
      cell.trials.set(t.group, (cell.trials.get(t.group) ?? 0) + 1);
      const spikes: number[] = [];
      for (let k = row.offsets[c]; k < row.offsets[c + 1]; k++) {
        const s = row.spikes[k];
        if (!(s >= startMs && s < end)) continue;
        bins[Math.floor((s - startMs) / binMs)]++;
        if (drawn) spikes.push(s);
      }
      if (drawn) cell.raster.push({ trialId: row.trialId, group: t.group, spikes });
    }
  }

  private cell(key: string): Cell {
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { counts: new Map(), trials: new Map(), raster: [] };
      this.cells.set(key, cell);
    }
    return cell;
  }

  /** The PSTHs of `channels` (in that order), each phase that has spike data. */
  result(channels: string[]): ReportPsth {
    return {
      binMs: this.o.binMs,
      startMs: this.o.startMs,
      endMs: this.binnedEndMs,
      windows: this.o.windows,
      channels: channels.flatMap((channelId) => {
        const phases = ([1, 2, 3] as const).flatMap((phase): ReportPsthPhase[] => {
          const cell = this.cells.get(`${channelId}\u0000${phase}`);
          if (!cell) return [];
          return [
            {
              phase,
              groups: [...cell.counts.entries()]
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([group, counts]) => ({ group, trials: cell.trials.get(group)!, counts: [...counts] })),
              raster: cell.raster.sort((a, b) => a.trialId - b.trialId).map((r, row) => ({ row, ...r })),
            },
          ];
        });
        return phases.length ? [{ channelId, phases }] : [];
      }),
      withoutSpikes: this.noSpikes.size,
    };
  }
}
