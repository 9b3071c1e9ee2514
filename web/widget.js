// widget.js: <edge-toon>, the embeddable cartoon camera.
//
//   <script type="module" src="https://YOUR-SERVER/widget.js"></script>
//   <edge-toon mode="camera"></edge-toon>
//   <edge-toon mode="photo" src="portrait.jpg"></edge-toon>
//
// Attributes: mode "camera" (default) or "photo"; model, a model URL
// (default: the server's default model); src, an image to stylize at once
// (same-origin or CORS-enabled); size, the long side in pixels (default
// for photos 512; for the camera, automatic: the detail that holds 24
// frames a second, as on the product page); autostart, start the camera
// without waiting for a click; strength, how much of the cartoon covers
// the picture, 0 to 100 (default 100); steady="off" lets each camera
// frame's cartoon show as it comes (by default still parts are
// stabilized).
//
// While the camera runs, "● Rec" films the cartoon (at most 30 s, as on
// the product page) and saves the video on the device; "Share" offers the
// last photo or video to the share sheet where the browser can share
// files. Nothing is uploaded.
//
// Everything lives in the element's shadow root; the module defines no
// global but the custom element. (Go's wasm_exec.js, which every Go
// WebAssembly program needs, defines globalThis.Go.) The engine and the
// camera are released when the element leaves the page.
import * as core from "/core.js?v=dev";
import { Keeper, RateHolder, recordType } from "/live.js?v=dev";

const sheet = new CSSStyleSheet();
sheet.replaceSync(`
:host { display: block; width: 100%; max-width: 480px; font: 14px/1.4 system-ui, sans-serif;
  color: #f4f1ea; background: #11182b; border-radius: 12px; overflow: hidden; contain: content; }
:host([hidden]) { display: none; }
.stage { position: relative; aspect-ratio: var(--aspect, 4 / 3); max-height: var(--edge-toon-max-height, 420px);
  margin: 0 auto; background: #0a0f1c; --split: 50%; }
.layer { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; display: block; }
.after { position: absolute; inset: 0; clip-path: inset(0 0 0 var(--split)); }
.out { object-fit: fill; } /* the cartoon may be a few pixels off the stage's aspect (a camera frame's size is rounded) */
.mirror video, .mirror .out { transform: scaleX(-1); }
.cut { pointer-events: none; } /* a cut-out photo's transparent parts (core.showCut), with the photo only */
.before[hidden] ~ .cut { display: none; }
.split { position: absolute; inset: 0; width: 100%; height: 100%; margin: 0; opacity: 0; cursor: ew-resize;
  touch-action: pan-y; z-index: 2; }
.handle { position: absolute; top: 0; bottom: 0; left: var(--split); width: 2px; margin-left: -1px;
  background: #fff; pointer-events: none; z-index: 2; }
.msg { position: absolute; inset: 0; z-index: 3; display: flex; align-items: center; justify-content: center;
  margin: 0; padding: 1rem; text-align: center; background: rgba(10, 15, 28, 0.85); }
.msg:empty { display: none; }
.empty .split, .empty .handle, .empty .fps { display: none; }
progress { position: absolute; left: 10%; right: 10%; bottom: 1rem; width: 80%; z-index: 4; accent-color: #ffc86b; }
.bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; padding: 0.5rem; }
button { font: inherit; color: inherit; background: #1f2a44; border: 1px solid #3a476a; border-radius: 999px;
  padding: 0.4em 1em; min-height: 40px; cursor: pointer; }
button:disabled { opacity: 0.5; cursor: default; }
button:focus-visible, .split:focus-visible + .handle { outline: 3px solid #ffc86b; outline-offset: 2px; }
.note { font-size: 12px; opacity: 0.8; }
.note:empty { display: none; }
.fps { margin-left: auto; font: 12px ui-monospace, monospace; opacity: 0.8; }
[hidden] { display: none !important; }
`);

