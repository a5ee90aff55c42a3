// OAuth callback page (runs in the popup, on the app's own origin).
// Procore may return the code in the query string or in the URL fragment: move a fragment into the query so
// the server can finish the exchange, then hand the one-time ticket to the opener (the framed app, same origin).
(function () {
  "use strict";
  var result = document.getElementById("oauth-result");
  var status = result ? result.dataset.status : "";
  if (status === "pending" && window.location.hash.length > 1) {
    var params = new URLSearchParams(window.location.hash.slice(1));
    if (params.get("code") || params.get("error")) {
      window.location.replace(window.location.pathname + "?" + params.toString());
      return;
    }
  }
  if (!window.opener) { return; }
  var origin = window.location.origin;  // the opener is the framed app: same origin as this page
  if (status === "success") {
    window.opener.postMessage({ type: "authentication.success", payload: { ticket: result.dataset.ticket } }, origin);
    window.close();
  } else if (status === "failure") {
    window.opener.postMessage({ type: "authentication.failure", payload: { error: result.dataset.error } }, origin);
  }
})();
