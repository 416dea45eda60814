// Job module of the feature pool (feature-pool.ts): one worker thread = one feature extractor (its own ONNX
// Runtime session with its share of the threads, or its own tfjs backend); a task is one batch of images.
import type { NetworkDescription } from "../../analysis/backbone/description.ts";
import { createFeatureExtractor, type FeatureExtractorOptions } from "../../analysis/features/extract.ts";
import type { FeatureMaps } from "../../analysis/readout/feature-maps.ts";
import { servePool } from "./worker-pool.ts";

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
        // Move the values back rather than copy them; a view on a larger buffer is copied out first.
        const whole = maps.data.byteOffset === 0 && maps.data.byteLength === maps.data.buffer.byteLength;
        const data = whole ? maps.data : maps.data.slice();
        return { result: { ...maps, data }, transfer: [data.buffer as ArrayBuffer] };
      },
      dispose: () => extractor.dispose(),
    },
  };
});
