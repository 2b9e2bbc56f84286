/* The provenance page: select a claim to show its sources (no reload; the links also work
   without this script, as ?claim=<ID>), and accept or reject a link or a relation in place. */
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function select(pk, focus) {
    var panel = $("#claim-panel");
    var target = document.getElementById("claim-" + pk);
    if (!panel || !target) { return false; }
    $all(".nq-claim-chain", panel).forEach(function (s) { s.hidden = s !== target; });
    var empty = $("[data-empty]", panel);
    if (empty) { empty.hidden = true; }
    $all(".nq-article mark[aria-current]").forEach(function (m) { m.removeAttribute("aria-current"); });
    $all('.nq-article mark[data-claim="' + pk + '"]').forEach(function (m) { m.setAttribute("aria-current", "true"); });
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "?claim=" + pk + "#claim-panel");
    }
    if (focus) {
      panel.focus({ preventScroll: true });
      var r = panel.getBoundingClientRect();
      if (r.top < 0 || r.bottom > window.innerHeight) { panel.scrollIntoView({ block: "nearest" }); }
    }
    return true;
  }

  function initClaims() {
    var article = $(".nq-article");
    if (!article) { return; }
    article.addEventListener("click", function (ev) {
      var a = ev.target.closest("a[data-claim]");
      if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) { return; }
      if (select(a.getAttribute("data-claim"), true)) { ev.preventDefault(); }
    });
  }

  function initReview() {
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      if (!form.classList || !form.classList.contains("nq-review-form")) { return; }
      var button = ev.submitter;
      if (!button || !window.fetch) { return; }
      ev.preventDefault();
      var data = new FormData(form);
      data.set("status", button.value);
      var out = $(".nq-result", form);
      $all("button", form).forEach(function (b) { b.disabled = true; });
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) { throw new Error((res.body.error || {}).message || "error"); }
          var item = form.closest("[data-link], [data-relation]");
          if (item) {
            item.classList.remove("st-accepted", "st-suggested", "st-rejected");
            item.classList.add("st-" + res.body.status);
            var badge = $('[data-f="status"]', item);
            if (badge) {
              badge.textContent = res.body.label;
              badge.className = "nq-badge " + (res.body.status === "accepted" ? "ok" : "bad");
            }
            var who = $('[data-f="reviewer"]', item);
            if (who) { who.textContent = res.body.reviewed; }
            item.setAttribute("data-status", res.body.status);
          }
          if (out) { out.textContent = res.body.label; }
        })
        .catch(function (err) { if (out) { out.textContent = err.message; } })
        .then(function () { $all("button", form).forEach(function (b) { b.disabled = false; }); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { initClaims(); initReview(); });
}());
