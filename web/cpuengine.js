// cpuengine.js: the CPU path's engine (cpupath.js decides when it runs
// and loads this module then): the model file the WebGL engine reads, run
// on TensorFlow.js's wasm backend in a worker (cpuworker.js), with the
// WebGL engine's methods (stylize, setModel, info, ...), its stabilizer
// and its strength.
//
// It imports resample.js and cpuruntime.js (the worker's client), never
// cpupath.js: cpupath.js refers to this module, and two files that refer
// to each other could not each carry the other's hash.

import { footprint } from "/resample.js?v=dev";
import { free, loadModel } from "/cpuruntime.js?v=dev";

const coded = (code, message) => Object.assign(new Error(message), { code });

// The stabilizer's gate: kernels.GateLow, GateHigh and GateFloor (a test
// in web/ keeps these equal to them).
export const gate = { low: 0.008, high: 0.03, floor: 0.3 };

/** createCPU opens a CPU engine on opts.canvas (cpupath.js runtime). */
export async function createCPU(opts, choice) {
  const start = performance.now();
  const loaded = await loadModel(opts.model, opts.onProgress);
  const ctx = opts.canvas.getContext("2d");
  if (!ctx) {
    free(loaded);
    throw coded("cpu-canvas", "The canvas is already in use by another engine.");
  }
  return new CPUEngine(ctx, loaded, choice, performance.now() - start).api();
}

/**
 * A CPUEngine runs one model on one canvas. stylize reads the source at
 * once (a video moves on) and runs the network in the background, one
 * frame at a time; a frame asked for while one runs waits, replacing any
 * frame already waiting.
 */
class CPUEngine {
  constructor(ctx, loaded, choice, loadMs) {
    this.ctx = ctx;
    this.m = loaded;
    this.choice = choice;
    this.loadMs = loadMs;
    this.strength = 1;
    this.stabilize = false;
    this.history = null; // {inp, out, w, h}: the stabilizer's last input and cartoon, RGB in [0,1]
    this.lastMs = 0;
    this.done = 0;
    this.running = null; // Promise of the frames in progress
    this.waiting = null; // the next frame: {pixels, w, h}
    this.last = null; // the last frame: {output (the picture's part), w, h, ow, oh, c}
    this.scratch = null;
    this.disposed = false;
    this.onstatechange = null;
  }

  // mark marks the first frame's steps on the page's timeline (the
  // cold-start benchmark reads them); later frames would only fill it.
  mark(step) {
    if (this.done === 0) performance.mark(`edgetoon:${step}`);
  }

  // read returns source's RGBA (bytes, or floats in [0,255]) at w x h,
  // resampled as the WebGL engine's kernels/footprint.glsl does.
  read(source, w, h) {
    if (!this.scratch) {
      const c = document.createElement("canvas");
      this.scratch = c.getContext("2d", { willReadFrequently: true });
    }
    const [sw, sh] = sourceSize(source);
    // At its own size, or at most 8 of its pixels to one of ours (the
    // footprint's most taps: beyond, the browser's best filter shrinks it
    // to 8 first).
    const rw = sw > 0 ? Math.min(sw, 8 * w) : w, rh = sh > 0 ? Math.min(sh, 8 * h) : h;
    const c = this.scratch.canvas;
    if (c.width !== rw || c.height !== rh) { c.width = rw; c.height = rh; }
    this.scratch.imageSmoothingQuality = "high";
    this.scratch.drawImage(source, 0, 0, rw, rh);
    const px = this.scratch.getImageData(0, 0, rw, rh).data;
    return rw === w && rh === h ? px : footprint(px, rw, rh, w, h);
  }

