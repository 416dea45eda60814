"""Independent reference of analysis/spikes/detect.ts (the definition in that file's header), in numpy.

usage: spike_detect_reference.py PARAMS.json DATA.bin
PARAMS: {nChans, sampleRate, thresholdK, refractoryMs, car, noiseWindowMs, noiseTimeConstantS, noiseUpdateMs,
         highPassHz (or null), blocks: [[startSample, nSamples], ...]}
DATA: the blocks' int16 samples concatenated, little-endian, sample-major (sum(nSamples) x nChans).
Prints {"detections": [[sample, channel], ...], "sigma": [...]} as JSON.
"""

import json
import math
import sys

import numpy as np


def main():
    p = json.load(open(sys.argv[1]))
    nc = p["nChans"]
    fs = p["sampleRate"]
    x = np.fromfile(sys.argv[2], dtype="<i2").reshape(-1, nc).astype(np.float64)
    n = x.shape[0]
    # stream count of each received sample, and where a gap (or the start) is
    s = np.concatenate([np.arange(a, a + k, dtype=np.int64) for a, k in p["blocks"]])
    assert len(s) == n, "blocks do not match the data"
    fresh = np.ones(n, dtype=bool)
    fresh[1:] = s[1:] != s[:-1] + 1

    # 1. first-order RC high-pass, restarting at gaps
    if p.get("highPassHz"):
        rc = 1 / (2 * math.pi * p["highPassHz"])
        a = rc / (rc + 1 / fs)
        u = np.zeros_like(x)
        for i in range(n):
            if not fresh[i]:
                u[i] = a * (u[i - 1] + x[i] - x[i - 1])
    else:
        u = x
    # 2. common reference
    if p["car"] == "median":
        r = np.median(u, axis=1)
    elif p["car"] == "mean":
        r = np.zeros(n)
        for c in range(nc):  # summed in channel order, as the detector does (not numpy's pairwise sum)
            r += u[:, c]
        r /= nc
    else:
        r = np.zeros(n)
    y = u - r[:, None]

    # 3. noise batches: the first W samples, then S each; σ_batch = median(|v - median v|) / 0.6745, v in float32
    w = round(p["noiseWindowMs"] * fs / 1000)
    b = round(p["noiseUpdateMs"] * fs / 1000)
    alpha = 1 - math.exp(-b / (fs * p["noiseTimeConstantS"]))
    thr = np.full((n, nc), np.nan)  # the threshold in force at each sample
    sigma = np.zeros(nc)

    def batch_sigma(v):
        v = v.astype(np.float32).astype(np.float64)
        m = np.median(v, axis=0)
        return np.median(np.abs(v - m), axis=0) / 0.6745

    if n >= w:
        sigma = batch_sigma(y[:w])
        start = w
        while True:
            end = min(start + b, n)
            thr[start:end] = -p["thresholdK"] * sigma
            if end - start < b:
                break
            sigma = sigma + alpha * (batch_sigma(y[start:end]) - sigma)
            start = end

    # 4. crossings, then the refractory period per channel (reset at gaps)
    prev = np.full_like(y, np.nan)
    prev[1:] = y[:-1]
    prev[fresh] = np.nan
    with np.errstate(invalid="ignore"):
        cross = (y < thr) & (prev >= thr)
    cross[:w] = False
    refractory = round(p["refractoryMs"] * fs / 1000)
    segment = np.cumsum(fresh)  # which gap-free stretch a sample is in
    kept = []
    for c in range(nc):
        last, last_seg = None, None
        for i in np.flatnonzero(cross[:, c]):
            if last is not None and last_seg == segment[i] and s[i] < last + refractory:
                continue
            last, last_seg = s[i], segment[i]
            kept.append((int(s[i]), c))
    kept.sort()
    print(json.dumps({"detections": [list(d) for d in kept], "sigma": sigma.tolist()}))


if __name__ == "__main__":
    main()
