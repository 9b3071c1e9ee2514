// tfgraph.js: an edgetoon graph (model/graph.go) rebuilt in TensorFlow.js
// ops. A classic script, so that both a worker (cpuworker.js, the page's
// CPU path, by importScripts) and a page (bench/page.html, the TF.js peer,
// by a script tag) can load it; it defines one global, tfGraph.
/* exported tfGraph */
"use strict";

/**
 * tfGraph turns a graph and its float32 tensors ({name: {shape, data}})
 * into fn, a function of a [1,H,W,C] TF.js tensor on the current backend,
 * op by op as model/cpu runs them (model/ops.go), and dispose. The
 * weights become TF.js tensors once. An op or activation it lacks is an
 * error whose code is "model-invalid".
 */
function tfGraph(tf, g, tensors) {
  const invalid = (message) => Object.assign(new Error(message), { code: "model-invalid" });
  // The activations TF.js fuses into a conv: the others follow it.
  const fusable = { relu: "relu", relu6: "relu6", leaky_relu: "leakyrelu" };
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
    throw invalid(`activation ${n.act} is not supported by this runtime`);
  };
  // conv returns the conv's output and whether the node's activation is
  // fused into it.
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
        return [tf.fused.conv2d({ x, filter, strides, pad, dilations, bias, activation: activation || "linear", leakyreluAlpha: n.alpha || 0 }), true];
      }
      return [tf.fused.conv2d({ x, filter, strides, pad, dilations, bias }), false];
    }
    if (groups !== x.shape[3] || filter.shape[2] !== 1) throw invalid(`a conv of ${groups} groups is not supported by this runtime`);
    // Depthwise: [KH,KW,1,C] -> [KH,KW,C,1].
    const y = tf.depthwiseConv2d(x, tf.transpose(filter, [0, 1, 3, 2]), strides, pad, "NHWC", dilations);
    return [bias ? tf.add(y, bias) : y, false];
  };
  const fn = (x) => tf.tidy(() => {
    const v = new Map([[g.input, x]]);
    const get = (name) => {
      const t = v.get(name) ?? W[name];
      if (!t) throw invalid(`no value named ${name}`);
      return t;
    };
    for (const n of g.nodes) {
      const a = get(n.inputs[0]);
      let y, fused = false;
      switch (n.op) {
        case "conv2d": [y, fused] = conv(a, n, get); break;
        case "add": y = tf.add(a, get(n.inputs[1])); break;
        case "sub": y = tf.sub(a, get(n.inputs[1])); break;
        case "mul": y = tf.mul(a, get(n.inputs[1])); break;
        case "div": y = tf.div(a, get(n.inputs[1])); break;
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
        default: throw invalid(`op ${n.op} is not supported by this runtime`);
      }
      // A node's activation follows its op, whatever the op, as in
      // model/cpu (a conv's may be fused into it).
      v.set(n.name, fused ? y : act(y, n));
    }
    return get(g.output);
  });
  return {
    fn,
    dispose() {
      for (const t of Object.values(W)) t.dispose();
      for (const t of ones.values()) t.dispose();
    },
  };
}
