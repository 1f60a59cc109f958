// ZeroTouch: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Copy buttons (e.g. for a freshly created API token).
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim());
      btn.textContent = "Copied";
    }
  });
})();
