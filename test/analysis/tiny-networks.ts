// Small hand-built networks for the backbone engine tests, with seeded random weights.
import type { FoldedWeights, NetworkDescription } from "../../analysis/backbone/description.ts";

/** Seeded Lehmer generator (multiplier 16807, modulus 2³¹−1) of values in [−0.5, 0.5). */
export function lehmer(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647 - 0.5;
  };
}

/**
 * Asymmetric paddings [t,l,b,r], a strided conv on an odd size and an overlapping pool, two branches summed at
 * tap "block" (4 channels, stride 4). Weights are drawn from a generator seeded with 3; `rand` is that generator
 * after the weights, for the caller's inputs.
 */
export function asymmetricPaddingNetwork(): {
  desc: NetworkDescription;
  weights: FoldedWeights;
  rand: () => number;
} {
  const desc: NetworkDescription = {
    arch: "resnet18",
    variant: "torchvision",
    ops: [
      {
        op: "conv",
        name: "conv1",
        input: "input",
        output: "c1",
        inChannels: 3,
        outChannels: 4,
        kernel: 3,
        stride: 2,
        pad: [0, 1, 2, 0],
        relu: true,
      },
      { op: "maxpool", name: "pool", input: "c1", output: "p", kernel: 3, stride: 2, pad: [1, 0, 0, 1] },
      {
        op: "conv",
        name: "conv2",
        input: "p",
        output: "c2",
        inChannels: 4,
        outChannels: 4,
        kernel: 3,
        stride: 1,
        pad: [2, 0, 0, 1],
        relu: false,
      },
      {
        op: "conv",
        name: "conv3",
        input: "p",
        output: "c3",
        inChannels: 4,
        outChannels: 4,
        kernel: 2,
        stride: 1,
        pad: [1, 0, 0, 0],
        relu: false,
      },
      { op: "add_relu", name: "block", inputs: ["c2", "c3"], output: "out" },
    ],
    taps: { block: "out" },
    tapChannels: { block: 4 },
    tapStride: { block: 4 },
    preprocessing: { mode: "torch", mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] },
  };
  const rand = lehmer(3);
  const weights: FoldedWeights = new Map();
  for (const op of desc.ops) {
    if (op.op !== "conv") continue;
    const n = op.outChannels * op.inChannels * op.kernel * op.kernel;
    weights.set(op.name, {
      weight: Float32Array.from({ length: n }, rand),
      bias: Float32Array.from({ length: op.outChannels }, rand),
    });
  }
  return { desc, weights, rand };
}
