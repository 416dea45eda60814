// The interleaved-rounds policy the benches share (these machines are noisy: the candidates are timed in turns, round
// after round, and each keeps its best): at least `min` rounds, more while under `seconds`, at most `max`.

export interface RoundsPolicy {
  min: number;
  max: number;
  seconds: number;
}

/** Runs `round` with 1-based round numbers under the policy; returns how many ran. */
export async function adaptiveRounds(
  policy: RoundsPolicy,
  round: (n: number) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  let rounds = 0;
  while (rounds < policy.max && (rounds < policy.min || performance.now() - started < policy.seconds * 1000))
    await round(++rounds);
  return rounds;
}
