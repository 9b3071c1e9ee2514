// cpupath.js: the engine for devices whose WebGL is software.
//
// Where WebGL2 is emulated on the CPU (SwiftShader, llvmpipe, Microsoft's
// Basic Render Driver: blocklisted GPUs, VMs, remote desktops) the WebGL
// engine is the slowest way to run a model. There the page runs the same
// model's ONNX export (the server exports every model it offers, see
// server/onnx.go) on ONNX Runtime Web's wasm backend, with SIMD and, where
// the page is cross-origin isolated, threads. The runtime (14 MB) is
// fetched only when this path is taken; the service worker keeps it for
// offline use after that.
//
// core.js's loadRuntime returns runtime(...)'s API to the page and the
// widget, so they do not know which engine they hold: the CPU engine has
// the WebGL engine's methods (stylize, setModel, info, ...). The choice:
// the page's ?engine=webgl|cpu|auto, else the setting (setEngineSetting,
// kept in localStorage), else auto: the CPU path where the WebGL renderer
// is software (or there is no WebGL2 at all), WebGL otherwise. A forced
// choice that fails is an error; auto falls back to WebGL.
//
// This module must not import core.js: core.js refers to it, and two
// files that refer to each other could not each carry the other's hash.

const base = import.meta.url;
const assetURL = (path) => new URL(path, base).href;

const coded = (code, message) => Object.assign(new Error(message), { code });

// The runtime's files, versioned by the server (make ort copies them).
const ortModule = "/ort/ort.wasm.min.mjs?v=dev";
const ortPaths = () => ({
  mjs: assetURL("/ort/ort-wasm-simd-threaded.mjs?v=dev"),
  wasm: assetURL("/ort/ort-wasm-simd-threaded.wasm?v=dev"),
});

/** The localStorage key of the engine setting. */
export const settingKey = "edgetoon-engine";
// The stabilizer's gate: kernels.GateLow, GateHigh and GateFloor (a test
// in web/ keeps these equal to them).
export const gate = { low: 0.008, high: 0.03, floor: 0.3 };
const choices = ["auto", "webgl", "cpu"];

/** engineSetting is the remembered choice: "auto", "webgl" or "cpu". */
export function engineSetting() {
  let v = null;
  try { v = localStorage.getItem(settingKey); } catch { /* storage blocked */ }
  return choices.includes(v) ? v : "auto";
}

/** setEngineSetting remembers a choice; it applies from the next load. */
export function setEngineSetting(v) {
  if (!choices.includes(v)) throw coded("argument", `engine must be one of ${choices.join(", ")}`);
  try { localStorage.setItem(settingKey, v); } catch { /* storage blocked */ }
}

// Renderer strings of software rasterizers: Chromium's SwiftShader,
// Mesa's llvmpipe and softpipe, Windows' WARP ("Microsoft Basic Render
// Driver"), and drivers that call themselves software.
const softwareRenderer = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/** isSoftware says whether a WebGL renderer string names a software rasterizer. */
export const isSoftware = (renderer) => softwareRenderer.test(renderer);

/**
 * bindEngineSelect makes a <select> of "auto", "webgl" and "cpu" the
 * setting: it shows the setting, and a change remembers the new choice
 * and reloads the page, which then opens that engine.
 */
export function bindEngineSelect(select) {
  if (!select) return;
  select.value = engineSetting();
  select.addEventListener("change", () => {
    setEngineSetting(select.value);
    location.reload();
  });
}

let detected;

/**
 * detect looks at this device's WebGL2 (once per page): {renderer,
 * software, how}, how being "renderer" (WEBGL_debug_renderer_info's
 * unmasked renderer), "probe" (the extension is missing: a timed shader,
 * probe.ms) or "no-webgl2".
 */
export function detect() {
  detected ??= detectNow();
  return detected;
}

function detectNow() {
  const canvas = document.createElement("canvas");
  const gl = canvas.getContext("webgl2");
  if (!gl) return { renderer: "", software: true, how: "no-webgl2" };
  try {
    const ext = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = ext ? String(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) || "") : "";
    if (renderer) return { renderer, software: isSoftware(renderer), how: "renderer" };
    const probe = timedProbe(gl);
    return { renderer: String(gl.getParameter(gl.RENDERER) || ""), software: probe.ms > probeSoftwareMs, how: "probe", probe };
  } finally {
    gl.getExtension("WEBGL_lose_context")?.loseContext();
  }
}

// The timed probe: probeIters multiply-adds on 4 independent vec4 chains
// per pixel of a probeSize square, after a warm-up draw that compiles
// the program. A GPU does this in a few milliseconds; a software
// rasterizer takes tens to hundreds (docs/cpupath.md has the
// measurements the threshold was set from).
const probeSize = 256, probeIters = 128, probeSoftwareMs = 20;

