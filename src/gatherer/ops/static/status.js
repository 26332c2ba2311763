// The status page: renders each picture the server pushes (server-sent events on /events) and
// draws the last hour as SVG polylines, by hand: no library, nothing fetched from elsewhere.
"use strict";
(function () {
  const HOUR_S = 3600;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#e377c2"];
  const SVG = "http://www.w3.org/2000/svg";
  let history = [];  // [t, {market: fps}, durable_lag_s, store_lag_s, up]
  const $ = (id) => document.getElementById(id);
  const num = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 });
  const secs = (s) => (s >= 1 ? s.toFixed(1) + " s" : (s * 1000).toFixed(0) + " ms");
  const bytes = (b) => (b / 1e9).toFixed(1) + " GB";
  const text = (id, t) => { $(id).textContent = t; };

  function rows(tbody, data) {
    tbody.replaceChildren(...data.map((cells) => {
      const tr = document.createElement("tr");
      for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
      return tr;
    }));
  }

  function render(p) {
    const badge = $("health");
    badge.textContent = p.idle ? "idle" : p.healthy ? "healthy" : "attention";
    badge.className = "badge " + (p.healthy ? "ok" : "bad");
    text("updated", "updated " + new Date(p.updated_s * 1000).toLocaleTimeString());
    $("why").replaceChildren(...p.why.map((w) => { const li = document.createElement("li"); li.textContent = w; return li; }));
    const fps = p.rates.reduce((a, r) => a + r.fps, 0);
    const frames = p.rates.reduce((a, r) => a + r.frames_total, 0);
    text("fps-total", num(fps));
    text("frames-total", frames.toLocaleString("en-US"));
    $("frames-total").dataset.value = String(frames);
    const up = (p.connections.registering || 0) + (p.connections.streaming || 0);
    const all = Object.values(p.connections).reduce((a, n) => a + n, 0);
    text("conns-up", up + " / " + all);
    text("conns-detail", Object.entries(p.connections).map(([s, n]) => s + " " + n).join(", ") || "none yet");
    const r = p.registrations;
    text("regs-ack", num(r.acknowledged) + " / " + num(r.planned));
    text("regs-detail", r.refused + " refused, " + r.unanswered + " unanswered");
    text("durable-lag", secs(Math.max(0, ...p.workers.map((w) => w.durable_lag_s))));
    text("store-lag", secs(Math.max(0, ...p.workers.map((w) => w.store_lag_s))));
    text("store-records", num(p.workers.reduce((a, w) => a + w.store_lag_records, 0)) + " records");
    const g = p.gaps;
    text("gaps-open", num(g.open || 0) + " open");
    const filled = Object.entries(g).filter(([k]) => !["found", "open", "passes", "tried", "deferred"].includes(k));
    text("gaps-detail", num(g.found || 0) + " found; backfill: " + (filled.map(([k, n]) => k + " " + n).join(", ") || "nothing yet"));
    if (p.disk.total) {
      text("disk-free", bytes(p.disk.free) + " free");
      text("disk-detail", bytes(p.disk.used) + " used of " + bytes(p.disk.total) + " (" + (100 * p.disk.free / p.disk.total).toFixed(0) + " % headroom)");
    }
    if (p.tokens.length) {
      const left = Math.min(...p.tokens.map((t) => t[1]));
      text("token-min", (left / 3600).toFixed(1) + " h");
      text("token-detail", p.tokens.map(([k, s]) => "key " + k + ": " + (s / 3600).toFixed(1) + " h").join(", "));
    }
    rows($("markets").tBodies[0], p.rates.map((m) => [m.market, m.channel, m.frames_total.toLocaleString("en-US"), num(m.fps)]));
    const q = Object.values(p.quarantined).reduce((a, n) => a + n, 0);
    rows($("workers").tBodies[0], p.workers.map((w) => [
      w.worker_id, w.process, Object.entries(w.connections).map(([s, n]) => s + " " + n).join(", "),
      w.reconnects_total, secs(w.durable_lag_s), secs(w.store_lag_s), w.rows_total.toLocaleString("en-US"), "",
    ]));
    if (p.workers.length) { $("workers").tBodies[0].rows[0].cells[7].textContent = q.toLocaleString("en-US"); }
    $("errors").replaceChildren(...p.errors.slice().reverse().map(([t, m]) => {
      const li = document.createElement("li");
      li.textContent = new Date(t * 1000).toLocaleTimeString() + "  " + m;
      return li;
    }));
  }

  function chart(svg, series, legend) {
    // series: [{name, points: [[t, v], ...]}] drawn against the last hour.
    const W = 480, H = 150, L = 40, B = 16, T = 6;
    // The last hour, or less while the run is younger: the window starts at the first point.
    const now = history.length ? history[history.length - 1][0] : Date.now() / 1000;
    const t0 = Math.max(now - HOUR_S, history.length ? history[0][0] : now - HOUR_S);
    const span = Math.max(1, now - t0);
    let max = 0;
    for (const s of series) for (const [, v] of s.points) max = Math.max(max, v);
    max = max > 0 ? max * 1.1 : 1;
    const x = (t) => L + ((t - t0) / span) * (W - L - 4);
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const el = (name, attrs, content) => {
      const e = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (content !== undefined) e.textContent = content;
      return e;
    };
    const parts = [
      el("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }),
      el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
      el("text", { x: 2, y: T + 8 }, num(max)),
      el("text", { x: 2, y: H - B }, "0"),
      el("text", { x: L, y: H - 3 }, "−" + (span >= 120 ? Math.round(span / 60) + " min" : Math.round(span) + " s")),
      el("text", { x: W - 30, y: H - 3 }, "now"),
    ];
    series.forEach((s, i) => {
      const pts = s.points.filter(([t]) => t >= t0).map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
      parts.push(el("polyline", { points: pts, stroke: COLORS[i % COLORS.length], "data-series": s.name }));
    });
    svg.replaceChildren(...parts);
    if (legend) {
      legend.replaceChildren(...series.map((s, i) => {
        const span = document.createElement("span");
        const swatch = document.createElement("i");
        swatch.style.background = COLORS[i % COLORS.length];
        span.append(swatch, s.name);
        return span;
      }));
    }
  }

  function drawCharts() {
    const markets = [...new Set(history.flatMap((h) => Object.keys(h[1])))].sort();
    chart($("chart-fps"), markets.map((m) => ({ name: m, points: history.map((h) => [h[0], h[1][m] || 0]) })), $("legend-fps"));
    chart($("chart-lag"), [
      { name: "receive → durable", points: history.map((h) => [h[0], h[2]]) },
      { name: "store behind journal", points: history.map((h) => [h[0], h[3]]) },
    ], $("legend-lag"));
    chart($("chart-up"), [{ name: "up", points: history.map((h) => [h[0], h[4]]) }]);
  }

  function addPoint(point) {
    history.push(point);
    const cut = point[0] - HOUR_S;
    while (history.length && history[0][0] < cut) history.shift();
    drawCharts();
  }

  async function start() {
    try {
      const r = await fetch("/api/history");
      if (r.ok) history = await r.json();
    } catch (e) { /* the stream below shows the connection state */ }
    drawCharts();
    const events = new EventSource("/events");
    events.addEventListener("picture", (e) => render(JSON.parse(e.data)));
    events.addEventListener("point", (e) => addPoint(JSON.parse(e.data)));
    events.onerror = () => { const b = $("health"); b.textContent = "no connection to the collector"; b.className = "badge bad"; };
  }
  start();
})();
