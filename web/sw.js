// sw.js: the service worker that makes edgetoon work offline.
//
// The server rewrites the "dev" of every versioned URL below into the
// content hash of that file, and the version token in CACHE into the hash
// of this file, so any change to any
// precached file changes this file, which makes the browser install a new
// worker with a new cache. The new worker waits until no page uses the old
// one (or the page asks it to take over and then reloads), so no page ever
// mixes files of two versions; on activation it deletes the old caches.

const CACHE = "edgetoon-__VERSION__";
const PAGE = "/?v=dev";
const INDEX = "/models/index.json";
const PRECACHE = [
  PAGE,
  "/app.js?v=dev",
  "/core.js?v=dev",
  "/live.js?v=dev",
  "/photo.js?v=dev",
  "/offline.js?v=dev",
  "/cpupath.js?v=dev",
  "/cutout.js?v=dev",
  "/cpuengine.js?v=dev",
  "/cpuruntime.js?v=dev",
  "/cpuworker.js?v=dev",
  "/tfgraph.js?v=dev",
  "/resample.js?v=dev",
  "/style.css?v=dev",
  "/manifest.webmanifest?v=dev",
  "/icons/icon.svg?v=dev",
  "/icons/icon-192.png?v=dev",
  "/icons/icon-512.png?v=dev",
  "/wasm_exec.js?v=dev",
  "/edgetoon.wasm?v=dev",
  "/models/student.safetensors?v=dev",
];
const precached = new Set(PRECACHE);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll([...PRECACHE, INDEX])));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("edgetoon-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  const key = url.pathname + url.search;
  if (req.mode === "navigate" && url.pathname === "/") {
    event.respondWith(cacheFirst(PAGE, req));
  } else if (url.pathname === INDEX) {
    event.respondWith(networkFirst(req));
  } else if (precached.has(key)) {
    event.respondWith(cacheFirst(key, req));
  } else if ((url.pathname.startsWith("/models/") || url.pathname.startsWith("/tfjs/")) && url.searchParams.has("v") && !req.headers.has("range")) {
    // Another style, picked while online, or the CPU path's runtime
    // (cpupath.js): keep it for offline use. Its URL names its content,
    // so the copy never goes stale.
    event.respondWith(cacheFirst(key, req, event));
  }
});

// cacheFirst answers from the cache, else from the network. With keepFor
// (the fetch event) it also stores what the network gave, in the
// background, so the page's download progress is not held up.
async function cacheFirst(key, req, keepFor) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(key);
  if (hit) return hit;
  const resp = await fetch(req);
  if (keepFor && resp.status === 200) keepFor.waitUntil(cache.put(key, resp.clone()).catch(() => {}));
  return resp;
}

async function networkFirst(req) {
  const cache = await caches.open(CACHE);
  try {
    const resp = await fetch(req);
    if (resp.ok) await cache.put(INDEX, resp.clone());
    return resp;
  } catch (err) {
    const hit = await cache.match(INDEX);
    if (hit) return hit;
    throw err;
  }
}
