// Live director roles on the cluster page: each VIP group's row follows the "ha" events of the cluster's websocket.
(function () {
  "use strict";
  var section = document.getElementById("ha");
  if (!section || !window.WebSocket) { return; }
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var CLASSES = { master: "active", backup: "pending", unknown: "unknown" };
  function redraw(event) {
    var row = null;
    section.querySelectorAll("tr[data-ha-group]").forEach(function (candidate) {
      if (candidate.getAttribute("data-ha-group") === event.group) { row = candidate; }
    });
    if (!row) { return; }
    var holders = row.querySelector("[data-ha-holders]");
    if (holders) { holders.textContent = event.holders.length ? event.holders.join(", ") : "nobody"; }
    var warning = row.querySelector("[data-ha-warning]");
    if (warning) {
      warning.textContent = event.warning;
      warning.hidden = !event.warning;
    }
    event.roles.forEach(function (role) {
      row.querySelectorAll("[data-ha-role]").forEach(function (badge) {
        if (badge.getAttribute("data-ha-role") !== role.host) { return; }
        badge.className = "badge " + (CLASSES[role.state] || "down");
        badge.textContent = role.state_label + (role.state !== "unknown" && !role.current ? " (agent offline)" : "");
        badge.title = role.cause;
      });
    });
  }
  function connect() {
    var socket = new WebSocket(scheme + window.location.host + section.dataset.websocket);
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      if (event.type === "ha") { redraw(event); }
    };
    socket.onclose = function (closed) {
      if (closed.code !== 4403) { window.setTimeout(connect, 5000); }
    };
  }
  connect();
})();
