/* lvsweb live traffic: follows the traffic websocket of the cluster and of the page's services
(/ws/clusters/<slug>/traffic/?services=1,2,…) and redraws the figures.

The page ([data-traffic-cluster]) renders the figures of page load and, in #traffic-initial, each director's
rows. Every traffic event carries one director's changed rows (services' totals on the cluster's events, real
servers' rows on those of the page's services) ([service, real server, present, active,
inactive, cps, in_pps, out_pps, in_bps, out_bps]); a row of the page shows the sum over its directors.
Every second each row's sparkline takes the current new-connections rate, and a director whose events stop
for data-stale-after seconds is marked stale. The chart (uPlot) reads /clusters/<slug>/services/<id>/traffic/history/.
*/
(function () {
  "use strict";

  var root = document.querySelector("[data-traffic-cluster]");
  if (!root) return;
  var slug = root.getAttribute("data-traffic-cluster");
  var historyUrl = root.getAttribute("data-history-url");
  var staleAfter = parseFloat(root.getAttribute("data-stale-after") || "10") * 1000;
  var statusNode = root.querySelector("[data-traffic-status]");
  var FIELDS = ["active", "inactive", "cps", "in_pps", "out_pps", "in_bps", "out_bps"];
  var SPARK_POINTS = 60;

  var perDirector = {}; // director id → key ("service:real server") → figures
  var lastSeen = {}; // director id → ms of its last event
  var sparks = {}; // key → recent cps values

  function say(text) {
    if (statusNode) statusNode.textContent = text;
  }

  function readInitial(doc) {
    var node = doc.getElementById("traffic-initial");
    perDirector = node ? JSON.parse(node.textContent) : {};
    doc.querySelectorAll("[data-traffic-feed]").forEach(function (badge) {
      var last = parseFloat(badge.getAttribute("data-last"));
      if (last) lastSeen[badge.getAttribute("data-traffic-feed")] = last * 1000;
    });
  }

  // The same format as the page's own (traffic_tags.per_second): 12.5, 12.5 k, 12.5 MB.
  function format(value, unit) {
    if (value === null || value === undefined) return "–";
    var prefixes = ["", "k", "M", "G", "T"];
    var index = 0;
    while (Math.abs(value) >= 1000 && index < prefixes.length - 1) {
      value /= 1000;
      index += 1;
    }
    var text = index === 0 && value === Math.round(value) ? String(value) : value.toFixed(1);
    var suffix = prefixes[index] + (unit || "");
    return suffix ? text + " " + suffix : text;
  }

  function fresh(directorId, now) {
    return lastSeen[directorId] && now - lastSeen[directorId] <= staleAfter;
  }

  // The sum over fresh directors of one row's figures, or null when no fresh director reports it.
  function sumOf(key, now) {
    var total = null;
    Object.keys(perDirector).forEach(function (directorId) {
      var figures = perDirector[directorId][key];
      if (!figures || !fresh(directorId, now)) return;
      total = total || [0, 0, 0, 0, 0, 0, 0];
      for (var i = 0; i < FIELDS.length; i++) total[i] += figures[i];
    });
    return total;
  }

  function drawRow(row, now) {
    var key = row.getAttribute("data-traffic-row");
    var figures = sumOf(key, now);
    FIELDS.forEach(function (name, index) {
      var cell = row.querySelector('[data-field="' + name + '"]');
      if (!cell) return;
      var unit = name.indexOf("bps") >= 0 ? "B" : "";
      cell.textContent = figures ? format(Math.round(figures[index] * 100) / 100, unit) : "–";
    });
    var values = (sparks[key] = sparks[key] || []);
    values.push(figures ? figures[2] : 0);
    if (values.length > SPARK_POINTS) values.shift();
    var line = row.querySelector("[data-sparkline] polyline");
    if (line) {
      var peak = Math.max.apply(null, values.concat([1e-9]));
      var step = 120 / (SPARK_POINTS - 1);
      var offset = SPARK_POINTS - values.length;
      line.setAttribute(
        "points",
        values
          .map(function (value, i) {
            return ((offset + i) * step).toFixed(1) + "," + (22 - (value / peak) * 20).toFixed(1);
          })
          .join(" ")
      );
    }
  }

  function tick() {
    var now = Date.now();
    root.querySelectorAll("[data-traffic-row]").forEach(function (row) {
      drawRow(row, now);
    });
    root.querySelectorAll("[data-traffic-feed]").forEach(function (badge) {
      var live = fresh(badge.getAttribute("data-traffic-feed"), now);
      badge.className = "badge " + (live ? "online" : "offline");
      var state = badge.querySelector("[data-feed-state]");
      if (state) state.textContent = live ? "live" : "stale";
    });
    chartTick(now);
  }

  function onTraffic(event) {
    var directorId = String(event.host_id);
    lastSeen[directorId] = Date.now();
    var rows = (perDirector[directorId] = perDirector[directorId] || {});
    event.rows.forEach(function (row) {
      var key = row[0] + ":" + (row[1] === null ? "" : row[1]);
      if (row[2]) rows[key] = row.slice(3);
      else delete rows[key];
    });
    (event.checked || []).forEach(function (serviceId) {
      root.querySelectorAll('[data-traffic-row^="' + serviceId + ':"]').forEach(function (row) {
        var badge = row.querySelector("[data-quiet]");
        var rs = row.getAttribute("data-traffic-row").split(":")[1];
        if (badge) badge.hidden = !rs || event.quiet.indexOf(parseInt(rs, 10)) < 0;
      });
    });
  }

  // -- the websocket, reconnected with exponential back-off (1 s … 30 s, with jitter) ------------------------
  var attempt = 0;
  var everOpen = false;

  function refetch() {
    if (!window.fetch || !window.DOMParser) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html) readInitial(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () {});
  }

  function connect() {
    if (!window.WebSocket) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    // The page's services: their real servers' rows come only to pages that show them (traffic.consumers).
    var services = {};
    root.querySelectorAll("[data-traffic-row]").forEach(function (row) {
      services[row.getAttribute("data-traffic-row").split(":")[0]] = true;
    });
    var path = "/ws/clusters/" + encodeURIComponent(slug) + "/traffic/?services=" + Object.keys(services).join(",");
    var socket = new WebSocket(scheme + window.location.host + path);
    socket.onopen = function () {
      attempt = 0;
      say("Live: figures update every second.");
      if (everOpen) refetch(); // events sent while disconnected are lost: start again from the page
      everOpen = true;
    };
    socket.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (event.type === "traffic") onTraffic(event);
    };
    socket.onclose = function (close) {
      if (close.code === 4403) {
        say("Live updates stopped: you may no longer see this cluster.");
        return;
      }
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      say("Connection lost; trying again in " + Math.round(delay / 1000) + " s.");
      window.setTimeout(connect, delay);
    };
  }

  // -- the chart ---------------------------------------------------------------------------------------------
  var chartNode = root.querySelector("[data-chart]");
  var seriesSelect = root.querySelector("[data-chart-series]");
  var figureSelect = root.querySelector("[data-chart-figure]");
  var range = "5m";
  var plot = null;
  var chartData = null;

  function chartKey() {
    return seriesSelect ? seriesSelect.value : null;
  }

  function loadChart() {
    if (!chartNode || !window.uPlot || !window.fetch || !chartKey()) return;
    var parts = chartKey().split(":");
    var url =
      historyUrl.replace("/services/0/", "/services/" + parts[0] + "/") +
      "?range=" + range + (parts[1] ? "&real_server=" + parts[1] : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json();
      })
      .then(function (data) {
        if (data.errors) return;
        var figure = figureSelect ? figureSelect.value : "cps";
        chartData = [data.t.slice(), data[figure].slice()];
        var options = {
          width: Math.max(chartNode.clientWidth, 300),
          height: 240,
          scales: { x: { time: true } },
          series: [{}, { label: figureSelect ? figureSelect.options[figureSelect.selectedIndex].text : figure, stroke: "#1f4fa8", width: 1.5, fill: "rgba(31,79,168,0.08)" }],
          axes: [{}, { size: 70 }],
        };
        if (plot) plot.destroy();
        plot = new window.uPlot(options, chartData, chartNode);
      })
      .catch(function () {});
  }

  // The 5-minute chart also moves live: the current figure is appended every second.
  function chartTick(now) {
    if (!plot || !chartData || range !== "5m") return;
    var figures = sumOf(chartKey(), now);
    var index = FIELDS.indexOf(figureSelect ? figureSelect.value : "cps");
    chartData[0].push(now / 1000);
    chartData[1].push(figures ? figures[index] : 0);
    while (chartData[0].length && chartData[0][0] < now / 1000 - 300) {
      chartData[0].shift();
      chartData[1].shift();
    }
    plot.setData(chartData);
  }

  root.querySelectorAll("[data-chart-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      range = button.getAttribute("data-chart-range");
      root.querySelectorAll("[data-chart-range]").forEach(function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
        other.classList.toggle("primary", other === button);
      });
      loadChart();
    });
  });
  if (seriesSelect) seriesSelect.addEventListener("change", loadChart);
  if (figureSelect) figureSelect.addEventListener("change", loadChart);

  readInitial(document);
  connect();
  loadChart();
  window.setInterval(tick, 1000);
})();
