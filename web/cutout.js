// cutout.js: photos with transparent parts (a cut-out portrait). The
// network needs an opaque picture, so spread fills the transparent parts
// with the picture's own colours; the cartoon takes the transparency back
// when it is saved (withAlpha) and on the stage (showCut). It imports
// nothing of ours: core.js refers to it.

/**
 * spread makes a picture opaque and closes it. Its transparent parts take
 * its own colours, spread outward from where it is opaque (push-pull: a
 * pyramid of alpha-weighted 2x2 means, pulled back down, each level
 * filling what the finer one lacks); a partly transparent pixel becomes
 * its colour over them. So the network sees a picture that goes on past
 * the cut as it looks near it, and draws no outline along the cut and no
 * light fringe where it is feathered (as it did on white: the CLI's
 * TestCutoutEdge measures both). The stored colour of a transparent pixel
 * (black, in most files) is no part of the picture. The CLI does the same
 * steps (internal/photo.Spread). It resolves to {bitmap, alpha}: alpha is
 * the picture's transparency, one byte a pixel, for the cartoon to keep,
 * or null where every pixel is opaque (the picture is then as it was).
 */
export async function spread(bitmap) {
  const w = bitmap.width, h = bitmap.height;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(bitmap, 0, 0);
  bitmap.close();
  const img = g.getImageData(0, 0, w, h);
  const px = img.data;
  const alpha = new Uint8ClampedArray(w * h);
  let opaque = true;
  for (let i = 0; i < alpha.length; i++) {
    alpha[i] = px[4 * i + 3];
    opaque &&= alpha[i] === 255;
  }
  if (!opaque) {
    const col = pushPull(px, w, h);
    for (let i = 0; i < alpha.length; i++) {
      for (let ch = 0; ch < 3; ch++) px[4 * i + ch] = Math.round(col[3 * i + ch] * 255);
      px[4 * i + 3] = 255;
    }
    g.putImageData(img, 0, 0);
  }
  return { bitmap: await createImageBitmap(c), alpha: opaque ? null : alpha };
}

// pushPull returns the spread colours of RGBA bytes px (w x h), RGB in
// [0,1] a pixel: internal/photo.Spread's steps.
function pushPull(px, w, h) {
  const n = w * h;
  const levels = [{ w, h, pre: new Float32Array(3 * n), a: new Float32Array(n) }];
  for (let i = 0; i < n; i++) {
    const a = px[4 * i + 3] / 255;
    levels[0].a[i] = a;
    for (let ch = 0; ch < 3; ch++) levels[0].pre[3 * i + ch] = (px[4 * i + ch] / 255) * a;
  }
  // Coarser levels: each pixel the mean of a 2x2 block, a side of odd
  // length repeating its last row or column.
  for (let l = levels[0]; l.w > 1 || l.h > 1;) {
    const cw = (l.w + 1) >> 1, chh = (l.h + 1) >> 1;
    const c = { w: cw, h: chh, pre: new Float32Array(3 * cw * chh), a: new Float32Array(cw * chh) };
    for (let y = 0; y < chh; y++) {
      const r0 = 2 * y * l.w, r1 = Math.min(2 * y + 1, l.h - 1) * l.w;
      for (let x = 0; x < cw; x++) {
        const o = y * cw + x, x0 = 2 * x, x1 = Math.min(2 * x + 1, l.w - 1);
        for (const i of [r0 + x0, r0 + x1, r1 + x0, r1 + x1]) {
          c.a[o] += l.a[i] / 4;
          for (let ch = 0; ch < 3; ch++) c.pre[3 * o + ch] += l.pre[3 * i + ch] / 4;
        }
      }
    }
    levels.push(c);
    l = c;
  }
  // The coarsest level's colour is the picture's mean colour, or white;
  // each finer level's pre becomes its colour: its own premultiplied
  // colour plus, for the part its alpha leaves, the colour above it.
  const top = levels[levels.length - 1];
  for (let ch = 0; ch < 3; ch++) top.pre[ch] = top.a[0] > 0 ? top.pre[ch] / top.a[0] : 1;
  for (let k = levels.length - 2; k >= 0; k--) {
    const l = levels[k], c = levels[k + 1];
    for (let y = 0; y < l.h; y++) {
      for (let x = 0; x < l.w; x++) {
        const i = y * l.w + x, j = (y >> 1) * c.w + (x >> 1);
        for (let ch = 0; ch < 3; ch++) l.pre[3 * i + ch] += (1 - l.a[i]) * c.pre[3 * j + ch];
      }
    }
  }
  return levels[0].pre;
}

/** withAlpha copies canvas to a new 2D canvas with alpha as its pixels'. */
export function withAlpha(canvas, alpha) {
  const c = document.createElement("canvas");
  c.width = canvas.width;
  c.height = canvas.height;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(canvas, 0, 0);
  const img = g.getImageData(0, 0, c.width, c.height);
  for (let i = 0; i < alpha.length; i++) img.data[4 * i + 3] = alpha[i];
  g.putImageData(img, 0, 0);
  return c;
}

/**
 * showCut shows a cut-out photo on the stage as it will be saved: canvas
 * is a layer over the picture and the cartoon, which it covers with a
 * checkerboard where the photo is transparent (alpha, w x h, from
 * spread), so that what shows through is the picture as cut. alpha null
 * hides it. The page's and the widget's CSS hide it with the photo.
 */
export function showCut(canvas, alpha, w, h) {
  canvas.hidden = !alpha;
  if (!alpha) return;
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext("2d");
  const img = g.createImageData(w, h);
  const sq = Math.max(4, Math.round(Math.max(w, h) / 40)); // about 40 squares along the longer side
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, v = ((x / sq) ^ (y / sq)) & 1 ? 204 : 255;
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255 - alpha[i];
    }
  }
  g.putImageData(img, 0, 0);
}
