// Draw every Plotly figure on the page: <div data-chart="id-of-json-script">, data from
// the figure's to_json() passed through json_script. Re-draws after htmx swaps.
(function () {
  "use strict";
  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-chart"));
      if (!src) return;
      var fig = JSON.parse(src.textContent);
      if (typeof fig === "string") fig = JSON.parse(fig);
      window.Plotly.react(el, fig.data, fig.layout, { responsive: true, displaylogo: false });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.body.addEventListener("htmx:afterSwap", function (ev) { draw(ev.target); });
})();