const probeVS = `#version 300 es
void main() {
  vec2 p = vec2(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0);
  gl_Position = vec4(p, 0.0, 1.0);
}`;
const probeFS = `#version 300 es
precision highp float;
uniform float u_k;
out vec4 o;
void main() {
  vec4 a = gl_FragCoord.xyxy * 1e-3, b = a + 0.1, c = a + 0.2, d = a + 0.3;
  for (int i = 0; i < ${probeIters}; i++) {
    a = a * u_k + 0.5; b = b * u_k + 0.5; c = c * u_k + 0.5; d = d * u_k + 0.5;
  }
  o = (a + b + c + d) * 0.25;
}`;

function timedProbe(gl) {
  const shader = (type, src) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    return s;
  };
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, probeVS));
  gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, probeFS));
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) return { ms: Infinity, error: "link" };
  gl.useProgram(prog);
  gl.uniform1f(gl.getUniformLocation(prog, "u_k"), 0.999);
  const rb = gl.createRenderbuffer();
  gl.bindRenderbuffer(gl.RENDERBUFFER, rb);
  gl.renderbufferStorage(gl.RENDERBUFFER, gl.RGBA8, probeSize, probeSize);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.RENDERBUFFER, rb);
  const px = new Uint8Array(4);
  const draw = (n) => {
    gl.viewport(0, 0, n, n);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px); // waits for the draw
  };
  draw(1); // compiles
  const start = performance.now();
  draw(probeSize);
  return { ms: performance.now() - start };
}

/**
 * choose decides the engine: {engine: "webgl"|"cpu", forced, reason,
 * detected}. params are the page's URL parameters.
 */
export function choose(params = new URLSearchParams(location.search)) {
  const asked = params.get("engine");
  const want = choices.includes(asked) ? asked : engineSetting();
  if (want !== "auto") return { engine: want, forced: true, reason: asked === want ? "?engine" : "setting" };
  const d = detect();
  return { engine: d.software ? "cpu" : "webgl", forced: false, reason: d.how, detected: d };
}

/**
 * runtime is the engine API for the page and the widget: create picks
 * the engine (choose) and opens it. loadGL starts the WebGL runtime
 * (core.js), only when it is needed.
 */
export function runtime(loadGL) {
  return {
    version: "cpupath",
    async create(opts) {
      const choice = choose();
      if (choice.engine === "cpu") {
        try {
          return await createCPU(opts, choice);
        } catch (err) {
          if (choice.forced) throw err;
          console.warn(`edgetoon: the CPU path failed (${err.message}); using WebGL`);
        }
      }
      const engine = await (await loadGL()).create(opts);
      const info = engine.info;
      engine.info = () => ({ ...info.call(engine), engine: "webgl", choice: choice.reason });
      return engine;
    },
  };
}

let ortLoaded; // Promise of the ort module, once per page.

/**
 * threads is how many threads the runtime uses: half the cores, at most
 * 4, leaving the rest to the browser (on 2 cores one thread beat two:
 * docs/cpupath.md has the measurement). More than one needs
 * cross-origin isolation (SharedArrayBuffer).
 */
export function threads() {
  const half = Math.floor((navigator.hardwareConcurrency || 1) / 2);
  return globalThis.crossOriginIsolated ? Math.max(1, Math.min(half, 4)) : 1;
}

function loadORT() {
  ortLoaded ??= (async () => {
    const ort = await import(assetURL(ortModule));
    ort.env.wasm.wasmPaths = ortPaths();
    ort.env.wasm.numThreads = threads();
    ort.env.wasm.simd = true;
    // The runtime runs in a worker of its own, so a frame (100+ ms on a
    // slow CPU) does not hold up the page: the camera, the controls.
    ort.env.wasm.proxy = true;
    return ort;
  })();
  ortLoaded.catch(() => { ortLoaded = undefined; });
  return ortLoaded;
}

// onnxFor finds a model's ONNX export in the server's model index: the
// entry whose url is the model's.
async function onnxFor(modelURL) {
  const indexURL = assetURL("/models/index.json");
  const resp = await fetch(indexURL).catch(() => null);
  if (!resp || !resp.ok) throw coded("model-load", "The list of styles could not be loaded.");
  const want = new URL(modelURL, location.href).href;
  for (const m of await resp.json()) {
    if (new URL(m.url, resp.url || indexURL).href !== want) continue;
    if (!m.onnx) break;
    return { ...m.onnx, url: new URL(m.onnx.url, resp.url || indexURL).href, name: m.name };
  }
  throw coded("cpu-model", "This style has no CPU version on this server.");
}

