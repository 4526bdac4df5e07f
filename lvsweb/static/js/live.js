/* lvsweb live status: follows a cluster's websocket (/ws/clusters/<slug>/) and redraws what changed.

A page opts in with data-live-cluster="slug [slug …]" and marks what can change:
  [data-deployment="ID"] with [data-field="status" | "operations" | "error" | "started" | "finished"] inside (deployment events);
  [data-host-state="hostname"] badges (host events);
  [data-live-region][id] parts that are fetched again after a reconnect (events may have been missed);
  [data-live-status] where the connection state is written.
The page is complete and correct without this file: it renders the current state on every load.
*/
(function () {
  "use strict";

  var root = document.querySelector("[data-live-cluster]");
  if (!root || !window.WebSocket) return;
  var labels = {};
  var labelsNode = document.getElementById("live-labels");
  if (labelsNode) labels = JSON.parse(labelsNode.textContent);
  var statusNode = document.querySelector("[data-live-status]");
  var STATUS_LABELS = { pending: "pending", applying: "applying", applied: "applied", failed: "failed" };
  var slugs = root.getAttribute("data-live-cluster").split(/\s+/).filter(Boolean).slice(0, 10);
  var open = 0;

  function say(text) {
    if (statusNode) statusNode.textContent = text;
  }

  function setBadge(node, value, label) {
    node.className = "badge " + value;
    node.textContent = label;
  }

  function onDeployment(event) {
    document.querySelectorAll('[data-deployment="' + event.deployment + '"]').forEach(function (row) {
      var status = row.querySelector('[data-field="status"]');
      if (status) setBadge(status, event.status, STATUS_LABELS[event.status] || event.status);
      var operations = row.querySelector('[data-field="operations"]');
      if (operations) {
        var waiting = event.kind === "plan" && (event.status === "pending" || event.status === "applying");
        operations.textContent = waiting ? "…" : String((event.operations || []).length);
      }
      var error = row.querySelector('[data-field="error"]');
      if (error) error.textContent = event.error || "";
      ["started", "finished"].forEach(function (name) {
        var cell = row.querySelector('[data-field="' + name + '"]');
        if (cell && event[name]) cell.textContent = event[name];
      });
    });
  }

  function onHost(event) {
    var states = labels.states || {};
    document.querySelectorAll('[data-host-state="' + event.host + '"]').forEach(function (badge) {
      setBadge(badge, event.state, states[event.state] || event.state);
    });
  }

  // After a reconnect, events sent meanwhile are lost: fetch the page again and swap its live regions.
  function refreshRegions() {
    var regions = document.querySelectorAll("[data-live-region][id]");
    if (!regions.length || !window.fetch || !window.DOMParser) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var replacement = fresh.getElementById(region.id);
          if (replacement) region.replaceWith(document.importNode(replacement, true));
        });
      })
      .catch(function () {});
  }

  function connect(slug, attempt, reconnecting) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/clusters/" + encodeURIComponent(slug) + "/");
    var opened = false;
    socket.onopen = function () {
      opened = true;
      open += 1;
      say("Live: changes appear as they happen.");
      if (reconnecting) refreshRegions();
    };
    socket.onmessage = function (message) {
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (event.type === "deployment") onDeployment(event);
      else if (event.type === "host") onHost(event);
    };
    socket.onclose = function (close) {
      if (opened) open -= 1;
      if (close.code === 4403) {
        say("Live updates refused: you no longer have access to this cluster. Reload the page.");
        return;
      }
      // Back off: 1 s, 2 s, 4 s … at most 30 s; a connection that had opened starts again at 1 s.
      var next = opened ? 0 : attempt + 1;
      var delay = Math.min(30000, 1000 * Math.pow(2, next));
      if (!open) say("Connection lost; reconnecting in " + Math.round(delay / 1000) + " s (the page shows the state of its last update).");
      window.setTimeout(function () {
        connect(slug, next, true);
      }, delay);
    };
  }

  say("Connecting for live updates…");
  slugs.forEach(function (slug) {
    connect(slug, 0, false);
  });
})();
