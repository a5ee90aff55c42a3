// Imitates Procore's side-panel protocol: answer {type: "initialize"} with {type: "setup", context}.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var frame = document.getElementById("side-panel");
    if (!frame) { return; }
    var appOrigin = new URL(frame.dataset.appOrigin).origin;
    function context() {
      return {
        company_id: Number(frame.dataset.companyId),
        project_id: Number(frame.dataset.projectId),
        id: Number(frame.dataset.contractId),
        view: "prime_contracts.detail"
      };
    }
    window.addEventListener("message", function (event) {
      if (event.origin !== appOrigin || event.source !== frame.contentWindow) { return; }
      if (event.data && event.data.type === "initialize") {
        frame.contentWindow.postMessage({ type: "setup", context: context() }, appOrigin);
        frame.contentWindow.postMessage({ type: "sidepanel:app:visible" }, appOrigin);
      }
    });
    var toggle = document.getElementById("toggle-panel");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var aside = frame.parentElement;
        var hide = !aside.hidden;
        aside.hidden = hide;
        toggle.textContent = hide ? "Show panel" : "Hide panel";
        frame.contentWindow.postMessage({ type: hide ? "sidepanel:app:hidden" : "sidepanel:app:visible" }, appOrigin);
      });
    }
    var picker = document.getElementById("contract-picker");
    if (picker) {
      picker.addEventListener("change", function () {
        var option = picker.options[picker.selectedIndex];
        frame.dataset.contractId = option.value;
        frame.dataset.projectId = option.dataset.projectId;
        frame.contentWindow.postMessage({ type: "setup", context: context() }, appOrigin);
      });
    }
  });
})();
