// tgdesk: a little progressive enhancement. Every page works without it.
"use strict";

(function () {
  // Elements with data-local-time="<unix seconds>" show the reader's local time.
  function showLocalTimes(root) {
    root.querySelectorAll("[data-local-time]").forEach(function (el) {
      var secs = Number(el.getAttribute("data-local-time"));
      if (!Number.isFinite(secs) || secs <= 0) return;
      var date = new Date(secs * 1000);
      el.setAttribute("title", date.toISOString());
      el.textContent = date.toLocaleString();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showLocalTimes(document);
  });

  window.tgdesk = { showLocalTimes: showLocalTimes };
})();
