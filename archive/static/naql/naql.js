/* Naql public pages: capture with live job progress (home), one-click copy of citations and the
   diff chooser (snapshot page). Everything works without this script; it only makes it nicer. */
(function () {
  "use strict";

  var STEPS = ["pending", "running", "fetched", "written", "succeeded"];
  /* Messages in the page's language, from the JSON block the server renders (naql_js_messages);
     the English text is the fallback. */
  var MSGS = null;
  function t(key, fallback, params) {
    if (MSGS === null) {
      var el = document.getElementById("nq-msgs");
      try { MSGS = el ? JSON.parse(el.textContent) : {}; } catch (e) { MSGS = {}; }
    }
    var s = MSGS[key] || fallback;
    Object.keys(params || {}).forEach(function (k) { s = s.split("%(" + k + ")s").join(params[k]); });
    return s;
  }
  window.naqlT = t;  /* for the other scripts of Naql's pages (workbench.js in the admin) */

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function field(panel, name) { return panel.querySelector('[data-f="' + name + '"]'); }

  /* ---- capture + job progress ------------------------------------------------------------- */
  function renderJob(panel, job) {
    panel.hidden = false;
    panel.dataset.state = job.state;
    field(panel, "id").textContent = job.id;
    var badge = field(panel, "state");
    badge.textContent = t(job.state, job.state) +
      (job.state === "pending" && job.attempts ? " (" + t("retry", "retry %(n)s", { n: job.attempts }) + ")" : "");
    badge.className = "nq-badge" + (job.state === "succeeded" ? " ok" : job.state === "failed" ? " bad" : " warn");
    field(panel, "url").textContent = job.display_url || job.url;
    var done = ["pending"];
    if (job.started_at || job.state !== "pending") done.push("running");
    (job.steps || []).forEach(function (s) { if (done.indexOf(s) < 0) done.push(s); });
    if (job.state === "succeeded") done.push("succeeded");
    var list = $(".nq-steps", panel);
    list.textContent = "";
    STEPS.forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = t(s, s === "pending" ? "queued" : s);
      if (done.indexOf(s) >= 0) { li.className = "done"; }
      list.appendChild(li);
    });
    if (job.state === "failed") {
      var li = document.createElement("li");
      li.textContent = t("failed", "failed");
      li.className = "failed";
      list.appendChild(li);
    }
    var bar = $(".nq-bar span", panel);
    if (bar) { bar.style.width = Math.round(100 * done.length / STEPS.length) + "%"; }
    var result = field(panel, "result");
    result.textContent = "";
    if (job.snapshot) {
      result.appendChild(document.createTextNode(t("captured", "Captured:") + " "));
      var a = document.createElement("a");
      a.href = job.snapshot.page;
      a.className = "nq-guid";
      a.id = "nq-job-snapshot";
      a.textContent = job.snapshot.id;
      result.appendChild(a);
      if (job.snapshot.title) {
        var title = document.createElement("bdi");
        title.textContent = job.snapshot.title;
        result.appendChild(document.createTextNode(" "));
        result.appendChild(title);
      }
      result.appendChild(document.createTextNode(" (HTTP " + job.snapshot.status + ")"));
    } else if (job.error) {
      result.textContent = t("failed_because", "Failed: %(message)s [%(code)s]",
                             { message: job.error.message, code: job.error.code });
    } else {
      result.textContent = job.state === "pending" ? t("waiting", "Waiting for a worker…") :
        job.done ? t("done_hidden", "Done; its snapshot is not available to you.") : t("capturing", "Capturing…");
    }
  }

  function poll(panel, url, delay, failures) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (job) {
        renderJob(panel, job);
        if (!job.done) { setTimeout(function () { poll(panel, url, Math.min(delay * 1.3, 3000), 0); }, delay); }
      })
      .catch(function () {
        if (failures < 5) { setTimeout(function () { poll(panel, url, 2000, failures + 1); }, 2000); }
      });
  }

  function initCapture() {
    var form = $("#nq-capture");
    var panel = $("#nq-job");
    if (!form || !panel || !window.fetch) { return; }
    var initial = $("#nq-job-data");
    var job = initial ? JSON.parse(initial.textContent) : null;
    if (job) {
      renderJob(panel, job);
      if (!job.done) { poll(panel, "/jobs/" + job.id + ".json", 600, 0); }
    }
    var error = $("#nq-capture-error");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      error.textContent = "";
      button.disabled = true;
      fetch(form.getAttribute("action"), { method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (res) {
          button.disabled = false;
          if (!res.ok) { error.textContent = (res.data.error && res.data.error.message) || t("not_queued", "Could not queue the capture."); return; }
          renderJob(panel, res.data.job);
          if (!res.data.job.done) { poll(panel, res.data.status_url, 500, 0); }
        })
        .catch(function () { button.disabled = false; error.textContent = t("no_answer", "Naql did not answer; try again."); });
    });
  }

  /* ---- copy buttons ------------------------------------------------------------------------ */
  function announce(el, text) {
    if (!el) { return; }
    el.textContent = text;
    setTimeout(function () { if (el.textContent === text) { el.textContent = ""; } }, 4000);
  }

  function copyText(text, source) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    return new Promise(function (resolve, reject) {
      if (source && source.select) { source.select(); }
      try { if (document.execCommand("copy")) { resolve(); } else { reject(new Error("copy refused")); } }
      catch (e) { reject(e); }
    });
  }

  function initCopy() {
    $all("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) { return; }
        var text = target.value !== undefined ? target.value : target.textContent;
        var status = document.getElementById(button.getAttribute("data-status") || "nq-copy-status");
        copyText(text, target).then(function () {
          button.dataset.copied = "1";
          announce(status, t("copied", "Copied %(what)s to the clipboard.",
                             { what: button.getAttribute("data-label") || "" }));
        }, function () {
          if (target.select) { target.select(); }
          announce(status, t("press_copy", "Press Ctrl+C to copy the selected text."));
        });
      });
    });
  }

  /* ---- diff chooser -------------------------------------------------------------------------- */
  function initCompare() {
    var form = $("#nq-compare");
    if (!form) { return; }
    var button = form.querySelector("button[type=submit]");
    var note = $("#nq-compare-note");
    function check() {
      var a = form.querySelector("input[name=a]:checked");
      var b = form.querySelector("input[name=b]:checked");
      var same = !a || !b || a.value === b.value;
      if (button) { button.disabled = same; }
      if (note) { note.textContent = same ? t("choose_two", "Choose two different captures.") : ""; }
    }
    form.addEventListener("change", check);
    check();
  }

  function init() { initCapture(); initCopy(); initCompare(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
