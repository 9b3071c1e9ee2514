// resample.js: how the CPU path's engine (cpuengine.js) shrinks or
// enlarges a picture to the network's input, the JavaScript twin of the
// WebGL engine's kernels/footprint.glsl and of internal/photo.Sample in
// Go, so that both engines and the tests' reference read a camera frame
// alike.

/**
 * footprint resamples RGBA bytes of sw x sh to w x h as
 * kernels/footprint.glsl samples a texture (and internal/photo.Sample in
 * Go): per axis, the mean of n LINEAR taps spread evenly over the output
 * pixel, n = ceil(source pixels per output pixel) up to 8, one tap at the
 * centre where the source is not larger. A mean of bilinear taps on a
 * grid is separable: rows first, then columns. Returns RGBA floats in
 * [0, 255].
 */
export function footprint(px, sw, sh, w, h) {
  const tx = axisTaps(sw, w), ty = axisTaps(sh, h);
  const rows = scratch(3 * w * sh);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < w; x++) {
      const taps = tx[x], o = 3 * (y * w + x);
      for (const [lo, hi, t] of taps) {
        const a = 4 * (y * sw + lo), b = 4 * (y * sw + hi);
        for (let c = 0; c < 3; c++) rows[o + c] += (px[a + c] + t * (px[b + c] - px[a + c])) / taps.length;
      }
    }
  }
  const out = new Float32Array(4 * w * h);
  for (let y = 0; y < h; y++) {
    const taps = ty[y];
    for (let x = 0; x < w; x++) {
      const o = 4 * (y * w + x);
      for (const [lo, hi, t] of taps) {
        const a = 3 * (lo * w + x), b = 3 * (hi * w + x);
        for (let c = 0; c < 3; c++) out[o + c] += (rows[a + c] + t * (rows[b + c] - rows[a + c])) / taps.length;
      }
      out[o + 3] = 255;
    }
  }
  return out;
}

// A camera sends frames of one size: the taps and the row buffer of the
// last sizes are kept for the next frame.
const tapsOf = new Map();
let rowsBuf = new Float32Array(0);

// scratch returns n zeros, in the buffer of the previous frame if it fits.
function scratch(n) {
  if (rowsBuf.length < n) rowsBuf = new Float32Array(n);
  return rowsBuf.fill(0, 0, n);
}

// axisTaps lists, for each of size output coordinates, the LINEAR taps
// [lower pixel, upper pixel, upper's weight] it reads of src pixels
// (internal/photo's taps).
function axisTaps(src, size) {
  const key = src + "/" + size;
  let all = tapsOf.get(key);
  if (!all) {
    if (tapsOf.size >= 8) tapsOf.clear();
    all = makeTaps(src, size);
    tapsOf.set(key, all);
  }
  return all;
}

function makeTaps(src, size) {
  const n = Math.min(Math.max(Math.ceil(src / size - 0.001), 1), 8), all = [];
  for (let o = 0; o < size; o++) {
    const taps = [];
    for (let i = 0; i < n; i++) {
      const f = Math.max((o + (i + 0.5) / n) * src / size - 0.5, 0), lo = Math.floor(f);
      taps.push([lo, Math.min(lo + 1, src - 1), f - lo]);
    }
    all.push(taps);
  }
  return all;
}
