// app.js: the product page. It wires the controls to the engine in
// edgetoon.wasm (through core.js) and tells the user what is happening.
// Live camera frames and photos are stylized on this device only.
import * as core from "/core.js?v=dev";
import * as live from "/live.js?v=dev";
import { bindEngineSelect } from "/cpupath.js?v=dev";
import { Photo } from "/photo.js?v=dev";
import { registerServiceWorker } from "/offline.js?v=dev";

const $ = (id) => document.getElementById(id);
const ui = Object.fromEntries([
  "stage", "video", "before", "out", "cut", "split", "readout", "drop", "drop-note", "choose",
  "loading", "progress", "progress-label", "notice", "notice-text", "notice-action",
  "mode-camera", "mode-photo", "camera-controls", "photo-controls", "flip", "shutter",
  "file", "choose-again", "download", "model", "size", "status", "update", "update-reload", "license",
  "strength", "strength-value", "steady", "record", "share",
].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));

const params = new URLSearchParams(location.search);
const state = {
  mode: "",
  ready: Promise.resolve(null), // resolves to the engine, or null if it failed
  engine: null,
  models: [],
  facing: "user",
  stream: null,
  stopLoop: null,
  shot: false, // save the next camera frame
  size: { camera: 256, photo: 512 },
  switching: false, // a model download is in progress
  refused: new Set(), // models the camera fell back from (never stepped up to again)
  dims: "",
  lastReadout: 0,
  auto: true, // the camera's detail follows the frame rate (holder)
  strength: 100, // % of the cartoon over the picture
  steady: true, // stabilize the live cartoon
};
const meter = new core.Meter();
// The shutter's photos and the recordings: saved, and shared where the
// browser can share files.
const keeper = new live.Keeper({
  record: ui.record, share: ui.share, canvas: ui.out, say: (t) => say(t),
  redraw: () => state.engine?.redraw(),
  // The rate holder was not fed while the recording held the size.
  onEnd: () => holder.restart(),
});
// The camera's detail holds 24 frames a second unless the user pins one.
let holder = new live.RateHolder(24, live.liveSizes, 256);

// Photo mode: the chosen photo and its cartoon's PNG (photo.js).
const photo = new Photo({
  ui, engine: () => state.ready, active: () => state.mode === "photo", size: () => state.size.photo,
  say: (t) => say(t), notice: (t) => notice(t), setAspect: (w, h) => setAspect(w, h),
});
function openPhoto(blob) {
  if (state.mode !== "photo") setMode("photo");
  photo.open(blob);
}

// ?size=N starts at detail level N (a link for a slow device, or a test,
// can ask for less than the list offers). The camera stays within the
// list's live sizes; a level not in the list gets its own entry.
{
  const n = core.detail(params.get("size"));
  if (n !== null) {
    state.size.photo = n;
    state.size.camera = Math.min(n, core.maxLiveDetail);
    state.auto = false; // a link that asks for a detail pins it
    for (const v of new Set([state.size.camera, n])) {
      const opts = [...ui.size.options];
      if (opts.some((o) => Number(o.value) === v)) continue;
      const o = new Option(`${v} px`, String(v));
      if (v > core.maxLiveDetail) o.dataset.photoOnly = "";
      ui.size.add(o, opts.find((o) => Number(o.value) > v) || null);
    }
  }
}

// The strength and the stabilizer are remembered between visits.
const remembered = (key) => { try { return localStorage.getItem(key); } catch { return null; } };
const remember = (key, v) => { try { localStorage.setItem(key, v); } catch { /* private mode */ } };
{
  const n = Number(remembered("edgetoon.strength") ?? 100);
  state.strength = Number.isFinite(n) ? Math.min(100, Math.max(0, Math.round(n))) : 100;
  state.steady = remembered("edgetoon.steady") !== "0";
}

const say = (text) => { ui.status.textContent = text; };

