// cpuruntime.js: the CPU path's runtime as the engine (cpuengine.js) sees
// it: the worker that runs the network (cpuworker.js), started once per
// page, and the models loaded into it.

const base = import.meta.url;
const assetURL = (path) => new URL(path, base).href;

const coded = (code, message) => Object.assign(new Error(message), { code });

// The worker that runs the network, versioned by the server.
const workerURL = assetURL("/cpuworker.js?v=dev");

let runtime; // the worker and its start, once per page

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

// startRuntime starts the worker and its runtime (once per page): {call,
// started}, call(msg, transfer) sending a message and answering with its
// reply (cpuworker.js lists them), started the runtime's start.
function startRuntime() {
  if (runtime) return runtime;
  let w;
  try {
    // A worker's script must be of the page's origin: the widget, on
    // another site, starts one that imports ours.
    w = new URL(workerURL).origin === location.origin ? new Worker(workerURL)
      : new Worker(URL.createObjectURL(new Blob([`importScripts(${JSON.stringify(workerURL)});`], { type: "text/javascript" })));
  } catch (err) {
    throw coded("cpu-runtime", `The CPU runtime could not start (${err.message}).`);
  }
  const waiting = new Map();
  let next = 0, dead = null, ready = false; // dead: the error that ended the worker
  const fail = (err) => {
    dead = err;
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  };
  w.onmessage = (e) => {
    const p = waiting.get(e.data.id);
    waiting.delete(e.data.id);
    if (e.data.error) p?.reject(coded(e.data.error.code, e.data.error.message));
    else p?.resolve(e.data.ok);
  };
  w.onerror = (e) => {
    e.preventDefault?.();
    // "cpu-lost": the worker is gone, and the engine starts another
    // (cpuengine.js's recover); a start that fails is "cpu-runtime".
    fail(coded(runtime?.worker === w && ready ? "cpu-lost" : "cpu-runtime",
      `The CPU runtime failed (${e.message || "its script did not load"}).`));
    w.terminate();
    if (runtime?.worker === w) runtime = undefined;
  };
  const call = (msg, transfer = []) => new Promise((resolve, reject) => {
    if (dead) return reject(dead); // a call to an ended worker is never answered
    const id = ++next;
    waiting.set(id, { resolve, reject });
    w.postMessage({ ...msg, id }, transfer);
  });
  const started = call({ init: { base, threads: threads() } });
  started.then(() => { ready = true; }, (err) => {
    fail(err);
    w.terminate();
    if (runtime?.worker === w) runtime = undefined;
  });
  runtime = { worker: w, call, started };
  return runtime;
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

// A loaded model: the runtime it is in, its id there, and what the page
// applies around it (the network maps the normalized input to the
// normalized output: pixels p in [0,1] become p*norm.scale + norm.bias).
export async function loadModel(url, onProgress) {
  const rt = startRuntime(); // its start overlaps the download
  const bytes = await download(url, onProgress);
  const about = await rt.started;
  let m;
  try {
    m = await rt.call({ load: { bytes: bytes.buffer } }, [bytes.buffer]);
  } catch (err) {
    if (err.code !== "model-invalid") throw err;
    throw coded("model-invalid", `The style could not be prepared for the CPU (${err.message}).`);
  }
  const name = decodeURIComponent(new URL(url, location.href).pathname.split("/").pop()).replace(/\.safetensors$/, "");
  return { rt, about, ...m, name, url };
}

/** free forgets a loaded model. */
export const free = (m) => m.rt.call({ free: { model: m.model } }).catch(() => {});
