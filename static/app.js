// Collections app: Procore popup sign-in and side-panel context. No inline scripts (CSP script-src 'self').
(function () {
  "use strict";

  function procoreHosts() {
    var meta = document.querySelector('meta[name="procore-hosts"]');
    return meta ? meta.content.split(/\s+/).filter(Boolean) : [];
  }

  // ---- Connect to Procore: the login page cannot be framed, so it opens in a popup. ----
  var popup = null;
  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin) { return; }  // only our own callback page
    if (!popup || event.source !== popup) { return; }
    var statusLine = document.getElementById("connect-status");
    var form = document.getElementById("complete-form");
    if (!statusLine || !form) { return; }
    var data = event.data || {};
    if (data.type === "authentication.success" && data.payload && data.payload.ticket) {
      statusLine.textContent = "Connected. Loading your receivables…";
      form.elements.ticket.value = data.payload.ticket;
      form.submit();
    } else if (data.type === "authentication.failure") {
      statusLine.textContent = "Procore sign-in did not complete: " + ((data.payload && data.payload.error) || "unknown error");
    }
  });

  function setupConnect() {
    var button = document.getElementById("connect-button");
    if (!button || button.dataset.ready) { return; }
    button.dataset.ready = "1";
    var statusLine = document.getElementById("connect-status");
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
      var opened = popup;
      statusLine.textContent = "Waiting for Procore sign-in…";
      var timer = setInterval(function () {
        if (opened.closed) {
          clearInterval(timer);
          if (statusLine.textContent.indexOf("Waiting") === 0) {
            statusLine.textContent = "The sign-in window was closed before connecting.";
          }
        }
      }, 500);
    });
  }

  // ---- Side panel: ask Procore for the record in view, follow it when the user navigates. ----
  var panelListening = false;
  function setupPanel() {
    var panel = document.getElementById("panel-context");
    if (!panel || window.parent === window || panelListening) { return; }
    var allowed = procoreHosts();
    var parentOrigin = "";
    try { parentOrigin = new URL(document.referrer).origin; } catch (e) { parentOrigin = ""; }
    if (allowed.indexOf(parentOrigin) === -1) {
      panel.textContent = "This panel only works inside Procore.";
      return;
    }
    panelListening = true;
    var lastContext = null, lastKey = "", wasHidden = false;
    function contextKey(c) { return [c.company_id, c.project_id, c.view, c.id].join("|"); }
    function formOpen() { return !!document.querySelector("#panel-form form"); }
    function load(context) {
      var current = document.getElementById("panel-context");
      if (!current) { return; }
      lastContext = context;
      lastKey = contextKey(context);
      var params = new URLSearchParams({
        company_id: String(context.company_id || current.dataset.companyId || ""),
        project_id: String(context.project_id || current.dataset.projectId || ""),
        view: String(context.view || ""),
        id: String(context.id || "")
      });
      window.htmx.ajax("GET", current.dataset.contextUrl + "?" + params.toString(), { target: "#panel-context", swap: "innerHTML" });
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

  // ---- Cookie-less sessions (Safari refuses the iframe's cookie; see embedded_app/security.py). ----
  // Pages of a signed-in session carry X-Session-Token in <body hx-headers>; hx-boost sends it with every link
  // and form. It is kept in this frame's sessionStorage so that a reload (which cannot send headers, and so
  // shows the connect page) can load the same page again with it. Never put it in a URL.
  var TOKEN_KEY = "collections.sessionToken";
  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }
  function bodyHeaders() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { return {}; }
  }
  function rememberToken(forgetWhenMissing) {
    var store = storage();
    if (!store) { return; }
    var token = bodyHeaders()["X-Session-Token"];
    if (token) {
      store.setItem(TOKEN_KEY, token);
    } else if (forgetWhenMissing) {
      store.removeItem(TOKEN_KEY);  // the token we sent did not sign in (expired, disconnected)
    }
  }
  function loadPage(url, token) {
    // Like a boosted link: the whole page, swapped into <body> (HX-Boosted asks for the page, not a fragment).
    window.htmx.ajax("GET", url, { target: "body", swap: "innerHTML",
      headers: { "X-Session-Token": token, "HX-Boosted": "true" } });
  }
  function resumeSession() {
    var resume = document.getElementById("session-resume");
    var token = bodyHeaders()["X-Session-Token"];
    if (resume && token) {
      window.history.replaceState(null, "", resume.dataset.next);
      loadPage(resume.dataset.next, token);
      return;
    }
    var stored = storage() && storage().getItem(TOKEN_KEY);
    if (token || !stored || !document.getElementById("connect-button")) { return; }
    var statusLine = document.getElementById("connect-status");
    if (statusLine) { statusLine.textContent = "Loading…"; }
    loadPage(window.location.href, stored);
  }

  function setupPage() {
    setupConnect();
    setupPanel();
  }

  // A whole page swapped into <body> (boosted link or form, loadPage): htmx keeps the old <body> attributes, so
  // take the new page's class and hx-headers (CSRF and session tokens), keep its token, and set it up.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== document.body || !event.detail.xhr) { return; }
    var text = event.detail.xhr.responseText || "";
    if (!/<body[\s>]/i.test(text)) { return; }
    var page = new DOMParser().parseFromString(text, "text/html").body;
    ["class", "hx-headers"].forEach(function (name) {
      if (page.hasAttribute(name)) { document.body.setAttribute(name, page.getAttribute(name)); }
      else { document.body.removeAttribute(name); }
    });
    rememberToken(true);
    setupPage();
  });

  // Back/forward with no cached page: htmx asks the server again; send the session token along.
  document.addEventListener("htmx:historyCacheMiss", function (event) {
    var token = bodyHeaders()["X-Session-Token"] || (storage() && storage().getItem(TOKEN_KEY));
    if (token) { event.detail.xhr.setRequestHeader("X-Session-Token", token); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    rememberToken(false);
    setupPage();
    resumeSession();
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
