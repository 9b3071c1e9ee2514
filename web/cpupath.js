// cpupath.js: the engine for devices whose WebGL is software.
//
// Where WebGL2 is emulated on the CPU (SwiftShader, llvmpipe, Microsoft's
// Basic Render Driver: blocklisted GPUs, VMs, remote desktops) the WebGL
// engine is the slowest way to run a model. There the page runs the same
// model file on TensorFlow.js's wasm backend, with SIMD and, where the
// page is cross-origin isolated, threads. The runtime (1.2 MB, about a
// third of that compressed) is fetched only when this path is taken; the
// service worker keeps it for offline use after that.
//
// The CPU engine itself is cpuengine.js, loaded only when this path is
// taken. core.js's loadRuntime returns runtime(...)'s API to the page and
// the widget, so they do not know which engine they hold: the CPU engine has
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

/** The localStorage key of the engine setting. */
export const settingKey = "edgetoon-engine";
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
 * probe.ms), "no-webgl2", or "remembered" (recall).
 */
export function detect() {
  if (!detected) {
    // On the page's timeline (BenchmarkColdStart): opening the context
    // to ask is a long step on software WebGL.
    performance.mark("edgetoon:detect-start");
    detected = recall();
    if (!detected) {
      detected = detectNow();
      // Only a renderer's name: a timed probe can read a busy GPU as
      // slow, and a context that failed once (a GPU process restarting)
      // may open the next time.
      if (detected.how === "renderer") remember(detected);
    }
    performance.mark("edgetoon:detect-done");
  }
  return detected;
}

// The renderer's name detectNow read is remembered (localStorage,
// detectedKey) for rememberMs in the same browser (its user agent
// string, which a browser update changes): opening a WebGL context to
// ask blocks the page's thread, longest on software WebGL
// (docs/performance.md, cold start), and a device's renderer seldom
// changes. A stale name costs speed, not pictures, for at most
// rememberMs; the setting overrides it meanwhile.
export const detectedKey = "edgetoon-detected";
const rememberMs = 7 * 24 * 3600 * 1000;

function recall() {
  let v;
  try { v = JSON.parse(localStorage.getItem(detectedKey)); } catch { return null; }
  const age = Date.now() - v?.at;
  if (v?.ua !== navigator.userAgent || !(age >= 0 && age < rememberMs) || typeof v.renderer !== "string" || !v.renderer) return null;
  return { renderer: v.renderer, software: isSoftware(v.renderer), how: "remembered" };
}

function remember(d) {
  const v = { ua: navigator.userAgent, at: Date.now(), renderer: d.renderer };
  try { localStorage.setItem(detectedKey, JSON.stringify(v)); } catch { /* storage blocked */ }
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
          engineModule ??= await import(assetURL("/cpuengine.js?v=dev"));
          return await engineModule.createCPU(opts, choice);
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

let engineModule; // cpuengine.js, once the CPU path has been taken

/**
 * pendingFrame is a Promise of the frames being made for canvas by a CPU
 * engine, or undefined when none are: a CPU frame is drawn later than the
 * stylize call that asked for it.
 */
export function pendingFrame(canvas) {
  return engineModule?.pendingFrame(canvas);
}
