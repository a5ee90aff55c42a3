// Collections app: Procore popup sign-in and side-panel context. No inline scripts (CSP script-src 'self').
(function () {
  "use strict";

  function procoreHosts() {
    var meta = document.querySelector('meta[name="procore-hosts"]');
    return meta ? meta.content.split(/\s+/).filter(Boolean) : [];
  }

  // ---- Connect to Procore: the login page cannot be framed, so it opens in a popup. ----
  function setupConnect() {
    var button = document.getElementById("connect-button");
    if (!button) { return; }
    var statusLine = document.getElementById("connect-status");
    var form = document.getElementById("complete-form");
    var popup = null;
    window.addEventListener("message", function (event) {
      if (event.origin !== window.location.origin) { return; }  // only our own callback page
      if (!popup || event.source !== popup) { return; }
      var data = event.data || {};
      if (data.type === "authentication.success" && data.payload && data.payload.ticket) {
        statusLine.textContent = "Connected. Loading your receivables…";
        form.elements.ticket.value = data.payload.ticket;
        form.submit();
      } else if (data.type === "authentication.failure") {
        statusLine.textContent = "Procore sign-in did not complete: " + ((data.payload && data.payload.error) || "unknown error");
      }
    });
    button.addEventListener("click", function () {
      var width = 560, height = 600;
      var left = window.screenX + Math.max(0, (window.outerWidth - width) / 2);
      var top = window.screenY + Math.max(0, (window.outerHeight - height) / 2);
      popup = window.open(button.dataset.connectUrl, "procore-sign-in",
        "width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
      if (!popup) {
        statusLine.textContent = "Your browser blocked the sign-in window. Allow pop-ups for this app and try again.";
        return;
      }
      statusLine.textContent = "Waiting for Procore sign-in…";
      var timer = setInterval(function () {
        if (popup.closed) {
          clearInterval(timer);
          if (statusLine.textContent.indexOf("Waiting") === 0) {
            statusLine.textContent = "The sign-in window was closed before connecting.";
          }
        }
      }, 500);
    });
  }

  // ---- Side panel: ask Procore for the record in view, follow it when the user navigates. ----
  function setupPanel() {
    var panel = document.getElementById("panel-context");
    if (!panel || window.parent === window) { return; }
    var allowed = procoreHosts();
    var parentOrigin = "";
    try { parentOrigin = new URL(document.referrer).origin; } catch (e) { parentOrigin = ""; }
    if (allowed.indexOf(parentOrigin) === -1) {
      panel.textContent = "This panel only works inside Procore.";
      return;
    }
    var lastContext = null, lastKey = "", wasHidden = false;
    function contextKey(c) { return [c.company_id, c.project_id, c.view, c.id].join("|"); }
    function formOpen() { return !!document.querySelector("#panel-form form"); }
    function load(context) {
      lastContext = context;
      lastKey = contextKey(context);
      var params = new URLSearchParams({
        company_id: String(context.company_id || panel.dataset.companyId || ""),
        project_id: String(context.project_id || panel.dataset.projectId || ""),
        view: String(context.view || ""),
        id: String(context.id || "")
      });
      window.htmx.ajax("GET", panel.dataset.contextUrl + "?" + params.toString(), { target: "#panel-context", swap: "innerHTML" });
    }
    window.addEventListener("message", function (event) {
      if (event.origin !== parentOrigin || event.source !== window.parent) { return; }
      var data = event.data || {};
      if (data.type === "setup" && data.context) {
        // A new record in view: follow it. The same record again: keep what is on screen.
        if (contextKey(data.context) !== lastKey) { load(data.context); }
      } else if (data.type === "sidepanel:app:hidden") {
        wasHidden = true;
      } else if (data.type === "sidepanel:app:visible") {
        // Shown again after being hidden: refresh, unless the bookkeeper is in the middle of a form.
        if (wasHidden && lastContext && !formOpen()) { load(lastContext); }
        wasHidden = false;
      }
    });
    window.parent.postMessage({ type: "initialize" }, parentOrigin);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupConnect();
    setupPanel();
  });
})();

// Expand a customer row to its invoices (buttons with data-toggle-rows="<id of the hidden row>").
document.addEventListener("click", function (event) {
  "use strict";
  var button = event.target.closest ? event.target.closest("[data-toggle-rows]") : null;
  if (!button) { return; }
  var row = document.getElementById(button.dataset.toggleRows);
  if (!row) { return; }
  var open = row.hasAttribute("hidden");
  if (open) { row.removeAttribute("hidden"); } else { row.setAttribute("hidden", ""); }
  button.setAttribute("aria-expanded", open ? "true" : "false");
  button.textContent = open ? "▾" : "▸";
});

// Work-log forms and buttons (data-swap-errors): the app's plain-words error fragment is the answer to show in
// place, not an htmx error (base.html's responseHandling already swaps 4xx/5xx).
document.addEventListener("htmx:beforeSwap", function (event) {
  "use strict";
  var elt = event.detail.elt;
  if (event.detail.xhr.status >= 400 && elt && elt.closest && elt.closest("[data-swap-errors]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// Section tabs swap #section with htmx: keep aria-current on the tab that was chosen.
document.addEventListener("click", function (event) {
  "use strict";
  var link = event.target.closest ? event.target.closest(".tabs a[hx-get]") : null;
  if (!link) { return; }
  link.parentNode.querySelectorAll("a[aria-current]").forEach(function (a) { a.removeAttribute("aria-current"); });
  link.setAttribute("aria-current", "page");
});
