// devloop's page script (devloop/browser.go): every HTML page the dev
// container serves loads it. It listens to devloop's event stream; when a
// new build takes over, the page reloads; when a save does not compile, the
// page shows the compiler's messages over it until a save that serves.
// No inline script or style: it works under `default-src 'self'`.
(() => {
  "use strict";
  if (window.__devloop) return; // a second copy, in an HTML fragment the page fetched
  // Tests read this: connected once the stream said hello.
  const state = (window.__devloop = { connected: false, build: null });
  const reloadedKey = "devloop-reloaded-for";
  let source = null;
  let overlay = null;
  let shown = null; // the failure the overlay shows
  // The failure the developer closed: it stays closed across reconnects,
  // and the next failed save shows again, even with the same message.
  let dismissed = null;
  const key = (failure) => failure.build + "\n" + failure.output;

  // sessionStorage throws in a sandboxed frame: there, every reload counts.
  function remembered() {
    try { return sessionStorage.getItem(reloadedKey); } catch { return null; }
  }

  function reload(build) {
    try { sessionStorage.setItem(reloadedKey, build); } catch { /* see remembered */ }
    location.reload();
  }

  function connect() {
    source = new EventSource("/__devloop/events");
    source.addEventListener("hello", (e) => {
      const hello = JSON.parse(e.data);
      state.connected = true;
      if (state.build === null) {
        state.build = hello.build;
        // A build that took over after this page was asked for may not be
        // the one that served it: reload, once per build.
        if (hello.build && hello.switchedAt > performance.timeOrigin &&
            remembered() !== hello.build) {
          reload(hello.build);
          return;
        }
      } else if (hello.build && hello.build !== state.build) {
        reload(hello.build); // a new build, or a restarted container, while away
        return;
      }
      show(hello.failure);
    });
    source.addEventListener("reload", (e) => {
      const { build } = JSON.parse(e.data);
      if (build !== state.build) reload(build);
    });
    source.addEventListener("failure", (e) => show(JSON.parse(e.data)));
    source.onerror = () => {
      state.connected = false;
      // The browser retries by itself unless the answer was not a stream
      // (a container starting): then we do.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
    };
  }

  // A browser holds at most six connections to one host over HTTP/1.1: a
  // hidden tab gives its stream back, and catches up when shown again.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      if (source) source.close();
      source = null;
      state.connected = false;
    } else if (!source) {
      connect();
    }
  });

  function style(el, props) {
    for (const [name, value] of Object.entries(props)) el.style.setProperty(name, value, "important");
    return el;
  }

  function show(failure) {
    if (!failure) {
      if (overlay) overlay.remove();
      overlay = null;
      return;
    }
    if (key(failure) === dismissed) return;
    if (overlay) overlay.remove();
    overlay = style(document.createElement("div"), {
      position: "fixed", inset: "0", "z-index": "2147483647", overflow: "auto",
      background: "#18181b", color: "#f4f4f5", padding: "32px",
      font: "14px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      "text-align": "left",
    });
    shown = failure;
    overlay.id = "devloop-overlay";
    overlay.setAttribute("role", "alertdialog");
    const title = style(document.createElement("div"), {
      color: "#ff6b6b", "font-weight": "bold", "font-size": "16px", "margin-bottom": "8px",
    });
    title.textContent = "devloop: " + failure.title;
    const note = style(document.createElement("div"), { color: "#a1a1aa", "margin-bottom": "16px" });
    note.textContent = failure.serving
      ? `build ${failure.serving} still serves; this page reloads by itself once a save compiles and serves.`
      : "no build serves yet; this page reloads by itself once a save compiles and serves.";
    const output = style(document.createElement("pre"), {
      margin: "0", "white-space": "pre-wrap", "word-break": "break-word", font: "inherit",
      background: "#000", color: "#f4f4f5", padding: "16px", "border-radius": "6px",
    });
    output.className = "devloop-output";
    output.textContent = failure.output;
    const close = style(document.createElement("button"), {
      position: "absolute", top: "12px", right: "16px", background: "none", border: "none",
      color: "#f4f4f5", "font-size": "24px", cursor: "pointer",
    });
    close.type = "button";
    close.textContent = "×";
    close.title = "Dismiss (Esc)";
    close.addEventListener("click", dismiss);
    overlay.append(close, title, note, output);
    (document.body || document.documentElement).append(overlay);
  }

  function dismiss() {
    dismissed = key(shown);
    show(null);
  }

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && overlay) dismiss();
  });

  if (document.visibilityState !== "hidden") connect();
})();
