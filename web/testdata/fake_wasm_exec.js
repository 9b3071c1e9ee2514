// A stand-in for Go's wasm_exec.js in the page tests. Its Go class "runs"
// any module by installing a fake edgetoon API with the real one's
// contract: the engine downloads the model with progress, and stylize
// draws an inverted copy of the source on the canvas with a 2D context,
// so the tests can read the pixels back. It counts live engines in
// globalThis.fakeEngines so that tests can see disposal.
"use strict";
(() => {
  const coded = (code, message) => Object.assign(new Error(message), { code });

  async function download(url, onProgress) {
    const resp = await fetch(url).catch(() => null);
    if (!resp || !resp.ok) throw coded("model-load", `The style could not be downloaded (${resp ? resp.status : "offline"}).`);
    const total = Number(resp.headers.get("Content-Length")) || 0;
    const reader = resp.body.getReader();
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      loaded += value.length;
      onProgress?.(loaded, total);
    }
    return loaded;
  }

  const api = {
    version: "fake",
    async create({ canvas, model, precision, onProgress }) {
      await download(model, onProgress);
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      if (!ctx) throw coded("no-webgl2", "");
      globalThis.fakeEngines = (globalThis.fakeEngines || 0) + 1;
      let last = 0, done = 0, cost = 0, w = 0, h = 0, name = model, strength = 1, stabilize = false, shown = null;
      // The strength blends the inverted copy over the source, as the
      // real engine blends its cartoon over the input.
      const draw = (source) => {
        ctx.filter = "none";
        ctx.globalAlpha = 1;
        ctx.drawImage(source, 0, 0, w, h);
        ctx.filter = "invert(1)";
        ctx.globalAlpha = strength;
        ctx.drawImage(source, 0, 0, w, h);
        ctx.globalAlpha = 1;
      };
      // The model's size multiple: 4, or what a test sets. Like the real
      // engine, the fake one takes any size (the real one pads).
      const multiple = () => globalThis.fakeSizeMultiple || 4;
      return {
        stylize(source, width, height) {
          if (!(width > 0 && height > 0)) throw coded("argument", `size ${width}x${height} must be positive`);
          const t = performance.now();
          if (canvas.width !== width) canvas.width = width;
          if (canvas.height !== height) canvas.height = height;
          w = width; h = height;
          draw(source);
          shown = source;
          // A test may slow the "GPU": the call blocks, as a backed-up
          // GPU holds the page's frames back.
          // fakeMsPerKpx makes the cost grow with the frame's pixels;
          // fakeGPUTimer has gpuFrameMs report it, as a GPU timer would.
          cost = (globalThis.fakeFrameDelayMs || 0) + ((globalThis.fakeMsPerKpx || 0) * width * height) / 1000;
          for (const end = t + cost; performance.now() < end;);
          last = 0.5;
          done++;
        },
        setOptions(opts) {
          if (opts.strength !== undefined) strength = opts.strength;
          if (opts.stabilize !== undefined) stabilize = opts.stabilize;
        },
        redraw() { if (shown) draw(shown); },
        // A test sets the GPU timer's answer; 0 is "no GPU timer".
        gpuFrameMs: () => (globalThis.fakeGPUTimer ? cost : 0),
        // The fake "GPU" finishes each frame within the call.
        framesInFlight: () => 0,
        framesDone: () => done,
        options: () => ({ strength, stabilize }),
        async setModel(url, onProgress) { await download(url, onProgress); name = url; },
        info() {
          return { model: name, precision: precision === "auto" ? "fp32" : precision, passes: 12, compileMs: 3,
            renderer: "fake 2D", width: w, height: h, macs: 1, sizeMultiple: multiple(),
            nominalSize: 256 };
        },
        sizeMultiple: multiple,
        lastFrameMs: () => last,
        dispose() { globalThis.fakeEngines--; },
        onstatechange: null,
      };
    },
  };

  globalThis.Go = class {
    importObject = {};
    run() {
      globalThis.edgetoon = api;
      return new Promise(() => {});
    }
  };
})();
