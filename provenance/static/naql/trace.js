/* Live progress of a trace: poll /traces/<ID>.json, update the panel, reload when done (the page
   then shows the chain). No dependencies. */
(function () {
  "use strict";
  function field(panel, name) { return panel.querySelector('[data-f="' + name + '"]'); }
  function set(panel, name, value) { var el = field(panel, name); if (el) { el.textContent = value; } }

  function render(panel, t) {
    var p = t.progress || {};
    panel.setAttribute("data-state", t.state);
    set(panel, "state", t.state);
    set(panel, "phase", p.phase || "");
    set(panel, "hop", p.hop === null || p.hop === undefined ? "0" : String(p.hop));
    set(panel, "documents", String(p.documents || 0));
    set(panel, "attempts", String(p.attempts || 0));
    set(panel, "url", p.url || "");
    var list = document.getElementById("nq-trace-steps");
    if (list) {
      while (list.children.length < (t.steps || []).length) {
        var s = t.steps[list.children.length];
        var li = document.createElement("li");
        li.textContent = "[" + s.at + "s] " + s.phase + ": " + s.message;
        list.appendChild(li);
      }
      list.scrollTop = list.scrollHeight;
    }
  }

  function poll(panel, url, delay, failures) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (t) {
        render(panel, t);
        if (t.done) { window.location.reload(); return; }
        setTimeout(function () { poll(panel, url, Math.min(delay * 1.2, 2000), 0); }, delay);
      })
      .catch(function () {
        if (failures < 5) { setTimeout(function () { poll(panel, url, 2000, failures + 1); }, 2000); }
      });
  }

  function init() {
    var panel = document.getElementById("nq-trace");
    if (!panel) { return; }
    var state = panel.getAttribute("data-state");
    if (state === "pending" || state === "running") { poll(panel, panel.getAttribute("data-json"), 300, 0); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