const html = `
<div class="stage empty" part="stage">
  <video class="layer" playsinline muted></video>
  <canvas class="layer before" hidden></canvas>
  <div class="after"><canvas class="layer out"></canvas></div>
  <canvas class="layer cut" hidden></canvas>
  <input class="split" type="range" min="0" max="100" value="50" aria-label="Divider between original and cartoon">
  <div class="handle"></div>
  <p class="msg" role="status" aria-live="polite"></p>
  <progress max="1" hidden></progress>
</div>
<div class="bar" part="bar">
  <button type="button" class="start">Start camera</button>
  <button type="button" class="pick">Choose photo</button>
  <input type="file" accept="image/*" hidden>
  <button type="button" class="save" disabled>Save PNG</button>
  <button type="button" class="rec" aria-pressed="false" hidden>● Rec</button>
  <button type="button" class="share" hidden>Share</button>
  <span class="note" role="status" aria-live="polite"></span>
  <span class="fps"></span>
</div>`;

class EdgeToon extends HTMLElement {
  static observedAttributes = ["src", "model", "strength", "steady"];

  #root;
  #el = {};
  #engine = null;
  #ready = null; // Promise of the engine
  #stream = null;
  #stopLoop = null;
  #bitmap = null;
  #alpha = null; // the photo's transparency (core.readPhoto), kept in its PNG
  #shot = false;
  #meter = new core.Meter();
  #holder = null; // the camera's automatic detail (RateHolder), without a size attribute
  #lastReadout = 0;
  #connected = false;
  #keeper; // the photos and videos saved, the record and share buttons (live.js)

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.adoptedStyleSheets = [sheet];
    this.#root.innerHTML = html;
    const q = (s) => this.#root.querySelector(s);
    this.#el = {
      stage: q(".stage"), video: q("video"), before: q(".before"), out: q(".out"), cut: q(".cut"), split: q(".split"),
      msg: q(".msg"), progress: q("progress"), start: q(".start"), pick: q(".pick"), file: q("input[type=file]"),
      save: q(".save"), rec: q(".rec"), share: q(".share"), note: q(".note"), fps: q(".fps"),
    };
    const el = this.#el;
    // The recorder's messages go to the bar: the stage's message covers
    // the picture being filmed.
    this.#keeper = new Keeper({
      record: el.rec, share: el.share, canvas: el.out, say: (t) => { el.note.textContent = t; },
      redraw: () => this.#engine?.redraw(),
      onEnd: () => this.#holder?.restart(), // not fed while the recording held the size
    });
    el.rec.hidden = true; // until the camera runs
    el.split.oninput = () => el.stage.style.setProperty("--split", `${el.split.value}%`);
    el.start.onclick = () => (this.#stream ? this.#stopCamera() : this.#startCamera());
    el.pick.onclick = () => el.file.click();
    el.file.onchange = () => {
      if (el.file.files[0]) this.#showPhoto(el.file.files[0]);
      el.file.value = "";
    };
    el.save.onclick = () => {
      if (this.#stream) this.#shot = true;
      else this.#renderPhoto(true);
    };
  }

  get #mode() { return this.getAttribute("mode") === "photo" ? "photo" : "camera"; }
  // The size attribute within the page's detail levels (core.detail), else
  // the default.
  get #size() {
    const n = core.detail(this.getAttribute("size"));
    return this.#stream ? Math.min(n ?? 256, core.maxLiveDetail) : n ?? 512;
  }
  get #strength() {
    const n = parseFloat(this.getAttribute("strength") ?? "100");
    return Number.isFinite(n) ? Math.min(100, Math.max(0, n)) / 100 : 1;
  }

  // #applyOptions hands the strength and the stabilizer to the engine; a
  // photo is never blended with the frame before it.
  #applyOptions() {
    const err = this.#engine?.setOptions({
      strength: this.#strength, stabilize: !!this.#stream && this.getAttribute("steady") !== "off",
    });
    if (err instanceof Error) this.#say(core.describe(err));
  }

  connectedCallback() {
    this.#connected = true;
    const photo = this.#mode === "photo";
    this.#el.start.hidden = photo;
    this.#say(photo ? "Choose a photo to turn it into a cartoon." : "Start the camera to see yourself as a cartoon.");
    if (this.hasAttribute("src")) this.#loadSrc();
    else if (!photo && this.hasAttribute("autostart")) this.#startCamera();
  }

  disconnectedCallback() {
    this.#connected = false;
    this.#stopCamera();
    this.#bitmap?.close();
    this.#bitmap = null;
    this.#alpha = null;
    this.#engine?.dispose();
    this.#engine = null;
    this.#ready = null;
  }

  attributeChangedCallback(name, old, value) {
    if (!this.#connected || old === value) return;
    if (name === "src" && value) this.#loadSrc();
    if ((name === "strength" || name === "steady") && this.#engine) {
      this.#applyOptions();
      if (!this.#stream) this.#engine.redraw();
    }
    if (name === "model" && this.#engine) {
      this.#modelURL().then((url) => this.#engine.setModel(url, (l, t) => this.#progress(l, t)))
        .then(() => { this.#progress(); if (!this.#stream) this.#renderPhoto(); }, (err) => this.#say(core.describe(err)));
    }
  }

  #say(text) { this.#el.msg.textContent = text; }

  #progress(loaded, total) {
    const p = this.#el.progress;
    p.hidden = !total || loaded >= total;
    if (total) p.value = loaded / total;
  }

  async #modelURL() {
    const attr = this.getAttribute("model");
    if (attr) return new URL(attr, document.baseURI).href;
    const models = await core.listModels();
    const m = models.find((m) => m.default) || models[0];
    if (!m) throw core.coded("model-load", "The edgetoon server offers no styles.");
    return m.url;
  }

  // #getEngine creates this element's engine on first use, so an idle
  // widget costs the host page nothing.
  #getEngine() {
    this.#ready ??= (async () => {
      this.#say("Loading the cartoon engine…");
      const api = await core.loadRuntime();
      const engine = await api.create({
        canvas: this.#el.out, model: await this.#modelURL(), precision: "auto",
        onProgress: (l, t) => this.#progress(l, t),
      });
      this.#progress();
      if (!this.#connected) { engine.dispose(); throw core.coded("gone", ""); }
      engine.onstatechange = (s) => {
        this.#say(s === "lost" ? core.lostMessage(engine) : "");
        if (s === "restored" && !this.#stream) this.#renderPhoto();
      };
      this.#engine = engine;
      this.#applyOptions();
      this.#say("");
      return engine;
    })();
    this.#ready.catch((err) => {
      this.#ready = null;
      this.#progress();
      if (err.code !== "gone") this.#say(core.describe(err));
    });
    return this.#ready;
  }

  async #startCamera() {
    let stream;
    try {
      this.#say("Starting the camera…");
      stream = await core.openCamera("user");
    } catch (err) {
      return this.#say(core.describe(err));
    }
    if (!this.#connected) return core.stopStream(stream);
    this.#stream = stream;
    const el = this.#el;
    el.video.srcObject = stream;
    el.video.hidden = false;
    el.stage.classList.remove("empty");
    el.before.hidden = true;
    el.start.textContent = "Stop camera";
    el.save.disabled = false;
    el.rec.hidden = !recordType();
    el.stage.classList.add("mirror");
    await el.video.play().catch(() => {});
    this.#say("");
    this.#meter.reset();
    this.#holder = new RateHolder(24);
    this.#applyOptions();
    this.#stopLoop = core.frameLoop(el.video, () => this.#cameraFrame());
    this.#getEngine().catch(() => this.#stopCamera());
  }

  #stopCamera() {
    this.#keeper.stop(); // a recording ends with the camera, and is saved
    this.#stopLoop?.();
    this.#stopLoop = null;
    core.stopStream(this.#stream);
    this.#stream = null;
    const el = this.#el;
    el.video.srcObject = null;
    el.start.textContent = "Start camera";
    el.stage.classList.remove("mirror");
    el.stage.classList.toggle("empty", !this.#bitmap);
    el.fps.textContent = "";
    el.rec.hidden = true;
    el.save.disabled = !this.#bitmap;
  }

  #cameraFrame() {
    const v = this.#el.video;
    if (!this.#engine || !v.videoWidth) return;
    const inFlight = this.#meter.poll(this.#engine);
    const auto = core.detail(this.getAttribute("size")) === null;
    // A recording holds its size (Keeper.hold), and the rate holder waits.
    if (auto && !this.#keeper.recording) this.#holder.frames(this.#meter.finished, this.#engine.gpuFrameMs());
    if (inFlight >= core.maxInFlight) return; // the GPU is behind: drop this frame
    const long = auto ? this.#holder.size : this.#size;
    const [w, h] = this.#keeper.hold(core.liveSize(v.videoWidth, v.videoHeight, long, this.#engine.sizeMultiple()));
    // The stage takes the frame's own aspect; the cartoon, near it, fills it.
    this.#el.stage.style.setProperty("--aspect", `${v.videoWidth} / ${v.videoHeight}`);
    try {
      this.#engine.stylize(v, w, h);
    } catch (err) {
      this.#stopCamera();
      return this.#say(core.describe(err));
    }
    if (this.#shot) {
      this.#shot = false;
      this.#savePNG();
    }
    const now = performance.now();
    if (now - this.#lastReadout > 250) {
      this.#lastReadout = now;
      this.#el.fps.textContent = this.#meter.text();
    }
  }

  async #loadSrc() {
    try {
      const resp = await fetch(new URL(this.getAttribute("src"), document.baseURI));
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      await this.#showPhoto(await resp.blob());
    } catch (err) {
      this.#say(err.code ? core.describe(err) : `The image could not be loaded (${err.message}).`);
    }
  }

  async #showPhoto(blob) {
    this.#stopCamera();
    let photo;
    try {
      this.#say("Reading the photo…");
      photo = await core.readPhoto(blob, this.#size);
    } catch (err) {
      return this.#say(core.describe(err));
    }
    this.#bitmap?.close();
    this.#bitmap = photo.bitmap;
    this.#alpha = photo.alpha;
    const el = this.#el;
    el.before.width = photo.width;
    el.before.height = photo.height;
    el.before.getContext("2d").drawImage(photo.bitmap, 0, 0);
    el.before.hidden = false;
    core.showCut(el.cut, photo.alpha, photo.width, photo.height);
    el.video.hidden = true;
    el.stage.classList.remove("empty");
    el.stage.style.setProperty("--aspect", `${photo.width} / ${photo.height}`);
    await this.#renderPhoto();
  }

  // #savePNG keeps the cartoon as drawn (call it in the same task as the
  // draw), with a photo's transparency if given: downloaded, and the one
  // Share offers.
  #savePNG(alpha = null) {
    core.canvasPNG(this.#el.out, alpha).then((png) => this.#keeper.keep(png, core.fileName()), (err) => this.#say(core.describe(err)));
  }

  // #renderPhoto draws the photo's cartoon, and saves it when asked (the
  // PNG must be taken in the same task as the draw).
  async #renderPhoto(save = false) {
    const b = this.#bitmap;
    if (!b) return;
    let engine;
    try {
      engine = await this.#getEngine();
    } catch {
      return;
    }
    if (b !== this.#bitmap) return;
    const start = performance.now();
    try {
      this.#applyOptions();
      engine.stylize(b, b.width, b.height);
    } catch (err) {
      return this.#say(core.describe(err));
    }
    if (save) this.#savePNG(this.#alpha);
    // stylize returns once the work is queued: the time shown is until
    // the GPU has finished it.
    await core.finished(engine);
    this.#el.fps.textContent = `${(performance.now() - start).toFixed(0)} ms`;
    this.#el.save.disabled = false;
    this.#say("");
  }
}

if (!customElements.get("edge-toon")) customElements.define("edge-toon", EdgeToon);
