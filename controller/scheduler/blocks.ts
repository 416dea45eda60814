// Pseudorandom blocks: every stimulus once per block, a fresh seeded order per block. The plan is a pure function of
// (stimuli, repetitions, seed, first block), so after a restart the remaining work is the plan minus what the store
// says was shown. A phase whose plan grows while it runs (phase 3: each channel's fragments once they are made) is
// planned part by part, part k's blocks numbered from k × repetitions (scheduler/phase-runner.ts).
import { mulberry32, shuffleInPlace } from "../../analysis/random.ts";

export interface PlannedPresentation {
  block: number;
  stimulusId: string;
}

/** The order of each block: blocks[i] is a permutation of stimulusIds seeded by (seed, phase, firstBlock + i), the
 *  block's number in the phase. */
export function planBlocks(
  stimulusIds: readonly string[],
  repetitions: number,
  seed: number,
  phase: 1 | 2 | 3,
  firstBlock = 0,
): string[][] {
  const blocks: string[][] = [];
  for (let b = firstBlock; b < firstBlock + repetitions; b++) {
    const order = [...stimulusIds];
    shuffleInPlace(order, mulberry32(hashSeed(seed, phase, b)));
    blocks.push(order);
  }
  return blocks;
}

/** What is left of the plan (its blocks numbered from firstBlock) after the given shown presentations (voided ones
 *  do not count as shown; those of other blocks are ignored). */
export function remainingBlocks(
  blocks: string[][],
  shown: ReadonlyArray<{ block: number; stimulusId: string }>,
  firstBlock = 0,
): string[][] {
  const done = new Map<string, number>();
  for (const s of shown) {
    const key = `${s.block}\u0000${s.stimulusId}`;
    done.set(key, (done.get(key) ?? 0) + 1);
  }
  return blocks.map((order, i) =>
    order.filter((id) => {
      const key = `${firstBlock + i}\u0000${id}`;
      const n = done.get(key) ?? 0;
      if (n > 0) {
        done.set(key, n - 1);
        return false;
      }
      return true;
    }),
  );
}

/**
 * The queue a phase runner consumes: next() gives the next presentation; requeue() puts a voided stimulus back
 * into its own block at a random later position (never before what is already queued next).
 */
export class BlockQueue {
  private readonly random: () => number;
  /** blocks[i] is the phase's block firstBlock + i. */
  constructor(
    private readonly blocks: string[][],
    seed: number,
    private readonly firstBlock = 0,
  ) {
    this.random = mulberry32(seed ^ 0x5bd1e995);
  }

  get remaining(): number {
    return this.blocks.reduce((n, b) => n + b.length, 0);
  }

  next(): PlannedPresentation | null {
    for (let b = 0; b < this.blocks.length; b++) {
      const id = this.blocks[b].shift();
      if (id !== undefined) return { block: this.firstBlock + b, stimulusId: id };
    }
    return null;
  }

  requeue(p: PlannedPresentation): void {
    const order = this.blocks[p.block - this.firstBlock];
    // Not at the very front when others remain, so the same image is not shown again straight after a break.
    const lo = order.length > 0 ? 1 : 0;
    const at = lo + Math.floor(this.random() * (order.length - lo + 1));
    order.splice(at, 0, p.stimulusId);
  }
}

function hashSeed(seed: number, phase: number, block: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [phase, block]) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}