function notice(text, action, onAction) {
  ui.noticeText.textContent = text;
  ui.noticeAction.hidden = !action;
  ui.noticeAction.textContent = action || "";
  ui.noticeAction.onclick = onAction || null;
  ui.notice.hidden = false;
}
const clearNotice = () => { ui.notice.hidden = true; };

function progress(label, loaded, total) {
  ui.loading.hidden = false;
  ui.progressLabel.textContent = total ? `${label} ${core.formatBytes(loaded)} of ${core.formatBytes(total)}` : label;
  if (total) ui.progress.value = loaded / total;
  else ui.progress.removeAttribute("value"); // indeterminate
}
const onProgress = (loaded, total) => progress("Downloading the style:", loaded, total);

function setAspect(w, h) {
  const key = `${w}x${h}`;
  if (state.dims === key) return;
  state.dims = key;
  ui.stage.style.setProperty("--aspect", `${w} / ${h}`);
}

// applyOptions hands the strength and the stabilizer to the engine; a
// photo is never blended with the frame before it.
function applyOptions() {
  ui.strength.value = String(state.strength);
  ui.strengthValue.textContent = `${state.strength}%`;
  ui.strength.setAttribute("aria-valuetext", `${state.strength}% cartoon`);
  ui.steady.checked = state.steady;
  const err = state.engine?.setOptions({ strength: state.strength / 100, stabilize: state.mode === "camera" && state.steady });
  if (err instanceof Error) notice(core.describe(err));
}

// ---- Modes ----

function setMode(mode, reason = "") {
  if (state.mode === mode) return;
  state.mode = mode;
  const camera = mode === "camera";
  ui.modeCamera.setAttribute("aria-pressed", String(camera));
  ui.modePhoto.setAttribute("aria-pressed", String(!camera));
  ui.cameraControls.hidden = !camera;
  ui.photoControls.hidden = camera;
  for (const opt of ui.size.querySelectorAll("[data-photo-only]")) opt.disabled = camera;
  for (const opt of ui.size.querySelectorAll("[data-camera-only]")) opt.disabled = !camera;
  ui.size.value = camera && state.auto ? "auto" : String(state.size[mode]);
  ui.readout.textContent = "";
  meter.reset();
  applyOptions();
  if (camera) {
    ui.drop.hidden = true;
    ui.before.hidden = true;
    ui.video.hidden = false;
    startCamera();
  } else {
    stopCamera();
    ui.stage.classList.remove("mirror");
    ui.video.hidden = true;
    ui.dropNote.textContent = reason;
    if (photo.bitmap && !reason) photo.show();
    else { ui.drop.hidden = false; ui.before.hidden = true; }
  }
}

// ---- Camera ----

async function startCamera() {
  let stream;
  try {
    say("Starting the camera…");
    performance.mark("edgetoon:camera-asked");
    stream = await core.openCamera(state.facing);
    performance.mark("edgetoon:camera-stream");
  } catch (err) {
    if (ui.status.textContent === "Starting the camera…") say("");
    if (state.mode === "camera") setMode("photo", core.describe(err));
    return;
  }
  if (state.mode !== "camera") return core.stopStream(stream);
  state.stream = stream;
  ui.video.srcObject = stream;
  await ui.video.play().catch(() => {});
  performance.mark("edgetoon:camera-ready");
  const facing = stream.getVideoTracks()[0]?.getSettings().facingMode;
  ui.stage.classList.toggle("mirror", facing ? facing === "user" : state.facing === "user");
  state.stopLoop = core.frameLoop(ui.video, cameraFrame);
  // The first cartoon now, not at the camera's next frame (as startEngine
  // does when the engine is ready last).
  if (!globalThis.edgetoonNoWarmup && state.engine) cameraFrame();
  say(state.engine ? "Camera on." : "Camera on. The cartoon appears when the engine is ready.");
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  ui.flip.hidden = devices.filter((d) => d.kind === "videoinput").length < 2;
}

