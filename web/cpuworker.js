// cpuworker.js: the CPU path's runtime (cpuengine.js starts it), in a
// worker of its own so that a frame, 100 ms or more on a slow CPU, does
// not hold up the page: TensorFlow.js's wasm backend (XNNPACK, with SIMD,
// and threads where the page is cross-origin isolated) running an
// edgetoon model file as it is served to the WebGL engine: its graph (the
// file's metadata, model/graph.go) rebuilt op by op from the same weights
// (docs/model-file.md).
//
// Messages, each answered with {id, ok} or {id, error: {code, message}},
// in the order they came:
//   {id, init: {base, threads}}: load the runtime from the server at base;
//   {id, load: {bytes}}: a model file's bytes; ok is {model, input,
//     norm, denorm, multiple, channels};
//   {id, run: {model, x, w, h}}: x, the normalized input, float32 HWC of
//     w x h; ok is {y, w, h, c}, the network's output, float32 HWC;
//   {id, free: {model}}: forget a model.
/* global tf */
"use strict";

// The runtime's files, versioned by the server (make tfjs copies them).
const files = {
  core: "/tfjs/tf-core.min.js?v=dev",
  backend: "/tfjs/tf-backend-wasm.min.js?v=dev",
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
    importScripts(url(files.core), url(files.backend));
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

// fusable are the activations TF.js fuses into a conv: the others follow it.
const fusable = { relu: "relu", relu6: "relu6", leaky_relu: "leakyrelu" };

// build turns a graph and its tensors into a function of a [1,H,W,C]
// tensor, op by op as model/cpu runs them (model/ops.go): the weights
// become TF.js tensors once.
function build({ graph: g, tensors }) {
  const W = {};
  const convWeights = new Set(g.nodes.filter((n) => n.op === "conv2d").map((n) => n.inputs[1]));
  for (const [name, t] of Object.entries(tensors)) {
    // Our conv weights are [O,KH,KW,I/groups]; TF.js's [KH,KW,I,O].
    W[name] = convWeights.has(name)
      ? tf.tidy(() => tf.transpose(tf.tensor(t.data, t.shape), [1, 2, 3, 0]))
      : tf.tensor(t.data, t.shape);
  }
  // box_mean divides by the taps inside the picture: the mean over the
  // window of the picture, over the same of ones.
  const ones = new Map();
  const boxMean = (x, r) => {
    const k = 2 * r + 1, key = `${x.shape[1]}x${x.shape[2]}r${r}`;
    if (!ones.has(key)) {
      // One per frame size and radius; a camera whose size keeps
      // changing would otherwise fill the runtime's memory.
      if (ones.size >= 16) {
        for (const t of ones.values()) t.dispose();
        ones.clear();
      }
      ones.set(key, tf.keep(tf.avgPool(tf.ones([1, x.shape[1], x.shape[2], 1]), k, 1, "same")));
    }
    return tf.div(tf.avgPool(x, k, 1, "same"), ones.get(key));
  };
  const act = (x, n) => {
    switch (n.act || "") {
      case "": return x;
      case "relu": return tf.relu(x);
      case "relu6": return tf.relu6(x);
      case "leaky_relu": return tf.leakyRelu(x, n.alpha || 0);
      case "tanh": return tf.tanh(x);
      case "sigmoid": return tf.sigmoid(x);
    }
    throw coded("model-invalid", `activation ${n.act} is not supported on the CPU`);
  };
  const conv = (x, n, get) => {
    const strides = [n.stride?.[0] || 1, n.stride?.[1] || 1];
    const dilations = [n.dilation?.[0] || 1, n.dilation?.[1] || 1];
    const p = n.pads || [0, 0, 0, 0];
    const pad = n.padding === "explicit" ? [[0, 0], [p[0], p[2]], [p[1], p[3]], [0, 0]] : n.padding || "valid";
    const filter = get(n.inputs[1]), bias = n.inputs[2] ? get(n.inputs[2]) : undefined;
    const groups = n.groups || 1;
    if (groups === 1) {
      const activation = fusable[n.act || ""];
      if (activation || !n.act) {
        return tf.fused.conv2d({ x, filter, strides, pad, dilations, bias, activation: activation || "linear", leakyreluAlpha: n.alpha || 0 });
      }
      return act(tf.fused.conv2d({ x, filter, strides, pad, dilations, bias }), n);
    }
    if (groups !== x.shape[3] || filter.shape[2] !== 1) throw coded("model-invalid", `a conv of ${groups} groups is not supported on the CPU`);
    // Depthwise: [KH,KW,1,C] -> [KH,KW,C,1].
    let y = tf.depthwiseConv2d(x, tf.transpose(filter, [0, 1, 3, 2]), strides, pad, "NHWC", dilations);
    if (bias) y = tf.add(y, bias);
    return act(y, n);
  };
  const fn = (x) => tf.tidy(() => {
    const v = new Map([[g.input, x]]);
    const get = (name) => {
      const t = v.get(name) ?? W[name];
      if (!t) throw coded("model-invalid", `no value named ${name}`);
      return t;
    };
    for (const n of g.nodes) {
      const a = get(n.inputs[0]);
      let y;
      switch (n.op) {
        case "conv2d": y = conv(a, n, get); break;
        case "add": y = act(tf.add(a, get(n.inputs[1])), n); break;
        case "sub": y = act(tf.sub(a, get(n.inputs[1])), n); break;
        case "mul": y = act(tf.mul(a, get(n.inputs[1])), n); break;
        case "div": y = act(tf.div(a, get(n.inputs[1])), n); break;
        case "leaky_relu": y = tf.leakyRelu(a, n.alpha || 0); break;
        case "relu": y = tf.relu(a); break;
        case "tanh": y = tf.tanh(a); break;
        case "sigmoid": y = tf.sigmoid(a); break;
        case "clip": y = tf.clipByValue(a, n.min || 0, n.max || 0); break;
        case "resize": {
          const size = [a.shape[1] * n.scale[0], a.shape[2] * n.scale[1]];
          y = n.mode === "nearest"
            ? tf.image.resizeNearestNeighbor(a, size, !!n.align_corners, !!n.half_pixel)
            : tf.image.resizeBilinear(a, size, !!n.align_corners, !!n.half_pixel);
          break;
        }
        case "box_mean": y = boxMean(a, n.radius); break;
        case "instance_norm": case "layer_norm": {
          const m = tf.moments(a, n.op === "instance_norm" ? [1, 2] : [1, 2, 3], true);
          y = tf.add(tf.mul(tf.div(tf.sub(a, m.mean), tf.sqrt(tf.add(m.variance, n.eps || 0))), get(n.inputs[1])), get(n.inputs[2]));
          break;
        }
        case "concat": y = tf.concat(n.inputs.map(get), 3); break;
        case "pad": {
          const p = n.pads || [0, 0, 0, 0], pads = [[0, 0], [p[0], p[2]], [p[1], p[3]], [0, 0]];
          y = n.mode === "reflect" ? tf.mirrorPad(a, pads, "reflect") : tf.pad(a, pads);
          break;
        }
        default: throw coded("model-invalid", `op ${n.op} is not supported on the CPU`);
      }
      v.set(n.name, y);
    }
    return get(g.output);
  });
  const about = {
    input: g.input_channels || 3, norm: g.norm, denorm: g.denorm,
    multiple: Math.max(g.size_multiple || 1, 1), name: g.name || "",
  };
  return {
    fn, about,
    dispose() {
      for (const t of Object.values(W)) t.dispose();
      for (const t of ones.values()) t.dispose();
    },
  };
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
