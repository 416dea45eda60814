// Job module of the feature pool (feature-pool.ts): one worker thread = one feature extractor (its own ONNX
// Runtime session with its share of the threads, or its own tfjs backend); a task is one batch of images.
import type { NetworkDescription } from "../../analysis/backbone/description.ts";
import { createFeatureExtractor, type FeatureExtractorOptions } from "../../analysis/features/index.ts";
import type { FeatureMaps } from "../../analysis/readout/index.ts";
import { movable, servePool } from "./worker-pool.ts";

export interface FeatureWorkerInit {
  options: FeatureExtractorOptions;
}

/** n size × size RGB images, NHWC 0..255. */
export interface FeatureTask {
  rgb: Float32Array | Uint8Array;
  n: number;
  size: number;
}

export interface FeatureWorkerInfo {
  weightsSha256: string;
  weightsSource: string;
  executorName: string;
  description: string;
  network: NetworkDescription;
}

servePool<FeatureWorkerInit, FeatureTask, FeatureMaps>(async ({ options }) => {
  const extractor = await createFeatureExtractor(options);
  const info: FeatureWorkerInfo = {
    weightsSha256: extractor.weightsSha256,
    weightsSource: extractor.weightsSource,
    executorName: extractor.executorName,
    description: extractor.description,
    network: extractor.network,
  };
  return {
    info,
    job: {
      async run({ rgb, n, size }) {
        const maps = await extractor.extract(rgb, n, size);
        const { data, transfer } = movable(maps.data);
        return { result: { ...maps, data }, transfer };
      },
      dispose: () => extractor.dispose(),
    },
  };
});
