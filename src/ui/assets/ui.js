// homelabd dashboard: progressive enhancement only. Every page works without this file;
// with it, forms marked data-confirm ask first and live regions ([data-live] with an id)
// are refreshed in place when the daemon reports a change (server-sent events).
"use strict";
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  var badge = document.getElementById("live-state");
  if (!badge || !window.EventSource) {
    return;
  }
  function show(state) {
    badge.setAttribute("data-state", state);
    badge.textContent = state;
  }
  var pending = null;
  var busy = false;
  function refresh() {
    pending = null;
    if (busy) {
      pending = setTimeout(refresh, 200);
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var next = fresh.getElementById(old.id);
          if (next) {
            old.replaceWith(document.importNode(next, true));
          }
        });
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { show("stale"); })
      .then(function () { busy = false; });
  }
  var source = null;
  function connect() {
    source = new EventSource("/ui/events");
    source.addEventListener("open", function () { show("live"); });
    source.addEventListener("error", function () { show("reconnecting"); });
    source.addEventListener("change", function () {
      if (pending === null) {
        pending = setTimeout(refresh, 100);
      }
    });
  }
  // A page left open in the back-forward cache must not hold one of the browser's few
  // connections to the daemon: close the stream on leaving, open it again on return.
  window.addEventListener("pagehide", function () {
    if (source) {
      source.close();
      source = null;
    }
  });
  window.addEventListener("pageshow", function () {
    if (!source) {
      connect();
      refresh();
    }
  });
  connect();
})();
