// stimuli/: stimulus-set manifests, hashing, decoding/resizing, silhouettes.

export { type FragmentKind, type FragmentName, fragmentId, parseFragmentId } from "./fragment-id.ts";
export {
  type HashedImage,
  type HashedStimulusSet,
  type HashMismatch,
  HashMismatchError,
  hashStimulusSet,
  setDigest,
  sha256File,
} from "./hash.ts";
export {
  BACKGROUND_GRAY,
  BACKGROUND_RGB,
  encodePng,
  ImageError,
  type ImageSize,
  type LoadImageOptions,
  loadImageRGB,
  loadImageRGBBytes,
  type RGBImage,
  thumbnailJpeg,
  toUint8,
} from "./image.ts";
export {
  type LoadedManifest,
  loadManifest,
  type Manifest,
  ManifestError,
  type ManifestImage,
  type ManifestProblem,
  manifestSchema,
  type ParseManifestOptions,
  parseManifest,
  type ResolvedImage,
} from "./manifest.ts";
export {
  estimateBackground,
  type SilhouetteFile,
  type SilhouetteImageOptions,
  type SilhouetteOptions,
  silhouetteImage,
  silhouetteMask,
  silhouettePng,
  writeSilhouettes,
} from "./silhouette.ts";
