// Concepts and the channels they drive: the nodes are clustered in the spectral embedding (k-means on diffusion
// coordinates, see embeddingRows), and each channel is described by the
// concepts of the nodes that drive it most (its top nodes by x_ij = w_j·f_i + b_j). Channels whose top nodes fall
// mostly in the same concept form a channel cluster.
import { type NodeMatrix, unitRows } from "./affinity.ts";
import { badOption, checkInt } from "./errors.ts";

export interface ConceptCluster {
  id: number;
  nodes: number;
  /** Share of all nodes. */
  fraction: number;
  /** Mean colour of its nodes in the concept maps. */
  color: [number, number, number];
  /** Images holding the largest share of their pixels in this concept (image index, share), best first. */
  topImages: Array<{ image: number; share: number }>;
  /** Channels whose dominant concept this is. */
  channels: string[];
}

export interface ChannelConcepts {
  channelId: string;
  /** Nodes counted: the channel's top nodes by drive. */
  topNodes: number;
  /** Share of those nodes in each concept (sums to 1). */
  distribution: number[];
  /** distribution / concept share of all nodes (> 1: the channel prefers that concept). */
  lift: number[];
  /** The concept holding most of its top nodes (ties: the larger lift). */
  dominant: number;
  /** Images of its 5 highest-drive nodes (distinct, best first). */
  topImages: number[];
}

export interface ChannelClusterTable {
  concepts: ConceptCluster[];
  channels: ChannelConcepts[];
  /** Channels grouped by dominant concept (concepts without channels left out). */
  channelClusters: Array<{ concept: number; channels: string[] }>;
}

/**
 * The embedding k-means clusters: diffusion coordinates λ_j^t v_ij at t = 2 (Coifman & Lafon 2006; the slow,
 * leading eigenvectors weigh most), each row scaled to unit length (Ng, Jordan & Weiss 2002).
 */
export function embeddingRows(
  vectors: Float64Array,
  values: ArrayLike<number>,
  n: number,
  k: number,
  t = 2,
): NodeMatrix {
  const data = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) data[i * k + j] = vectors[i * k + j] * Math.abs(values[j]) ** t;
  return unitRows({ n, d: k, data });
}

export interface TableInput {
  labels: Int32Array;
  concepts: number;
  /** N × channels drive. */
  drive: Float32Array;
  channelIds: string[];
  rgb: Uint8Array;
  /** Nodes per image (h·w). */
  pixelsPerImage: number;
  /** Share of all nodes counted as a channel's top nodes (default 0.02, at least 1 node). */
  topFraction?: number;
  /** Images listed per concept (default 6). */
  topImagesPerConcept?: number;
}

export function channelClusterTable(input: TableInput): ChannelClusterTable {
  const { labels, concepts: c, drive, channelIds, rgb, pixelsPerImage } = input;
  const n = labels.length;
  const q = channelIds.length;
  checkInt("concepts", c, 1);
  checkInt("pixelsPerImage", pixelsPerImage, 1);
  const topFraction = input.topFraction ?? 0.02;
  if (!(topFraction > 0 && topFraction <= 1)) badOption("topFraction", topFraction, "a share in (0, 1]");
  if (drive.length !== n * q) badOption("drive", drive.length, `N·channels = ${n * q} values`);
  const images = Math.round(n / pixelsPerImage);
  const sizes = new Array<number>(c).fill(0);
  const colorSum = Array.from({ length: c }, () => [0, 0, 0]);
  const perImage = Array.from({ length: c }, () => new Float64Array(images));
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    sizes[l]++;
    for (let t = 0; t < 3; t++) colorSum[l][t] += rgb[i * 3 + t];
    perImage[l][Math.floor(i / pixelsPerImage)]++;
  }
  const share = sizes.map((s) => s / n);
  const top = Math.max(1, Math.round(topFraction * n));
  const channels: ChannelConcepts[] = channelIds.map((channelId, j) => {
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => drive[b * q + j] - drive[a * q + j] || a - b,
    );
    const counts = new Array<number>(c).fill(0);
    for (let r = 0; r < top; r++) counts[labels[order[r]]]++;
    const distribution = counts.map((v) => v / top);
    const lift = distribution.map((p, l) => (share[l] > 0 ? p / share[l] : 0));
    let dominant = 0;
    for (let l = 1; l < c; l++)
      if (
        distribution[l] > distribution[dominant] ||
        (distribution[l] === distribution[dominant] && lift[l] > lift[dominant])
      )
        dominant = l;
    const topImages: number[] = [];
    for (let r = 0; r < n && topImages.length < 5; r++) {
      const img = Math.floor(order[r] / pixelsPerImage);
      if (!topImages.includes(img)) topImages.push(img);
    }
    return { channelId, topNodes: top, distribution, lift, dominant, topImages };
  });
  const listed = input.topImagesPerConcept ?? 6;
  const concepts: ConceptCluster[] = sizes.map((nodes, id) => ({
    id,
    nodes,
    fraction: share[id],
    color: colorSum[id].map((v) => (nodes ? Math.round(v / nodes) : 0)) as [number, number, number],
    topImages: Array.from(perImage[id], (v, image) => ({ image, share: v / pixelsPerImage }))
      .filter((x) => x.share > 0)
      .sort((a, b) => b.share - a.share || a.image - b.image)
      .slice(0, listed),
    channels: channels.filter((ch) => ch.dominant === id).map((ch) => ch.channelId),
  }));
  return {
    concepts,
    channels,
    channelClusters: concepts
      .filter((k) => k.channels.length)
      .map((k) => ({ concept: k.id, channels: k.channels })),
  };
}
