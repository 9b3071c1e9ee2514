// live.js: the live-camera parts beyond the frame loop: the rate holder
// that picks the camera's detail (the page's and the widget's), recording
// the cartoon, and sharing what was saved (the page's). Nothing here sends
// picture data anywhere.
import { coded, describe, download, fileName } from "/core.js?v=dev";

/** The camera's detail levels (long side, px) the rate holder picks from. */
export const liveSizes = [128, 160, 192, 224, 256, 320, 384, 448, 512];

/**
 * A RateHolder picks the camera's detail level that holds a target frame
 * rate. It counts finished frames in windows of about a second (the
 * first window after a change starts once the new size's frames come
 * out) and, at the end of each, steps down when the rate was under 90 %
 * of the target (to the largest level that, at the same cost per pixel,
 * would hold it), and up when the rate held with room to spare: the GPU
 * timer (where there is one) predicts the next level's frame under 85 %
 * of the frame's budget or, without one, the rate was 15 % over the
 * target. Hysteresis: a level it had to leave is not tried again for a
 * while, twice as long each time (10 s, 20 s, ...), so that it does not
 * hunt between two levels.
 */
export class RateHolder {
  #i;
  #start = 0; // start of the window, 0 before its first frame
  #frames = 0;
  #skip = 2; // frames to let pass after a change (the old size's, in flight)
  #banned = new Map(); // level index -> {until, wait}
  constructor(target = 24, sizes = liveSizes, start = 256) {
    this.target = target;
    this.sizes = sizes;
    this.starved = false;
    this.room = 0;
    this.#i = Math.max(0, sizes.findIndex((s) => s >= start));
  }
  get size() { return this.sizes[this.#i]; }
  /**
   * frames counts the n frames a Meter's poll found finished (frame for
   * each) and returns the size to use.
   */
  frames(n, gpuMs = 0) {
    for (let i = 0; i < n; i++) this.frame(gpuMs);
    return this.size;
  }
  /**
   * frame counts a finished frame, given the GPU's time for a recent one
   * (0: unknown), and returns the size to use.
   */
  frame(gpuMs = 0, now = performance.now()) {
    if (this.#skip > 0) {
      this.#skip--;
      return this.size;
    }
    if (!this.#start) {
      this.#start = now;
      return this.size;
    }
    this.#frames++;
    const elapsed = now - this.#start;
    if (elapsed < 800 || this.#frames < 3) return this.size;
    const fps = (1000 * this.#frames) / elapsed;
    this.#start = now;
    this.#frames = 0;
    // At the smallest detail and still too slow: only a lighter model
    // can help (the page's choice: lighterModel).
    this.starved = fps < 0.9 * this.target && this.#i === 0;
    if (fps < 0.9 * this.target && this.#i > 0) {
      const b = this.#banned.get(this.#i);
      const wait = b ? Math.min(b.wait * 2, 160_000) : 10_000;
      this.#banned.set(this.#i, { until: now + wait, wait });
      // Straight to the largest level the cost per pixel says holds.
      let j = this.#i - 1;
      while (j > 0 && fps * (this.size / this.sizes[j]) ** 2 < this.target) j--;
      return this.#step(j - this.#i);
    }
    // Holding the rate, with the GPU timer: how many times costlier a
    // frame could be and still take under 85 % of its budget. A larger
    // detail uses it; at the largest, only a heavier model can (the
    // page's step: heavierModel).
    const room = gpuMs > 0 && fps >= this.target ? (0.85 * 1000) / this.target / gpuMs : 0;
    const up = this.#i + 1;
    this.room = up === this.sizes.length ? room : 0;
    if (up < this.sizes.length && !(this.#banned.get(up)?.until > now)) {
      const ratio = (this.sizes[up] / this.size) ** 2;
      if (gpuMs > 0 ? room > ratio : fps >= 1.15 * this.target) return this.#step(1);
    }
    return this.size;
  }
  /**
   * restart forgets the window in progress: frames it was not shown (the
   * page holds the size while it records) must not count as a slow rate.
   */
  restart() { this.#step(0); }
  #step(d) {
    this.#i += d;
    this.#start = 0;
    this.#frames = 0;
    this.#skip = 2;
    return this.size;
  }
}

/**
 * lighterModel is the model to fall back to when the camera cannot hold
 * its rate with current at the smallest detail: of the models of its
 * family (index.json's family: one style at different costs) that cost
 * fewer MACs at 256x256 (macs256), the costliest, or null.
 */
export function lighterModel(models, current) {
  const cost = current?.macs256;
  return cost > 0 ? costliest(models, current, (c) => c > 0 && c < cost) : null;
}

/**
 * heavierModel is the model to step up to when the camera holds its rate
 * at the largest detail with room to spare (RateHolder's room: how many
 * times costlier a frame may be): of the models of current's family that
 * cost more at 256x256, the costliest that fits the room, or null. Those
 * named in refused (models the page had to fall back from) are skipped.
 */
export function heavierModel(models, current, room, refused = new Set()) {
  const cost = current?.macs256;
  return cost > 0 ? costliest(models, current, (c, m) => c > cost && c <= room * cost && !refused.has(m.name)) : null;
}

// costliest is the costliest model of current's family whose cost at
// 256x256 (macs256) and entry pass fits, or null.
function costliest(models, current, fits) {
  let best = null;
  for (const m of models) {
    if (m.family === current.family && fits(m.macs256, m) && (!best || m.macs256 > best.macs256)) best = m;
  }
  return best;
}

/**
 * nextModel is where the camera goes after holder's last window, or null:
 * starved, the lighter model at the smallest detail (current joins
 * refused: never stepped up to again); with room, the heavier model at
 * the same detail. Either way it clears the holder's signal. {model,
 * size, why}.
 */
export function nextModel(holder, models, current, refused) {
  const { starved, room } = holder;
  holder.starved = false;
  holder.room = 0;
  if (starved) {
    const m = lighterModel(models, current);
    if (!m) return null;
    refused.add(current.name);
    return { model: m, size: 256, why: `Switched to ${m.title || m.name} to hold ${holder.target} fps.` };
  }
  const m = room > 1 ? heavierModel(models, current, room, refused) : null;
  return m && { model: m, size: holder.size, why: `Switched to ${m.title || m.name}: this device has room for it.` };
}

/** The longest recording, in ms. */
export const maxRecordMs = 30_000;

/** recordType is the first video format this browser records, or "". */
export function recordType() {
  if (!("MediaRecorder" in globalThis)) return "";
  return ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"]
    .find((t) => MediaRecorder.isTypeSupported(t)) || "";
}

/**
 * record films canvas (MediaRecorder on its captureStream) for at most
 * limitMs, calling onTick with the time recorded about every 250 ms. It
 * returns stop(), which resolves to the video as a Blob, and done, which
 * resolves to the same when the limit stopped it. The video stays on
 * this device. The stream takes a frame only when the canvas is drawn:
 * redraw (the engine's) draws the last picture again at the start and
 * the end, so that a slow device's video still lasts as long as the
 * recording.
 */
export function record(canvas, limitMs, onTick, redraw = () => {}) {
  const type = recordType();
  if (!type) throw coded("record", "This browser cannot record video.");
  const stream = canvas.captureStream(30);
  const rec = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: 4e6 });
  const chunks = [];
  rec.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  const done = new Promise((resolve, reject) => {
    rec.onstop = () => {
      for (const t of stream.getTracks()) t.stop();
      resolve(new Blob(chunks, { type: type.split(";")[0] }));
    };
    rec.onerror = (e) => reject(coded("record", `Recording failed (${e.error?.name || "error"}).`));
  });
  const start = performance.now();
  const tick = setInterval(() => onTick?.(performance.now() - start), 250);
  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(tick);
      clearTimeout(limit);
      redraw();
      // Let the stream take that frame before the recorder ends.
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)));
      if (rec.state !== "inactive") rec.stop();
    })();
    return done;
  };
  const limit = setTimeout(stop, limitMs);
  rec.start(1000);
  redraw();
  onTick?.(0);
  return { stop, done };
}