  stylize(source, w, h) {
    this.mark("cpu-stylize");
    if (this.disposed) throw coded("disposed", "The engine was closed.");
    if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0)) {
      throw coded("argument", `stylize: size ${w}x${h} must be positive`);
    }
    this.waiting = { pixels: this.read(source, w, h), w, h }; // replaces one not begun
    this.running ??= this.drain();
  }

  // drain runs the waiting frames; a frame's error goes to the console,
  // as the WebGL engine's GPU errors do: the next frame may well work.
  async drain() {
    while (this.waiting && !this.disposed) {
      const job = this.waiting;
      this.waiting = null;
      try {
        await this.frame(job.pixels, job.w, job.h);
      } catch (err) {
        console.error(`edgetoon: CPU frame: ${err.message}`);
        if (err.code === "cpu-lost") {
          this.waiting ??= job; // the frame the runtime took down with it
          await this.recover();
        }
      }
    }
    this.running = null;
  }

  // recover starts a new runtime after the worker died (its wasm crashed,
  // or the browser ended it) and loads the model into it again, from the
  // browser's cache. The page is told as of a lost WebGL context: "lost",
  // then "restored". A runtime that cannot start is tried again later,
  // less often each time.
  async recover() {
    this.state("lost");
    for (let wait = 1000; !this.disposed; wait = Math.min(2 * wait, 30_000)) {
      try {
        const loaded = await loadModel(this.m.url);
        if (this.disposed) return free(loaded);
        this.m = loaded;
        this.history = null;
        this.state("restored");
        return;
      } catch (err) {
        console.error(`edgetoon: restarting the CPU runtime: ${err.message}`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  // state tells the page of a change of state (its onstatechange).
  state(s) {
    const f = this.handle?.onstatechange;
    if (typeof f === "function") f(s);
  }

  // frame runs the network on RGBA pixels of w x h and draws the result.
  // A side that is not a multiple of the model's is padded to the next by
  // repeating the last column and row, and the output cropped back, as
  // the WebGL engine does (kernels.Options.ContentW).
  async frame(pixels, w, h) {
    const start = performance.now();
    const { rt, model, norm, multiple: k } = this.m;
    const pw = Math.ceil(w / k) * k, ph = Math.ceil(h / k) * k;
    const x = new Float32Array(3 * pw * ph);
    const s = norm.scale.map((v) => v / 255), b = norm.bias;
    for (let y = 0; y < ph; y++) {
      const row = Math.min(y, h - 1) * w;
      for (let i = 0; i < pw; i++) {
        const from = 4 * (row + Math.min(i, w - 1)), to = 3 * (y * pw + i);
        for (let c = 0; c < 3; c++) x[to + c] = pixels[from + c] * s[c] + b[c];
      }
    }
    this.mark("cpu-run");
    const r = await rt.call({ run: { model, x, w: pw, h: ph } }, [x.buffer]);
    this.mark("cpu-ran");
    if (this.disposed) return;
    // The picture's part of the output (all of it where nothing was padded).
    const ow = Math.round((w * r.w) / pw), oh = Math.round((h * r.h) / ph);
    const output = crop(r.y, r.w, r.c, ow, oh);
    this.last = { output, w, h, ow, oh, c: r.c };
    this.last.cartoon = this.steady(pixels, this.cartoon(output, ow, oh, r.c), w, h, ow, oh);
    this.draw(pixels, w, h);
    this.lastMs = performance.now() - start;
    this.done++;
  }

  // cartoon denormalizes the network's output (HWC, c channels) to RGB in
  // [0,1].
  cartoon(output, ow, oh, c) {
    const { scale, bias } = this.m.denorm;
    const n = ow * oh, out = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < 3; ch++) out[3 * i + ch] = output[c * i + (c === 1 ? 0 : ch)] * scale[ch] + bias[ch];
    }
    return out;
  }

  // steady is the WebGL engine's stabilize pass (kernels/stabilize.glsl)
  // on the CPU, with the same gate: the new cartoon is blended into the
  // last one per pixel, by how much the input changed against the input
  // the last cartoon stands for (the 3x3 mean's change, or the pixel's own
  // over 3, whichever is larger).
  steady(pixels, net, w, h, ow, oh) {
    const h0 = this.history;
    if (!this.stabilize || ow !== w || oh !== h) {
      this.history = null;
      return net;
    }
    const n = w * h, inp = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < 3; ch++) inp[3 * i + ch] = pixels[4 * i + ch] / 255;
    }
    if (!h0 || h0.w !== w || h0.h !== h) {
      this.history = { inp, out: net, w, h };
      return net;
    }
    const out = new Float32Array(3 * n), prevIn = new Float32Array(3 * n);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        let change = 0;
        for (let ch = 0; ch < 3; ch++) {
          let now = 0, before = 0;
          for (let dy = -1; dy <= 1; dy++) {
            const qy = Math.min(Math.max(y + dy, 0), h - 1);
            for (let dx = -1; dx <= 1; dx++) {
              const q = 3 * (qy * w + Math.min(Math.max(x + dx, 0), w - 1)) + ch;
              now += inp[q];
              before += h0.inp[q];
            }
          }
          const d = Math.max(Math.abs(now - before) / 9, Math.abs(inp[3 * p + ch] - h0.inp[3 * p + ch]) / 3);
          change = Math.max(change, d);
        }
        const t = Math.min(Math.max((change - gate.low) / (gate.high - gate.low), 0), 1);
        const a = gate.floor + (1 - gate.floor) * t * t * (3 - 2 * t); // GLSL's smoothstep
        for (let ch = 0; ch < 3; ch++) {
          const i = 3 * p + ch;
          out[i] = h0.out[i] + a * (net[i] - h0.out[i]);
          prevIn[i] = h0.inp[i] + a * (inp[i] - h0.inp[i]);
        }
      }
    }
    this.history = { inp: prevIn, out, w, h };
    return out;
  }

  // draw shows the last frame's (stabilized) cartoon, mixed with its input
  // by strength where the sizes agree.
  draw(pixels, w, h) {
    const { cartoon, ow, oh } = this.last;
    const n = ow * oh, img = new ImageData(ow, oh), d = img.data;
    const mix = this.strength < 1 && pixels && ow === w && oh === h ? this.strength : 1;
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = cartoon[3 * i + ch] * 255;
        d[4 * i + ch] = mix === 1 ? v : pixels[4 * i + ch] + mix * (v - pixels[4 * i + ch]);
      }
      d[4 * i + 3] = 255;
    }
    const canvas = this.ctx.canvas;
    if (canvas.width !== ow || canvas.height !== oh) { canvas.width = ow; canvas.height = oh; }
    this.ctx.putImageData(img, 0, 0);
    this.lastPixels = pixels;
  }

  async setModel(url, onProgress) {
    const loaded = await loadModel(url, onProgress);
    await this.running;
    free(this.m);
    this.m = loaded;
    this.last = null;
    this.history = null;
  }

  info() {
    return {
      engine: "cpu", choice: this.choice.reason, renderer: this.choice.detected?.renderer ?? "",
      runtime: this.m.about.runtime, threads: this.m.about.threads,
      precision: "fp32", passes: 1, compileMs: this.loadMs, model: this.m.name,
      stabilize: this.stabilize, sizeMultiple: this.m.multiple,
    };
  }

  /** output is the last frame's network output, HWC, in the network's range. */
  output() {
    if (!this.last) return null;
    const { output, ow, oh, c } = this.last;
    return { data: Float32Array.from(output), width: ow, height: oh, channels: c };
  }

  setOptions(opts = {}) {
    if (opts.strength !== undefined) {
      const s = Number(opts.strength);
      if (!(s >= 0 && s <= 1)) throw coded("argument", "setOptions: strength must be in [0, 1]");
      this.strength = s;
    }
    if (opts.stabilize !== undefined) {
      this.stabilize = !!opts.stabilize;
      if (!this.stabilize) this.history = null;
    }
  }

  redraw() {
    if (this.last && !this.disposed) this.draw(this.lastPixels, this.last.w, this.last.h);
  }

  dispose() {
    this.disposed = true;
    this.waiting = null;
    Promise.resolve(this.running).then(() => free(this.m));
  }

  // api is the object the page holds: the WebGL engine's methods.
  api() {
    const api = {
      stylize: (src, w, h) => this.stylize(src, w, h),
      setModel: (url, onProgress) => this.setModel(url, onProgress),
      info: () => this.info(),
      sizeMultiple: () => this.m.multiple,
      output: () => this.output(),
      lastFrameMs: () => this.lastMs,
      // The page's detail control paces frames by the engine's own time.
      gpuFrameMs: () => this.lastMs,
      framesInFlight: () => (this.running ? 1 : 0) + (this.waiting ? 1 : 0),
      framesDone: () => this.done,
      setOptions: (o) => this.setOptions(o),
      redraw: () => this.redraw(),
      dispose: () => this.dispose(),
      onstatechange: null,
    };
    pending.set(this.ctx.canvas, () => this.running);
    this.handle = api;
    return api;
  }
}

// sourceSize is a drawImage source's own size in pixels ([0, 0] if it
// has none yet).
function sourceSize(s) {
  if (s.videoWidth !== undefined) return [s.videoWidth, s.videoHeight];
  if (s.naturalWidth !== undefined) return [s.naturalWidth, s.naturalHeight];
  if (s.displayWidth !== undefined) return [s.displayWidth, s.displayHeight]; // VideoFrame
  return [s.width | 0, s.height | 0];
}

// pending maps a CPU engine's canvas to its frame in progress.
const pending = new WeakMap();

/** pendingFrame: cpupath.js's, for this module's engines. */
export function pendingFrame(canvas) {
  return pending.get(canvas)?.() ?? undefined;
}

// crop returns the top-left ow x oh of an HWC tensor of c channels whose
// rows are opw wide.
function crop(data, opw, c, ow, oh) {
  if (ow === opw && data.length === c * ow * oh) return data;
  const out = new Float32Array(c * ow * oh);
  for (let y = 0; y < oh; y++) out.set(data.subarray(c * y * opw, c * (y * opw + ow)), c * y * ow);
  return out;
}
