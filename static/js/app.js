// ZeroTouch: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // The browser's time zone, for the server to show wall-clock times in (unless the person
  // chose one on the Account page); the next page uses it.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names ("Europe/Paris", "America/Port-au-Prince") are valid cookie values as they are.
    if (tz && /^[A-Za-z0-9_+\/-]+$/.test(tz) && document.cookie.indexOf("zt_tz=" + tz) === -1) {
      document.cookie = "zt_tz=" + tz + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: the server's zone */ }
  // The phone's menu: the navigation folds behind one button (CSS hides it below 760px).
  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest(".menu-toggle");
    if (!toggle) return;
    var open = toggle.closest(".topbar").classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  // A table wider than the screen scrolls in its own box; a box that scrolls takes the
  // keyboard's focus, so it can be scrolled without a mouse.
  function scrollable(root) {
    root.querySelectorAll(".table-scroll").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("tabindex", "0");
      else box.removeAttribute("tabindex");
    });
  }
  scrollable(document);
  window.addEventListener("resize", function () { scrollable(document); });
  document.body.addEventListener("htmx:afterSwap", function (ev) { scrollable(ev.target); });
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