function stopCamera() {
  keeper.stop(); // a recording ends with the camera
  state.stopLoop?.();
  state.stopLoop = null;
  core.stopStream(state.stream);
  state.stream = null;
  ui.video.srcObject = null;
}

function cameraFrame() {
  const v = ui.video;
  if (!state.engine || state.switching || !v.videoWidth) return;
  const inFlight = meter.poll(state.engine);
  // A recording holds its size (keeper.hold): the rate holder waits for
  // its end, then starts a fresh window (the keeper's onEnd).
  if (state.auto && !keeper.recording) {
    holder.frames(meter.finished, state.engine.gpuFrameMs());
    if (holder.starved || holder.room > 1) switchModel();
  }
  if (inFlight >= core.maxInFlight) return; // the GPU is behind: drop this frame
  const long = state.auto ? holder.size : state.size.camera;
  const [w, h] = keeper.hold(core.liveSize(v.videoWidth, v.videoHeight, long, state.engine.sizeMultiple()));
  // The stage takes the frame's own aspect; the cartoon, near it, fills it
  // (style.css), so that the two lie over each other exactly.
  setAspect(v.videoWidth, v.videoHeight);
  try {
    state.engine.stylize(v, w, h);
  } catch (err) {
    return notice(core.describe(err));
  }
  if (state.shot) {
    state.shot = false;
    core.canvasPNG(ui.out).then((b) => { keeper.keep(b, core.fileName()); say("Saved the cartoon as PNG."); },
      (err) => say(core.describe(err)));
  }
  const now = performance.now();
  if (now - state.lastReadout > 250) {
    state.lastReadout = now;
    ui.readout.textContent = meter.text(w, h) + (state.auto ? " auto" : "");
  }
}

// ---- Engine and models ----

async function startEngine(model) {
  progress("Starting the engine…");
  performance.mark("edgetoon:engine-start");
  try {
    const api = await core.loadRuntime();
    const engine = await api.create({
      canvas: ui.out, model: model.url, precision: params.get("precision") || "auto", onProgress,
    });
    engine.onstatechange = (s) => {
      if (s === "lost") return notice(core.lostMessage(engine));
      clearNotice();
      if (state.mode === "photo") photo.render();
    };
    state.engine = engine;
    performance.mark("edgetoon:engine-ready");
    applyOptions();
    ui.shutter.disabled = false;
    const info = engine.info();
    say(`${model.title || model.name} ready (${info.precision}, ${info.passes} passes, compiled in ${Math.round(info.compileMs)} ms).`);
    // The first cartoon now, of the frame the camera shows, not at its
    // next frame (as startCamera does when the camera is ready last).
    if (!globalThis.edgetoonNoWarmup && state.stopLoop) cameraFrame();
    return engine;
  } catch (err) {
    notice(core.describe(err));
    say("");
    return null;
  } finally {
    ui.loading.hidden = true;
  }
}

async function changeModel() {
  const model = state.models[ui.model.selectedIndex];
  showLicense(model);
  if (!state.engine) {
    clearNotice();
    state.ready = startEngine(model);
  } else {
    state.switching = true;
    try {
      await state.engine.setModel(model.url, onProgress);
      say(`${model.title || model.name} ready.`);
    } catch (err) {
      notice(core.describe(err));
    } finally {
      state.switching = false;
      ui.loading.hidden = true;
      meter.reset();
    }
  }
  if (state.mode === "photo") photo.render();
}

// switchModel follows the rate holder's last window to another model of
// the style (automatic detail only; live.nextModel says which and why):
// a lighter one when the chosen one cannot hold the rate even at the
// smallest detail, a heavier one when the device has room for it.
function switchModel() {
  const next = live.nextModel(holder, state.models, state.models[ui.model.selectedIndex], state.refused);
  if (!next) return;
  ui.model.selectedIndex = state.models.indexOf(next.model);
  holder = new live.RateHolder(holder.target, live.liveSizes, next.size);
  say(next.why);
  changeModel().then(() => say(next.why));
}

