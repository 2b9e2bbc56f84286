/* The admin document view: click a claim to draw its chain; accept or reject suggestions in place
   (mouse or keyboard). Without this script the claim links open the claim and the buttons post
   the admin's own accept/reject actions; with it the same posts happen without leaving the page. */
(function () {
  "use strict";

  /* Messages in the page's language: naql.js's t(), loaded before this script. */
  function t(key, fallback, params) { return window.naqlT ? window.naqlT(key, fallback, params) : fallback; }

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  /* ---- claim → chain picture --------------------------------------------------------------- */
  function showChain(pk, focusPanel) {
    var panel = $("#nq-chain-panel");
    var tpl = document.getElementById("nq-chain-" + pk);
    if (!panel || !tpl) { return false; }
    panel.textContent = "";
    panel.appendChild(tpl.content.cloneNode(true));
    panel.dataset.claim = pk;
    $all(".nq-article mark[aria-current]").forEach(function (m) { m.removeAttribute("aria-current"); });
    $all('.nq-article mark[data-claim="' + pk + '"]').forEach(function (m) { m.setAttribute("aria-current", "true"); });
    if (focusPanel) {
      panel.focus({ preventScroll: true });
      var r = panel.getBoundingClientRect();
      if (r.top < 0 || r.top > window.innerHeight * 0.6) { panel.scrollIntoView({ block: "start", behavior: "smooth" }); }
    }
    return true;
  }

  function initClaims() {
    var article = $(".nq-article");
    if (!article) { return; }
    article.addEventListener("click", function (ev) {
      var a = ev.target.closest("a[data-claim]");
      if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) { return; }
      if (showChain(a.getAttribute("data-claim"), true)) { ev.preventDefault(); }
    });
  }

  /* Re-read the chain pictures and claim colours after a decision (the server draws them). */
  function refreshFromServer() {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        $all('template[id^="nq-chain-"]', doc).forEach(function (t) {
          var mine = document.getElementById(t.id);
          if (mine) { mine.replaceWith(document.importNode(t, true)); }
        });
        $all(".nq-article mark[data-claim]", doc).forEach(function (m) {
          $all('.nq-article mark[data-claim="' + m.getAttribute("data-claim") + '"]').forEach(function (mine) {
            var current = mine.getAttribute("aria-current");
            mine.className = m.className;
            if (current) { mine.setAttribute("aria-current", current); }
          });
        });
        var panel = $("#nq-chain-panel");
        if (panel && panel.dataset.claim) { showChain(panel.dataset.claim, false); }
      })
      .catch(function () { /* the page still shows the decision; a reload redraws the pictures */ });
  }

  /* ---- accept / reject in place ------------------------------------------------------------ */
  function decide(form, action) {
    var item = form.closest(".nq-review-item");
    var result = $(".nq-result", form);
    var buttons = $all("button", form);
    var data = new FormData(form);
    data.set("action", action);
    buttons.forEach(function (b) { b.disabled = true; });
    result.className = "nq-result";
    result.textContent = t("saving", "Saving…");
    // The buttons are named "action" (the admin's action field), so form.action is not the URL.
    var target = new URL(form.getAttribute("action"), window.location.href);
    return fetch(target.href, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) {
        // Success: the admin action redirects back to its changelist (a refusal does not).
        if (!r.ok || !r.redirected || new URL(r.url).pathname !== target.pathname) { throw new Error("HTTP " + r.status); }
        var status = action === "accept" ? "accepted" : "rejected";
        item.dataset.status = status;
        result.className = "nq-result ok";
        result.textContent = action === "accept" ? t("accepted_recorded", "Accepted — recorded in the history.")
          : t("rejected_recorded", "Rejected — recorded in the history.");
        buttons.forEach(function (b) { b.disabled = (b.value === action); });
        return refreshFromServer().then(function () { item.dataset.synced = "1"; });
      })
      .catch(function () {
        buttons.forEach(function (b) { b.disabled = false; });
        result.className = "nq-result bad";
        result.textContent = t("not_saved", "Not saved (permission or network problem). Try again, or use Edit.");
      });
  }

  function initReview() {
    var list = $(".nq-review-list");
    if (!list || !window.fetch) { return; }
    $all(".nq-review-form", list).forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var action = ev.submitter && ev.submitter.value ? ev.submitter.value : "accept";
        decide(form, action);
      });
    });
    list.addEventListener("keydown", function (ev) {
      if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
      var item = ev.target.closest(".nq-review-item");
      if (!item) { return; }
      var items = $all(".nq-review-item", list);
      var i = items.indexOf(item);
      var key = ev.key;
      if (key === "ArrowDown" || key === "j") {
        if (i < items.length - 1) { items[i + 1].focus(); }
        ev.preventDefault();
      } else if (key === "ArrowUp" || key === "k") {
        if (i > 0) { items[i - 1].focus(); }
        ev.preventDefault();
      } else if (key === "a" || key === "r") {
        var form = $(".nq-review-form", item);
        var button = $(key === "a" ? ".nq-accept" : ".nq-reject", form);
        if (button && !button.disabled) { decide(form, button.value); }
        ev.preventDefault();
      }
    });
    list.addEventListener("focusin", function (ev) {
      var item = ev.target.closest(".nq-review-item");
      var claim = item && item.getAttribute("data-claim");
      if (claim) { showChain(claim, false); }
    });
  }

  function init() { initClaims(); initReview(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
