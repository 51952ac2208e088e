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

  // The chats page: follow the account's events and show new messages
  // without reloading. Message text only ever goes in with textContent.
  function followChats() {
    var root = document.getElementById("chats");
    if (!root || !window.EventSource) return;
    var url = root.getAttribute("data-events-url");
    var openChat = root.getAttribute("data-open-chat");
    var list = document.getElementById("chat-list");
    var messages = document.getElementById("messages");

    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function messageItem(m) {
      var li = el("li", "message" + (m.outgoing ? " out" : ""));
      li.setAttribute("data-message-id", String(m.id));
      var meta = el("span", "meta");
      meta.appendChild(el("span", "sender", m.outgoing ? "You" : (m.sender && m.sender.name) || ""));
      meta.appendChild(document.createTextNode(" "));
      var time = el("time", "", String(m.date));
      time.setAttribute("data-local-time", String(m.date));
      meta.appendChild(time);
      li.appendChild(meta);
      li.appendChild(el("span", "text", m.text || ""));
      if (m.media_kind) li.appendChild(el("span", "media", "[" + m.media_kind + "]"));
      showLocalTimes(li);
      return li;
    }
    function findMessage(id) {
      return messages && messages.querySelector('li[data-message-id="' + Number(id) + '"]');
    }
    function bump(chatId, m, isOpen) {
      if (!list) return;
      var item = list.querySelector('li[data-chat-id="' + Number(chatId) + '"]');
      if (!item) return;
      var preview = item.querySelector(".chat-preview");
      if (preview) preview.textContent = m.text || (m.media_kind || "");
      var time = item.querySelector(".chat-time");
      if (time) {
        time.setAttribute("data-short-time", String(m.date));
        time.textContent = new Date(m.date * 1000).toLocaleTimeString();
      }
      var unread = item.querySelector(".unread");
      if (unread && !isOpen && !m.outgoing) {
        unread.textContent = String(Number(unread.textContent || "0") + 1);
        unread.classList.remove("none");
      }
      if (list.firstElementChild !== item) list.insertBefore(item, list.firstElementChild);
    }
    function onEvent(kind, ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (_) { return; }
      var isOpen = openChat !== null && String(e.chat_id) === openChat;
      if (kind === "message_new" && e.message) {
        if (isOpen && messages && !findMessage(e.message.id)) {
          messages.appendChild(messageItem(e.message));
          var empty = document.getElementById("no-messages");
          if (empty) empty.remove();
          messages.lastElementChild.scrollIntoView({ block: "nearest" });
        }
        bump(e.chat_id, e.message, isOpen);
      } else if (kind === "message_edited" && e.message && isOpen) {
        var old = findMessage(e.message.id);
        if (old) {
          var text = old.querySelector(".text");
          if (text) text.textContent = e.message.text || "";
        }
      } else if (kind === "message_deleted" && isOpen) {
        var gone = findMessage(e.message_id);
        if (gone) gone.classList.add("deleted");
      }
    }
    var source = new EventSource(url);
    ["message_new", "message_edited", "message_deleted"].forEach(function (kind) {
      source.addEventListener(kind, function (ev) { onEvent(kind, ev); });
    });
    // The session ended (logout, reset, revoked): reloading shows why and
    // leads to logging in again.
    source.addEventListener("session_ended", function () {
      source.close();
      window.location.reload();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    showLocalTimes(document);
    watchQr();
    followChats();
  });

  window.tgdesk = { showLocalTimes: showLocalTimes };
})();