function showLicense(m) {
  ui.license.textContent = m.license ? `Style “${m.title || m.name}”: ${m.license}.` : "";
}

async function loadModels() {
  core.prestart(); // the engine starts while the model list loads
  try {
    state.models = await core.listModels();
  } catch (err) {
    return notice(core.describe(err));
  }
  if (!state.models.length) {
    ui.model.replaceChildren(new Option("None", ""));
    return notice("This server offers no styles: its default model is not built. Run make, then restart edgetoon serve.");
  }
  ui.model.replaceChildren(...state.models.map((m) => {
    const gmacs = m.macs256 ? ` · ${(m.macs256 / 1e9).toFixed(2)} GMAC` : "";
    return new Option(`${m.title || m.name}${gmacs}`, m.name);
  }));
  const wanted = state.models.findIndex((m) => m.name === params.get("model"));
  ui.model.selectedIndex = Math.max(0, wanted);
  ui.model.disabled = false;
  const model = state.models[ui.model.selectedIndex];
  showLicense(model);
  state.ready = startEngine(model);
  if (await state.ready && state.mode === "photo") photo.render();
}

// ---- Wiring ----

function wire() {
  ui.modeCamera.onclick = () => setMode("camera");
  ui.modePhoto.onclick = () => setMode("photo");
  ui.split.oninput = () => {
    const v = ui.split.value;
    ui.stage.style.setProperty("--split", `${v}%`);
    ui.split.setAttribute("aria-valuetext", `${v}% original`);
  };
  ui.shutter.onclick = () => { state.shot = true; };
  ui.strength.oninput = () => {
    state.strength = Number(ui.strength.value);
    remember("edgetoon.strength", String(state.strength));
    applyOptions();
    // A photo is drawn again at once, without running the network, and
    // its PNG taken in the same task as the draw.
    if (state.mode === "photo" && state.engine) photo.redraw(state.engine);
  };
  ui.steady.onchange = () => {
    state.steady = ui.steady.checked;
    remember("edgetoon.steady", state.steady ? "1" : "0");
    applyOptions();
  };
  ui.flip.onclick = () => {
    state.facing = state.facing === "user" ? "environment" : "user";
    stopCamera();
    startCamera();
  };
  ui.choose.onclick = ui.chooseAgain.onclick = () => ui.file.click();
  ui.file.onchange = () => {
    if (ui.file.files[0]) openPhoto(ui.file.files[0]);
    ui.file.value = "";
  };
  ui.download.onclick = () => photo.download();
  ui.model.onchange = changeModel;
  ui.size.onchange = () => {
    if (ui.size.value === "auto") {
      state.auto = true;
      holder = new live.RateHolder(24, live.liveSizes, state.size.camera);
      return;
    }
    state.auto = false;
    state.size[state.mode] = Number(ui.size.value);
    if (state.mode === "photo") photo.decode();
  };

  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    ui.drop.classList.add("over");
  });
  addEventListener("dragleave", () => ui.drop.classList.remove("over"));
  addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    ui.drop.classList.remove("over");
    if (e.dataTransfer.files[0]) openPhoto(e.dataTransfer.files[0]);
  });
  addEventListener("paste", (e) => {
    const f = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (!f) return;
    e.preventDefault();
    openPhoto(f);
  });
  // Let go of the camera while the page is hidden; take it back after.
  document.addEventListener("visibilitychange", () => {
    if (state.mode !== "camera") return;
    if (document.hidden) stopCamera();
    else if (!state.stream) startCamera();
  });
}

wire();
bindEngineSelect($("engine")); // the engine setting (cpupath.js); a change reloads the page
registerServiceWorker(ui.update, ui.updateReload);
setMode(params.get("mode") === "photo" ? "photo" : "camera");
loadModels();