/** formatTime writes ms as m:ss. */
export const formatTime = (ms) => `${Math.floor(ms / 60000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}`;

/**
 * shareable reports whether this browser can share blob as a file (Web
 * Share API level 2: Chrome on Android, Safari).
 */
export function shareable(blob, name) {
  return !!navigator.canShare?.({ files: [new File([blob], name, { type: blob.type })] });
}

/** shareFile hands blob to the system's share sheet as a file. */
export function shareFile(blob, name) {
  return navigator.share({ files: [new File([blob], name, { type: blob.type })] });
}

/**
 * A Keeper saves the page's photos and videos on this device and offers
 * the last one to the share sheet where the browser can share files. It
 * drives the record button: a press starts a recording of canvas, the
 * next (or the time limit) stops it and saves the video. A test may
 * shorten the limit with globalThis.edgetoonRecordLimitMs.
 */
export class Keeper {
  #el;
  #rec = null; // the recording in progress
  #media = null; // the last photo or video saved, {blob, name}
  #held = null; // [w, h] the recording in progress keeps (hold)
  constructor({ record: button, share, canvas, say, redraw, onEnd }) {
    this.#el = { button, share, canvas, say, redraw, onEnd };
    button.hidden = !recordType();
    button.onclick = () => this.#toggle();
    share.onclick = () => {
      const m = this.#media;
      if (m) shareFile(m.blob, m.name).catch((err) => { if (err.name !== "AbortError") say(`Sharing failed (${err.name}).`); });
    };
  }
  /** keep saves blob as name and makes it the one to share. */
  keep(blob, name) {
    download(blob, name);
    this.#media = { blob, name };
    this.#el.share.hidden = !shareable(blob, name);
  }
  /** recording says whether a recording is in progress. */
  get recording() { return !!this.#rec; }
  /**
   * hold returns the size [w, h] to stylize a camera frame at, given the
   * one it would take: while a recording runs, the size of its first
   * frame, since a video whose frames change size mid-file is one some
   * players and recorders (MP4) cannot handle. onEnd (the constructor's)
   * is called when the recording ends.
   */
  hold(size) { return this.#rec ? (this.#held ??= size) : size; }
  /** stop ends a recording in progress (which is then saved). */
  stop() { this.#rec?.stop(); }
  async #toggle() {
    const { button, canvas, say, redraw } = this.#el;
    if (this.#rec) return this.#rec.stop();
    const limit = globalThis.edgetoonRecordLimitMs || maxRecordMs;
    try {
      this.#rec = record(canvas, limit, (ms) => {
        button.textContent = `■ ${formatTime(ms)} / ${formatTime(limit)}`;
      }, redraw);
    } catch (err) {
      return say(describe(err));
    }
    button.setAttribute("aria-pressed", "true");
    say("Recording…");
    try {
      const blob = await this.#rec.done;
      this.keep(blob, fileName(blob.type === "video/mp4" ? "mp4" : "webm"));
      say("Saved the video.");
    } catch (err) {
      say(describe(err));
    } finally {
      this.#rec = null;
      this.#held = null;
      this.#el.onEnd?.();
      button.textContent = "● Rec";
      button.setAttribute("aria-pressed", "false");
    }
  }
}
