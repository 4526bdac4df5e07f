// Live health on the cluster page: rows follow the "health" events of the cluster's websocket.
(function () {
  "use strict";
  var section = document.getElementById("health");
  if (!section || !window.WebSocket) { return; }
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  function text(row, selector, value) {
    var cell = row.querySelector(selector);
    if (cell) { cell.textContent = value; }
  }
  function redraw(item) {
    var row = section.querySelector('tr[data-real-server="' + item.real_server + '"]');
    if (!row) { return; }
    var badge = row.querySelector(".health-status");
    if (badge) {
      badge.className = "badge health-status " + item.status;
      badge.textContent = item.status;
    }
    text(row, ".health-message", item.message || "—");
    text(row, ".health-latency", item.latency_ms === null ? "—" : item.latency_ms.toFixed(1) + " ms");
    text(row, ".health-checked", item.checked_at ? new Date(item.checked_at).toLocaleTimeString() : "—");
  }
  function prepend(transition) {
    var row = section.querySelector('tr[data-real-server="' + transition.real_server + '"]');
    var cell = row && row.querySelector(".health-timeline");
    if (!cell) { return; }
    var entry = document.createElement("span");
    entry.title = transition.message;
    var badge = document.createElement("span");
    badge.className = "badge " + transition.to;
    badge.textContent = transition.from + " → " + transition.to;
    entry.appendChild(badge);
    entry.appendChild(document.createTextNode(" " + new Date(transition.at).toLocaleString()));
    cell.insertBefore(document.createElement("br"), cell.firstChild);
    cell.insertBefore(entry, cell.firstChild);
  }
  function connect() {
    var socket = new WebSocket(scheme + window.location.host + section.dataset.websocket);
    socket.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type !== "health") { return; }
      event.real_servers.forEach(redraw);
      event.transitions.forEach(prepend);
    };
    socket.onclose = function (closed) {
      if (closed.code !== 4403) { window.setTimeout(connect, 5000); }
    };
  }
  connect();
})();
