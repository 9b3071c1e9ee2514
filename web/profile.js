// profile.js: the latency profiler page (/profile). It asks the engine
// (edgetoon.profile, in the lab build edgetoon-lab.wasm: the shipped
// edgetoon.wasm has no profiler) to time every block of a catalogue on
// this device, shows progress, and lets the user download the table or
// send it to the server the page came from (POST /api/latency).

import { loadRuntime, describe, download } from "/core.js?v=dev";

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start"), abort: $("abort"), download: $("download"), send: $("send"),
  catalog: $("catalog"), precision: $("precision"),
  run: $("run"), label: $("progress-label"), progress: $("progress"), status: $("status"),
};

// The lab build is not versioned like the page's assets: a server built
// without it (make lab-wasm) has no such file, and says so below.
const labWasm = "/edgetoon-lab.wasm";

let table = null;      // the last table, a JSON string
let controller = null; // AbortController of the run in progress

function say(text) { ui.status.textContent = text; }

function setRunning(running) {
  ui.start.disabled = running;
  ui.abort.disabled = !running;
  ui.catalog.disabled = ui.precision.disabled = running;
  ui.download.disabled = ui.send.disabled = running || !table;
  ui.run.hidden = !running;
}

async function start() {
  table = null;
  controller = new AbortController();
  setRunning(true);
  say("");
  ui.progress.value = 0;
  ui.label.textContent = "Loading the engine…";
  const started = performance.now();
  try {
    const edgetoon = await loadRuntime(labWasm);
    ui.label.textContent = "Measuring…";
    table = await edgetoon.profile({
      blocks: ui.catalog.value,
      precision: ui.precision.value,
      // Three rounds over the list, each loading every block afresh: a
      // block's speed can differ from one load to the next more than its
      // samples spread within one (18 % under SwiftShader). Within a
      // round, a fast block gets more than its 4 samples, up to 32,
      // until they add up to 150 ms: its median is the noisy one.
      rounds: 3,
      reps: 4,
      minMs: 150,
      signal: controller.signal,
      onProgress(done, total, key) {
        ui.progress.value = total ? done / total : 0;
        const secs = (performance.now() - started) / 1000;
        const eta = done ? Math.round(secs / done * (total - done)) : 0;
        ui.label.textContent = `${done} of ${total} timings` + (done ? `, about ${eta} s left` : "") + (key ? ` (last: ${key})` : "");
      },
    });
    const rows = JSON.parse(table).rows.length;
    say(`Done: ${rows} blocks timed in ${Math.round((performance.now() - started) / 1000)} s. Download the table or send it to this server.`);
  } catch (err) {
    say(err && err.code === "aborted" ? "Aborted: no table." : `The profile failed: ${describe(err)}`);
  } finally {
    controller = null;
    setRunning(false);
  }
}

function save() {
  if (!table) return;
  const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
  download(new Blob([table], { type: "application/json" }), `edgetoon-latency-${stamp}.json`);
}

async function send() {
  if (!table) return;
  ui.send.disabled = true;
  say("Sending…");
  try {
    const resp = await fetch("/api/latency", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: table,
    });
    const reply = await resp.json().catch(() => ({}));
    if (resp.status === 201) say(`Sent: the server stored it as ${reply.name}.`);
    else if (resp.status === 200) say(`This server already has this table (${reply.name}).`);
    else if (resp.status === 404 || resp.status === 405) say("This server does not collect tables: start it with -latency-dir DIR, or download the table instead.");
    else say(`The server refused the table: ${reply.error || resp.statusText}`);
  } catch (err) {
    say(`Could not reach the server: ${describe(err)}`);
  } finally {
    ui.send.disabled = !table;
  }
}

ui.start.addEventListener("click", start);
ui.abort.addEventListener("click", () => controller && controller.abort());
ui.download.addEventListener("click", save);
ui.send.addEventListener("click", send);
// Start is offered only where the server has the profiler's engine.
fetch(labWasm, { method: "HEAD" }).then((r) => r.ok, () => false).then((built) => {
  if (built) ui.start.disabled = false;
  else say("This server has no profiler engine (edgetoon-lab.wasm): run make lab-wasm, then rebuild and restart edgetoon serve.");
  document.body.dataset.ready = "1";
});