async function download(url, onProgress) {
  const resp = await fetch(url).catch(() => null);
  if (!resp || !resp.ok) throw coded("model-load", "The style could not be downloaded. Check the connection and pick the style again.");
  const total = Number(resp.headers.get("Content-Length")) || 0;
  const reader = resp.body.getReader();
  const parts = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// A loaded model: its session and what the page applies around it.
async function loadModel(url, onProgress) {
  const [ort, m] = await Promise.all([loadORT(), onnxFor(url)]);
  const bytes = await download(m.url, onProgress);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  } catch (err) {
    throw coded("model-invalid", `The style could not be prepared for the CPU (${err.message}).`);
  }
  return { ort, session, ...m };
}

async function createCPU(opts, choice) {
  const start = performance.now();
  const loaded = await loadModel(opts.model, opts.onProgress);
  const ctx = opts.canvas.getContext("2d");
  if (!ctx) {
    loaded.session.release();
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
    this.last = null; // the last frame: {input, output, w, h, ow, oh, c}
    this.scratch = null;
    this.disposed = false;
    this.onstatechange = null;
  }

  // read draws source at w x h and returns its RGBA bytes.
  read(source, w, h) {
    if (!this.scratch) {
      const c = document.createElement("canvas");
      this.scratch = c.getContext("2d", { willReadFrequently: true });
    }
    const c = this.scratch.canvas;
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    // Bilinear, as the WebGL engine samples a source of another size.
    this.scratch.imageSmoothingQuality = "low";
    this.scratch.drawImage(source, 0, 0, w, h);
    return this.scratch.getImageData(0, 0, w, h).data;
  }

  stylize(source, w, h) {
    if (this.disposed) throw coded("disposed", "The engine was closed.");
    const k = this.m.multiple;
    if (!(w > 0 && h > 0 && w % k === 0 && h % k === 0)) {
      throw coded("argument", `stylize: the size must be a multiple of ${k} (got ${w}x${h})`);
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
      }
    }
    this.running = null;
  }

  // frame runs the network on RGBA pixels and draws the result.
  async frame(pixels, w, h) {
    const start = performance.now();
    const { ort, session, norm, denorm } = this.m;
    const n = w * h, x = new Float32Array(3 * n);
    for (let c = 0; c < 3; c++) {
      const s = norm.scale[c] / 255, b = norm.bias[c], o = c * n;
      for (let i = 0; i < n; i++) x[o + i] = pixels[4 * i + c] * s + b;
    }
    const input = new ort.Tensor("float32", x, [1, 3, h, w]);
    const outs = await session.run({ [session.inputNames[0]]: input });
    const y = outs[session.outputNames[0]];
    if (this.disposed) return;
    const [, oc, oh, ow] = y.dims;
    this.last = { input: x, output: y.data, w, h, ow, oh, c: oc };
    this.last.cartoon = this.steady(pixels, this.cartoon(y.data, ow, oh, oc), w, h, ow, oh);
    this.draw(pixels, w, h);
    this.lastMs = performance.now() - start;
    this.done++;
  }

  // cartoon denormalizes the network's output (NCHW) to RGB in [0,1], HWC.
  cartoon(output, ow, oh, c) {
    const { scale, bias } = this.m.denorm;
    const n = ow * oh, out = new Float32Array(3 * n);
    for (let ch = 0; ch < 3; ch++) {
      const src = (c === 1 ? 0 : ch) * n;
      for (let i = 0; i < n; i++) out[3 * i + ch] = output[src + i] * scale[ch] + bias[ch];
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
    this.m.session.release();
    this.m = loaded;
    this.last = null;
    this.history = null;
  }

  info() {
    return {
      engine: "cpu", choice: this.choice.reason, renderer: this.choice.detected?.renderer ?? "",
      runtime: "onnxruntime-web wasm", threads: this.m.ort.env.wasm.numThreads,
      precision: "fp32", passes: 1, compileMs: this.loadMs, model: this.m.name,
      stabilize: this.stabilize,
    };
  }

  /** output is the last frame's network output, NCHW, in the network's range. */
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
    Promise.resolve(this.running).then(() => this.m.session.release());
  }

  // api is the object the page holds: the WebGL engine's methods.
  api() {
    const api = {
      stylize: (src, w, h) => this.stylize(src, w, h),
      setModel: (url, onProgress) => this.setModel(url, onProgress),
      info: () => this.info(),
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
    return api;
  }
}

// pending maps a CPU engine's canvas to its frame in progress.
const pending = new WeakMap();

/**
 * pendingFrame is a Promise of the frames being made for canvas by a CPU
 * engine, or undefined when none are: a CPU frame is drawn later than the
 * stylize call that asked for it.
 */
export function pendingFrame(canvas) {
  return pending.get(canvas)?.() ?? undefined;
}
