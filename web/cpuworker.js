// cpuworker.js: the CPU path's runtime (cpuengine.js starts it), in a
// worker of its own so that a frame, 100 ms or more on a slow CPU, does
// not hold up the page: TensorFlow.js's wasm backend (XNNPACK, with SIMD,
// and threads where the page is cross-origin isolated) running an
// edgetoon model file as it is served to the WebGL engine: its graph (the
// file's metadata, model/graph.go) rebuilt op by op from the same weights
// (docs/model-file.md) by tfgraph.js.
//
// Messages, each answered with {id, ok} or {id, error: {code, message}},
// in the order they came:
//   {id, init: {base, threads}}: load the runtime from the server at base;
//   {id, load: {bytes}}: a model file's bytes; ok is {model, input,
//     norm, denorm, multiple, channels};
//   {id, run: {model, x, w, h}}: x, the normalized input, float32 HWC of
//     w x h; ok is {y, w, h, c}, the network's output, float32 HWC;
//   {id, free: {model}}: forget a model.
/* global tf, tfGraph */
"use strict";

// The runtime's files, versioned by the server (make tfjs copies them).
const files = {
  core: "/tfjs/tf-core.min.js?v=dev",
  backend: "/tfjs/tf-backend-wasm.min.js?v=dev",
  graph: "/tfgraph.js?v=dev", // ours: the graph rebuilt in TF.js ops
  wasm: {
    "tfjs-backend-wasm.wasm": "/tfjs/tfjs-backend-wasm.wasm?v=dev",
    "tfjs-backend-wasm-simd.wasm": "/tfjs/tfjs-backend-wasm-simd.wasm?v=dev",
    "tfjs-backend-wasm-threaded-simd.wasm": "/tfjs/tfjs-backend-wasm-threaded-simd.wasm?v=dev",
  },
};

const coded = (code, message) => Object.assign(new Error(message), { code });

let ready; // Promise of the runtime, once init has come
const models = new Map();
let nextModel = 1;
let queue = Promise.resolve();

onmessage = (e) => {
  queue = queue.then(() => handle(e.data));
};

async function handle(msg) {
  try {
    let ok, transfer = [];
    if (msg.init) {
      ready = init(msg.init);
      ok = await ready;
    } else if (msg.load) {
      await need();
      const id = nextModel++;
      const m = build(parse(msg.load.bytes));
      models.set(id, m);
      ok = { model: id, ...m.about };
    } else if (msg.run) {
      await need();
      ok = await run(msg.run);
      transfer = [ok.y.buffer];
    } else if (msg.free) {
      models.get(msg.free.model)?.dispose();
      models.delete(msg.free.model);
      ok = true;
    }
    postMessage({ id: msg.id, ok }, transfer);
  } catch (err) {
    postMessage({ id: msg.id, error: { code: err.code || "cpu-runtime", message: String(err.message || err) } });
  }
}

function need() {
  if (!ready) throw coded("cpu-runtime", "The CPU engine's runtime was not started.");
  return ready;
}

async function init({ base, threads }) {
  const url = (p) => new URL(p, base).href;
  try {
    importScripts(url(files.core), url(files.backend), url(files.graph));
  } catch (err) {
    throw coded("cpu-runtime", `The CPU engine's runtime could not be loaded (${err.message}).`);
  }
  const wasm = {};
  for (const [name, p] of Object.entries(files.wasm)) wasm[name] = url(p);
  tf.wasm.setWasmPaths(wasm);
  // One thread needs no shared memory: the build without threads then
  // starts without a pool of workers.
  if (threads <= 1) tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  else tf.wasm.setThreadsCount(threads);
  if (!(await tf.setBackend("wasm"))) throw coded("cpu-runtime", "The CPU engine's runtime did not start.");
  return { runtime: `tfjs ${tf.version_core} wasm`, threads: Math.max(1, threads) };
}

// parse reads a model file (safetensors: a little-endian u64 header
// length, a JSON header, the tensors' bytes) into its graph and float32
// tensors. The server offers only files it validated (model.Decode); the
// checks here turn anything else into an error, not a crash.
function parse(bytes) {
  const buf = bytes instanceof ArrayBuffer ? bytes : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const bad = (why) => coded("model-invalid", `not an edgetoon model file: ${why}`);
  if (buf.byteLength < 8) throw bad("too short");
  const n = Number(new DataView(buf).getBigUint64(0, true));
  if (n > buf.byteLength - 8) throw bad("header past the end");
  let head, graph;
  try {
    head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
    graph = JSON.parse(head.__metadata__["edgetoon.graph"]);
  } catch (err) {
    throw bad(`header (${err.message})`);
  }
  const tensors = {};
  for (const [name, t] of Object.entries(head)) {
    if (name === "__metadata__") continue;
    const count = t.shape.reduce((a, b) => a * b, 1);
    const size = { F32: 4, F16: 2 }[t.dtype];
    const [from, to] = t.data_offsets;
    if (!size || to - from !== size * count || 8 + n + to > buf.byteLength) throw bad(`tensor ${name}`);
    const at = 8 + n + from;
    const data = size === 4 ? new Float32Array(buf.slice(at, at + 4 * count)) : halves(new Uint16Array(buf.slice(at, at + 2 * count)));
    tensors[name] = { shape: t.shape, data };
  }
  return { graph, tensors };
}

// halves widens IEEE half-precision values to float32 (exactly: every
// half is a float32).
function halves(u) {
  const out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) {
    const s = u[i] & 0x8000 ? -1 : 1, e = (u[i] >> 10) & 31, m = u[i] & 1023;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

// build turns a parsed model file into the network (tfgraph.js) and what
// the engine applies around it.
function build({ graph: g, tensors }) {
  const net = tfGraph(tf, g, tensors);
  net.about = {
    input: g.input_channels || 3, norm: g.norm, denorm: g.denorm,
    multiple: Math.max(g.size_multiple || 1, 1), name: g.name || "",
  };
  return net;
}

async function run({ model, x, w, h }) {
  const m = models.get(model);
  if (!m) throw coded("cpu-runtime", "The style was closed.");
  const input = tf.tensor(x, [1, h, w, m.about.input]);
  let out;
  try {
    out = m.fn(input);
    const y = await out.data();
    return { y, w: out.shape[2], h: out.shape[1], c: out.shape[3] };
  } finally {
    input.dispose();
    out?.dispose();
  }
}
