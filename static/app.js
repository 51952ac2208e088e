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

  // The QR login page: keep the code current without reloading, and move on
  // once it was scanned. Polls a small JSON status; the server renews the
  // token before it expires and sends the new code as inline SVG.
  function watchQr() {
    var box = document.getElementById("qr");
    if (!box) return;
    var statusUrl = box.getAttribute("data-status-url");
    var form = document.getElementById("qr-complete");
    var message = document.getElementById("qr-message");
    var current = box.getAttribute("data-qr-url");
    var failures = 0;
    var finished = false;

    function say(text) {
      if (message) message.textContent = text;
    }
    function schedule(ms) {
      window.setTimeout(poll, ms);
    }
    function markStaleIfExpired() {
      var expires = Number(box.getAttribute("data-expires-at"));
      if (Number.isFinite(expires) && expires > 0 && Date.now() / 1000 > expires) {
        box.classList.add("stale");
      }
    }
    function apply(s) {
      if (s.state === "awaiting_scan") {
        if (s.svg && s.qr_url && s.qr_url !== current) {
          box.innerHTML = s.svg;
          current = s.qr_url;
          box.setAttribute("data-qr-url", current);
          box.setAttribute("data-expires-at", String(s.expires_at || 0));
        }
        box.classList.remove("stale");
        schedule(1500);
      } else if (s.state === "done" && !s.next) {
        finished = true;
        say("Scanned — finishing the login…");
        if (form) form.submit();
      } else if (s.next) {
        finished = true;
        if (s.message) say(s.message);
        window.location.assign(s.next);
      } else {
        schedule(3000);
      }
    }
    function poll() {
      if (finished) return;
      markStaleIfExpired();
      fetch(statusUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" }
      })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (s) {
          failures = 0;
          apply(s);
        })
        .catch(function () {
          failures += 1;
          say("Cannot reach tgdesk right now; trying again…");
          schedule(Math.min(10000, 1500 * (failures + 1)));
        });
    }
    schedule(1500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    showLocalTimes(document);
    watchQr();
  });

  window.tgdesk = { showLocalTimes: showLocalTimes };
})();
