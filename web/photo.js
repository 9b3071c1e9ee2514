// photo.js: the page's photo mode. A chosen photo is decoded at the
// chosen detail, stylized once, and its cartoon kept as PNG for the
// download. The photo stays on this device.
import * as core from "/core.js?v=dev";

export class Photo {
  /**
   * @param {object} page what the page lends the photo mode:
   *   ui (its elements), engine() (a promise of the engine, or of null),
   *   active() (whether photo mode is on), size() (the chosen detail),
   *   say(text), notice(text), setAspect(w, h).
   */
  constructor(page) {
    this.page = page;
    this.blob = null; // the chosen photo
    this.bitmap = null; // it, decoded at the chosen size, on white
    this.alpha = null; // its transparency (core.readPhoto), kept in the PNG
    this.png = null; // its cartoon as PNG, encoded right after drawing
    this.seq = 0; // counts PNG encodings, so that only the latest is kept
  }

  async open(blob) {
    this.blob = blob;
    await this.decode();
  }

  // decode reads the photo again at the chosen detail and shows it.
  async decode() {
    const { ui, say } = this.page;
    if (!this.blob) return;
    ui.download.disabled = true;
    this.png = null;
    this.seq++; // an encoding in flight is of the last photo
    say("Reading the photo…");
    let photo;
    try {
      photo = await core.readPhoto(this.blob, this.page.size());
    } catch (err) {
      this.blob = null;
      ui.dropNote.textContent = core.describe(err);
      ui.drop.hidden = false;
      ui.before.hidden = true;
      say("");
      return;
    }
    this.bitmap?.close();
    this.bitmap = photo.bitmap;
    this.alpha = photo.alpha;
    ui.dropNote.textContent = "";
    await this.show();
  }

  // show puts the decoded photo on the stage and its cartoon beside it.
  async show() {
    const { ui } = this.page;
    const b = this.bitmap;
    if (!b) return;
    ui.drop.hidden = true;
    ui.before.width = b.width;
    ui.before.height = b.height;
    ui.before.getContext("2d").drawImage(b, 0, 0);
    ui.before.hidden = false;
    core.showCut(ui.cut, this.alpha, b.width, b.height);
    this.page.setAspect(b.width, b.height);
    await this.render();
  }

  // render stylizes the photo (once the engine is ready) and keeps its PNG.
  async render() {
    const { ui, say, notice } = this.page;
    const engine = await this.page.engine();
    const b = this.bitmap;
    if (!engine || !b || !this.page.active()) return;
    let png;
    const start = performance.now();
    const [w, h] = [b.width, b.height];
    try {
      engine.stylize(b, w, h);
      png = this.keepPNG(); // same task as the draw
    } catch (err) {
      return notice(core.describe(err));
    }
    if (!(await png)) return; // a later draw took its place
    // lastFrameMs counts only handing the work to the GPU; the PNG is read
    // back from it, so waiting for the PNG covers the GPU's work too.
    ui.readout.textContent = `${(performance.now() - start).toFixed(0)} ms · ${w}×${h}`;
    say(this.png ? "Cartoon ready: download it as PNG." : "The cartoon could not be encoded as PNG.");
  }

  // redraw draws the cartoon again with the engine's new options (the
  // strength), without running the network, and keeps its PNG.
  redraw(engine) {
    if (!this.png) return;
    engine.redraw();
    this.keepPNG();
  }

  // keepPNG encodes the canvas as the download; call it in the same task
  // as the draw. Of several encodings in flight (a slider dragged), only
  // the latest is kept, so the download is the picture as last drawn. It
  // resolves to whether this one was kept.
  async keepPNG() {
    const { ui } = this.page;
    const seq = ++this.seq;
    ui.download.disabled = true;
    let png = null;
    try {
      png = await core.canvasPNG(ui.out, this.alpha);
    } catch {}
    if (seq !== this.seq) return false;
    this.png = png;
    ui.download.disabled = !png;
    return true;
  }

  download() {
    if (this.png) core.download(this.png, core.fileName());
  }
}
