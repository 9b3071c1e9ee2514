// offline.js: the page's offline mode. It registers the service worker
// (sw.js), which precaches the page, the engine and the default model, and
// offers to switch to a new version once one has installed.

/**
 * registerServiceWorker registers sw.js where the browser can (a secure
 * context: HTTPS or localhost). A new version waits until every tab of the
 * old one is gone, so that no page mixes versions; until then `update`
 * (an element) is shown and `reload` (a button in it) switches now.
 */
export function registerServiceWorker(update, reload) {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("/sw.js").then((reg) => {
    const offer = () => { update.hidden = !(reg.waiting && navigator.serviceWorker.controller); };
    offer();
    reg.addEventListener("updatefound", () => {
      reg.installing?.addEventListener("statechange", offer);
    });
    reload.onclick = () => {
      navigator.serviceWorker.addEventListener("controllerchange", () => location.reload(), { once: true });
      reg.waiting?.postMessage("skip-waiting");
    };
  }, (err) => console.warn("edgetoon: no offline mode:", err));
}
