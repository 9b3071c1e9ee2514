// core.js: the browser glue shared by the page (app.js) and the widget
// (widget.js). It loads the Go engine once per page, opens the camera,
// reads photos, paces frames and saves PNGs. The stylization itself runs
// in edgetoon.wasm; nothing here sends picture data anywhere.
//
// Asset URLs are resolved against this module's own URL, so the widget
// works from a third-party page. "?v=dev" is rewritten by the server into
// the content hash of the file.

import { spread, withAlpha } from "/cutout.js?v=dev";

export { showCut } from "/cutout.js?v=dev";

const base = import.meta.url;

/** Resolves a path of the edgetoon server against this module's origin. */
export const assetURL = (path) => new URL(path, base).href;

/** An Error with a machine-readable code and a user-presentable message. */
export function coded(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

// Messages for engine errors whose message is empty. The engine's own
// messages are user-presentable and win.
const engineMessages = {
  "no-webgl2": "This browser can't run the cartoon engine: it needs WebGL2. Try a recent Chrome, Firefox or Safari, with hardware acceleration on.",
  "model-load": "The style could not be downloaded. Check the connection and pick the style again.",
  "model-invalid": "The style file is damaged or is not an edgetoon model.",
  "shader": "This device's graphics driver refused the engine's shaders.",
  "texture-size": "The picture is too large for this GPU. Choose a smaller detail level.",
  "context-lost": "The graphics processor was reset. Recovering…",
  "cpu-lost": "The cartoon engine stopped. Restarting it…",
};

/** lostMessage is what to say when engine reports the state "lost". */
export function lostMessage(engine) {
  return describe(coded(engine.info().engine === "cpu" ? "cpu-lost" : "context-lost", ""));
}

/** describe turns any error into a sentence for the user. */
export function describe(err) {
  if (err && err.message) return err.message;
  return engineMessages[err && err.code] || `Something went wrong: ${err}`;
}

let runtime; // Promise of globalThis.edgetoon, shared by every caller.
let cpupath; // the module cpupath.js, once loadRuntime has loaded it

/**
 * loadRuntime fetches and starts edgetoon.wasm (once per page; the
 * profiler page passes the lab build's URL) and resolves to the engine API
 * the Go program installs.
 */
export function loadRuntime(wasm = "/edgetoon.wasm?v=dev") {
  // The product's engine may be the CPU path on software WebGL (cpupath.js
  // decides); the lab's is always WebGL.
  if (wasm === "/edgetoon.wasm?v=dev") {
    return import(assetURL("/cpupath.js?v=dev")).then((m) => (cpupath = m).runtime(() => loadGL(wasm)), () => loadGL(wasm));
  }
  return loadGL(wasm);
}

function loadGL(wasm) {
  runtime ??= startRuntime(wasm);
  // A network failure may pass: let the next caller try again.
  runtime.catch(() => { runtime = undefined; });
  return runtime;
}

/**
 * prestart starts the WebGL engine (edgetoon.wasm's download, compilation
 * and start) as the page opens, before it knows its model, so that it
 * runs while the model list and the camera load. Only when the page will
 * run the WebGL engine (cpupath.js chooses); loadRuntime finds it started.
 * A page that sets globalThis.edgetoonNoWarmup (BenchmarkColdStart's "off"
 * arm) skips it.
 */
export async function prestart() {
  if (globalThis.edgetoonNoWarmup) return;
  try {
    const m = await import(assetURL("/cpupath.js?v=dev"));
    if (m.choose().engine !== "webgl") return;
  } catch {
    return; // loadRuntime will say what failed
  }
  loadGL("/edgetoon.wasm?v=dev").catch(() => {});
}

async function startRuntime(wasm) {
  const resp = await fetch(assetURL(wasm)).catch(() => null);
  if (!resp || !resp.ok) {
    throw resp && resp.status === 503
      ? coded("not-built", "This server has no engine yet (edgetoon.wasm is not built). Run make, then restart edgetoon serve.")
      : coded("engine-load", "The cartoon engine could not be downloaded. Check the connection and reload.");
  }
  // wasm_exec.js is Go's loader; it defines globalThis.Go, and fs,
  // process and path for Go's runtime unless the page has its own.
  const polyfills = ["process", "path"].filter((k) => !(k in globalThis));
  if (!globalThis.Go) await import(assetURL("/wasm_exec.js?v=dev")).catch(() => {});
  if (!globalThis.Go) throw coded("engine-load", "The engine's loader (wasm_exec.js) could not be loaded. Reload the page.");
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
  performance.mark("edgetoon:wasm-compiled");
  go.run(instance);
  // The Go program installs its API before it blocks, which is before
  // run returns; wait a little in case a future version does it later.
  for (let i = 0; !globalThis.edgetoon && i < 200; i++) await sleep(10);
  if (!globalThis.edgetoon) throw coded("engine-load", "The cartoon engine did not start. Reload the page.");
  performance.mark("edgetoon:runtime-ready");
  // Go reads process and path once, while it initializes (which is done
  // now that the API is installed): take them off the host page. fs
  // stays: wasm_exec.js writes Go's console output (panics too) through it.
  for (const k of polyfills) delete globalThis[k];
  return throwing(globalThis.edgetoon);
}

// throwing makes the engines' stylize throw the Error it returns: a Go
// callback cannot throw into JavaScript, and a shim built inside the
// engine with Function would need 'unsafe-eval', which the page's CSP
// forbids.
function throwing(api) {
  const create = api.create;
  api.create = async (opts) => {
    const engine = await create.call(api, opts);
    const stylize = engine.stylize;
    engine.stylize = (...args) => {
      const r = stylize.apply(engine, args);
      if (r instanceof Error) throw r;
      return r;
    };
    return engine;
  };
  return api;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** listModels fetches the server's model list, with absolute URLs. */
export async function listModels() {
  const url = assetURL("/models/index.json");
  const resp = await fetch(url);
  if (!resp.ok) throw coded("model-load", `The list of styles could not be loaded (HTTP ${resp.status}).`);
  const list = await resp.json();
  return list.map((m) => ({ ...m, url: new URL(m.url, resp.url || url).href }));
}

/** openCamera asks for the camera facing "user" or "environment". */
export async function openCamera(facing) {
  if (!window.isSecureContext) {
    throw coded("insecure", "The camera only works on a secure (https://) page. " +
      "Start the server with “edgetoon serve -tls” and open its https:// address, or use localhost. Photos work here too.");
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw coded("no-camera", "This browser gives no access to a camera. Use a photo instead.");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: facing, width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (e) {
    switch (e.name) {
      case "NotAllowedError":
      case "SecurityError":
        throw coded("camera-denied", "Camera access is blocked. Allow it in the browser's site settings and reload, or use a photo.");
      case "NotFoundError":
      case "OverconstrainedError":
        throw coded("no-camera", "No camera was found. Use a photo instead.");
      case "NotReadableError":
      case "AbortError":
        throw coded("camera-busy", "The camera is in use by another app. Close it and try again, or use a photo.");
    }
    throw coded("camera", `The camera could not start (${e.name}). Use a photo instead.`);
  }
}

/** stopStream releases a camera stream. */
export function stopStream(stream) {
  if (stream) for (const t of stream.getTracks()) t.stop();
}

/**
 * fitSize scales w x h so that the long side is at most long (never
 * enlarging), each side rounded to whole pixels (at least one).
 */
export function fitSize(w, h, long) {
  const s = Math.min(1, long / Math.max(w, h));
  const round = (v) => Math.max(1, Math.round(v * s));
  return [round(w), round(h)];
}

/**
 * The detail levels a link (?size=) or the widget's size attribute may ask
 * for: a long side of minDetail to maxDetail pixels, a camera's at most
 * maxLiveDetail.
 */
export const minDetail = 32, maxDetail = 1024, maxLiveDetail = 512;

/**
 * detail reads a requested detail level: a whole number of pixels from
 * minDetail to maxDetail, else null (absent, not a number, out of range).
 */
export function detail(v) {
  const n = Number(v); // null and "" are 0, out of range like any other
  return Number.isInteger(n) && n >= minDetail && n <= maxDetail ? n : null;
}

/**
 * maxAspectError is how far liveSize lets a camera frame's stylized size
 * stray from the frame's aspect ratio (relative, on the short side over
 * the long).
 */
export const maxAspectError = 0.04;

/**
 * liveSize is the size to stylize a w x h camera frame at, its long side
 * at most long (never enlarging), a multiple of m. The engine takes any
 * size, but pads a side that is not a multiple of m: the padding's pixels
 * cost as much as the picture's, every frame. So the short side is
 * rounded to a multiple too where the aspect stays within maxAspectError:
 * at the longest side, or one multiple shorter where that keeps it and the
 * longest does not (a 16:9 frame at 128 px: 128x80 would be 11 % taller
 * than 128x72; 112x64 is 1.6 % off). Where neither does (an odd aspect),
 * the short side keeps the aspect to the pixel at the long side that came
 * closest, and the engine pads it.
 */
export function liveSize(w, h, long, m) {
  const native = Math.max(w, h);
  const r = Math.min(w, h) / native;
  const top = Math.max(m, Math.floor(Math.min(long, native) / m) * m);
  let best;
  for (let l = top; l >= Math.max(m, top - m); l -= m) {
    const s = Math.max(m, Math.round((l * r) / m) * m);
    const err = Math.abs(s / l - r) / r;
    if (!best || err < best.err) best = { l, s, err };
    if (err <= maxAspectError) break;
  }
  if (best.err > maxAspectError) best.s = Math.max(1, Math.round(best.l * r));
  return w >= h ? [best.l, best.s] : [best.s, best.l];
}

/** The largest photo accepted: 50 megapixels, a phone camera's worth. */
export const maxPixels = 50e6;

/**
 * readPhoto decodes an image file at a long side of at most long pixels,
 * its aspect kept to the pixel (the engines pad a side that is not a
 * multiple of their model's, so the photo is stylized at this size),
 * honouring its EXIF orientation. It reads the dimensions first and
 * refuses huge images before decoding them at full size. It resolves to
 * {bitmap, alpha, width, height}: the picture made opaque and its
 * transparency, or null (cutout.js spread).
 */
export async function readPhoto(blob, long) {
  if (blob.type && !blob.type.startsWith("image/")) {
    throw coded("photo", "That file is not an image. Choose a JPEG, PNG or WebP photo.");
  }
  const url = URL.createObjectURL(blob);
  let w, h;
  try {
    const img = new Image();
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = reject;
      img.src = url; // the browser reads the header; it decodes on paint
    });
    w = img.naturalWidth; // already rotated by EXIF (image-orientation: from-image)
    h = img.naturalHeight;
  } catch {
    throw coded("photo", "This image could not be read. It may be damaged or in a format this browser does not support.");
  } finally {
    URL.revokeObjectURL(url);
  }
  if (!w || !h) throw coded("photo", "This image is empty.");
  if (w * h > maxPixels) {
    throw coded("photo", `This image is too large (${w}×${h}). Choose one under ${maxPixels / 1e6} megapixels.`);
  }
  const [tw, th] = fitSize(w, h, long);
  try {
    const bitmap = await createImageBitmap(blob, {
      imageOrientation: "from-image", resizeWidth: tw, resizeHeight: th, resizeQuality: "high",
    });
    // A JPEG has no alpha; any other format may.
    if (blob.type === "image/jpeg") return { bitmap, alpha: null, width: tw, height: th };
    return { ...(await spread(bitmap)), width: tw, height: th };
  } catch {
    throw coded("photo", "This image could not be decoded. It may be damaged.");
  }
}

/**
 * frameLoop calls fn once per new video frame (requestVideoFrameCallback,
 * else once per display frame) until the returned stop function is called.
 */
export function frameLoop(video, fn) {
  const rvfc = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  let handle, stopped = false;
  const schedule = () => {
    handle = rvfc ? video.requestVideoFrameCallback(tick) : requestAnimationFrame(tick);
  };
  const tick = () => {
    if (stopped) return;
    schedule(); // first, so an exception in fn does not end the loop
    fn();
  };
  schedule();
  return () => {
    stopped = true;
    if (rvfc) video.cancelVideoFrameCallback(handle);
    else cancelAnimationFrame(handle);
  };
}

/**
 * The most camera frames queued on the GPU: a new camera frame is dropped
 * rather than queued behind more (each one queued adds a frame of lag).
 */
export const maxInFlight = 2;

/**
 * A Meter averages the frame rate and the real time per frame for the
 * readout. stylize returns once the GPU work is queued, long before it
 * is done, so its own time says nothing of a frame's cost. The meter
 * counts a frame when the GPU has finished it (poll), and the time per
 * frame is the time between consecutive finished frames: what the
 * viewer waits for each new picture. (The GPU timer's own time per frame,
 * engine.gpuFrameMs, counts the time a frame waits behind the one before
 * it under SwiftShader, so it is not shown.)
 */
export class Meter {
  #last = 0;
  #fps = 0;
  #done = 0;
  /** finished is the number of frames the last poll found finished. */
  finished = 0;
  /**
   * poll counts the frames the engine has finished since the last poll
   * and returns how many are still in flight.
   */
  poll(engine) {
    const inFlight = engine.framesInFlight(), done = engine.framesDone();
    if (done < this.#done) this.#done = done; // a new model or GPU context counts afresh
    this.finished = done - this.#done;
    if (this.finished > 0) {
      this.frame(this.finished);
      this.#done = done;
    }
    return inFlight;
  }
  /** frame counts n frames finished now. */
  frame(n = 1) {
    const now = performance.now();
    if (this.#last) {
      const fps = (1000 * n) / (now - this.#last);
      this.#fps = this.#fps ? this.#fps * 0.9 + fps * 0.1 : fps;
    }
    this.#last = now;
  }
  reset() { this.#last = this.#fps = 0; }
  /** ms is the averaged real time per frame (0 before the second frame). */
  get ms() { return this.#fps ? 1000 / this.#fps : 0; }
  text(w, h) {
    const parts = [];
    if (this.#fps) parts.push(`${this.#fps.toFixed(1)} fps`, `${this.ms.toFixed(this.ms < 100 ? 1 : 0)} ms/frame`);
    if (w) parts.push(`${w}×${h}`);
    return parts.join(" · ");
  }
}

/**
 * finished resolves when the engine's GPU has finished every frame given
 * to it (polled, never waited on: WebGL updates the answer between tasks).
 */
export async function finished(engine) {
  while (engine.framesInFlight() > 0) await sleep(4);
}

/**
 * canvasPNG encodes the canvas as PNG, with alpha (readPhoto's: one byte
 * a pixel of the canvas) as its transparency if given, so that a cut-out
 * photo's cartoon stays cut out. Call it in the same task as the draw: a
 * WebGL canvas may be cleared once it is shown.
 */
export function canvasPNG(canvas, alpha = null) {
  // The CPU path (cpupath.js) draws after stylize returns: wait for it.
  const pending = cpupath?.pendingFrame(canvas);
  if (pending) return pending.then(() => canvasPNG(canvas, alpha));
  let src = canvas;
  if (alpha) {
    if (alpha.length !== canvas.width * canvas.height) {
      return Promise.reject(coded("save", "The picture could not be saved: its transparency does not fit it."));
    }
    src = withAlpha(canvas, alpha);
  }
  return new Promise((resolve, reject) => {
    src.toBlob((b) => (b ? resolve(b) : reject(coded("save", "The picture could not be saved."))), "image/png");
  });
}

/** download saves a blob as a file on this device. */
export function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

/** fileName is a timestamped name for a saved picture (or ext). */
export function fileName(ext = "png") {
  const t = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  return `edgetoon-${t}.${ext}`;
}

/** formatBytes writes a byte count for a progress label. */
export function formatBytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}
