// The backbone as data: one description of the network (layers with batch norm folded into the convolutions)
// from which every executor (ONNX Runtime, tfjs) is generated. Nothing about the network is written twice.
//
// Tensor layout conventions of the description (executors translate):
//   activations are named strings; the image input is "input" (after preprocessing, NCHW for ONNX, NHWC for tfjs);
//   conv weights are stored OIHW (as torchvision), biases [O]; every conv carries the folded batch norm.

export type Arch = "resnet18" | "resnet50";
/** torchvision: stride on the 3×3 conv of a bottleneck; keras: stride on the first 1×1 conv (Caffe ResNet). */
export type Variant = "torchvision" | "keras";

export interface ConvOp {
  op: "conv";
  /** torchvision-style module name, e.g. "layer4.1.conv2" (with its folded "bn2"); "conv1" for the stem. */
  name: string;
  input: string;
  output: string;
  inChannels: number;
  outChannels: number;
  kernel: number; // square kernels only (1, 3 or 7 in ResNets)
  stride: number;
  /** [top, left, bottom, right] zero padding. */
  pad: [number, number, number, number];
  relu: boolean;
}

export interface MaxPoolOp {
  op: "maxpool";
  name: string;
  input: string;
  output: string;
  kernel: number;
  stride: number;
  pad: [number, number, number, number];
}

/** Residual sum followed by ReLU (the output of a block). */
export interface AddReluOp {
  op: "add_relu";
  name: string;
  inputs: [string, string];
  output: string;
}

export type Op = ConvOp | MaxPoolOp | AddReluOp;

export interface Preprocessing {
  /** "caffe": RGB→BGR, subtract per-channel mean in 0..255 units, no scaling (Keras ResNet50).
   *  "torch": x/255, subtract mean, divide by std, RGB order (torchvision). */
  mode: "caffe" | "torch";
  mean: [number, number, number];
  std: [number, number, number];
}

export interface NetworkDescription {
  arch: Arch;
  variant: Variant;
  ops: Op[];
  /** Tap name as torchvision names modules (e.g. "layer4.1") → the activation that is that module's output. */
  taps: Record<string, string>;
  /** Output channels at each tap. */
  tapChannels: Record<string, number>;
  /** Spatial downsampling factor at each tap (32 for layer4.x: 7×7 at 224 px). */
  tapStride: Record<string, number>;
  preprocessing: Preprocessing;
}

/** Folded parameters, keyed by conv op name: weight OIHW float32 and bias [O]. */
export interface ConvParams {
  weight: Float32Array;
  bias: Float32Array;
}
export type FoldedWeights = Map<string, ConvParams>;
