// Live supervisor dashboard: render from the initial snapshot, then apply server-sent events:
// `snapshot` (everything), `delta` (station tiles and telemetry events), `summary` (charts and tables).
(function () {
  "use strict";
  const T = JSON.parse(document.getElementById("texts").textContent);
  const state = JSON.parse(document.getElementById("initial").textContent);
  const view = {range: "today", by: "station"};
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const num = (v) => (v === null || v === undefined ? 0 : v);
  // decimals in the page's language, as Babel writes them on the server's pages (2,5 in vi; 2.5 in en)
  const dec = (v, digits) => new Intl.NumberFormat(document.documentElement.lang || "vi",
    {minimumFractionDigits: digits, maximumFractionDigits: digits}).format(Number(v || 0));
  window.sohoaDashboard = {received: 0, lastEventAt: null, latencies: []};

  function tile(st) {
    const status = st.status === "online" && st.stalled ? "stalled" : (st.status || "unknown");
    const fault = st.last_fault;
    const vi = document.documentElement.lang === "vi";
    const faultText = fault ? esc((fault.texts || {})[document.documentElement.lang] || (vi ? T.event_fault : (fault.message || fault.code))) +
      (fault.cleared_at ? ` (${esc(T.cleared)})` : "") : esc(T.none);
    return `<div class="tile ${esc(status)}" data-station="${esc(st.station_id)}" data-status="${esc(st.status)}">` +
      `<h3>${esc(st.station_id)} <span class="status">${esc(T[status] || status)}</span></h3>` +
      `<dl><dt>${esc(T.operator)}</dt><dd class="operator">${esc(st.operator || "—")}</dd>` +
      `<dt>${esc(T.hoso)}</dt><dd class="file-code">${esc(st.file_code || "—")}</dd>` +
      `<dt>${esc(T.scanner)}</dt><dd class="scanner">${esc(T["scanner_" + st.scanner] || st.scanner || "—")}</dd>` +
      `<dt>${esc(T.pages)}</dt><dd><b class="pages">${esc(num(st.pages_captured))}</b></dd>` +
      `<dt>${esc(T.ppm)}</dt><dd class="ppm">${esc(dec(num(st.pages_per_minute), 1))}</dd>` +
      `<dt>${esc(T.queues)}</dt><dd class="queues">${esc(num(st.queue_processing))} · ${esc(num(st.queue_ocr))} · ${esc(num(st.queue_sync))}</dd>` +
      `<dt>${esc(T.last_fault)}</dt><dd class="fault${fault && !fault.cleared_at ? " has" : ""}">${faultText}</dd></dl></div>`;
  }

  function renderStations() {
    const box = document.getElementById("stations");
    const tiles = Object.values(state.stations || {});
    if (!tiles.length) { box.innerHTML = `<p class="muted">${esc(T.no_stations)}</p>`; return; }
    // Update tiles in place so a busy floor does not rebuild the whole grid on every push.
    const seen = new Set();
    for (const st of tiles) {
      seen.add(st.station_id);
      const html = tile(st);
      const old = box.querySelector(`[data-station="${CSS.escape(st.station_id)}"]`);
      if (old) { if (old.outerHTML !== html) old.outerHTML = html; }
      else box.insertAdjacentHTML("beforeend", html);
    }
    box.querySelectorAll("[data-station]").forEach((n) => { if (!seen.has(n.dataset.station)) n.remove(); });
    box.querySelectorAll("p.muted").forEach((n) => n.remove());
    document.getElementById("broker-down").hidden = !state.monitor || state.broker_connected !== false;
  }

  function chartSpec() {
    const tp = (state.throughput || {})[view.range] || {};
    const rows = tp[view.by] || [];
    const key = view.range === "today" ? "hour" : "day";
    let labels;
    if (view.range === "today") {
      labels = Array.from({length: 24}, (_, h) => String(h).padStart(2, "0"));
    } else {
      labels = [...new Set(rows.map((r) => r[key]))].sort();
    }
    const names = [...new Set(rows.map((r) => r[view.by] || "—"))].sort();
    const series = names.map((name) => ({name, values: labels.map((label) => rows
      .filter((r) => (r[view.by] || "—") === name && (view.range === "today" ? r[key].slice(11, 13) === label : r[key] === label))
      .reduce((s, r) => s + r.pages, 0))}));
    return {labels: view.range === "today" ? labels : labels.map((d) => d.slice(8, 10) + "/" + d.slice(5, 7)),
      series, empty: T.no_data};
  }

  function renderPace() {
    const pace = state.pace || {};
    const cell = (v) => `<td>${esc(v)}</td>`;
    const rate = (e) => cell(e.this_hour) + cell(e.today) + cell(dec(e.per_hour, 1));
    const plan = (e) => e.expected
      ? cell(e.expected) + `<td><progress max="100" value="${esc(e.percent)}"></progress> ${esc(e.percent)}%</td>` +
        cell(e.hours_left === null ? T.no_pace : dec(e.hours_left, 2))
      : `<td colspan="3" class="muted">${esc(T.no_plan)}</td>`;
    const fill = (id, rows, withPlan) => {
      document.querySelector(`#${id} tbody`).innerHTML = rows.length ? rows.map((e) =>
        `<tr data-name="${esc(e.name)}"><td>${esc(e.name || "—")}</td>${rate(e)}${withPlan ? plan(e) : ""}</tr>`).join("")
        : `<tr><td colspan="${withPlan ? 7 : 4}" class="muted">${esc(T.no_data)}</td></tr>`;
    };
    fill("pace-operator", pace.operator || [], false);
    fill("pace-station", pace.station || [], true);
    fill("pace-fonds", pace.fonds || [], true);
    const d = state.defects || [];
    document.querySelector("#defects tbody").innerHTML = d.length ? d.map((e) =>
      `<tr data-operator="${esc(e.operator)}"><td>${esc(e.operator)}</td>${cell(e.hoso)}${cell(e.pages)}` +
      `${cell(e.critical)}${cell(e.major)}${cell(e.minor)}<td class="per100">${esc(dec(e.per_100, 2))}</td></tr>`).join("")
      : `<tr><td colspan="7" class="muted">${esc(T.no_defects)}</td></tr>`;
  }

  function renderSummary() {
    const vi = document.documentElement.lang === "vi";
    renderPace();
    window.barChart(document.getElementById("chart"), chartSpec());
    document.querySelector("#fonds tbody").innerHTML = (state.fonds || []).map((f) => {
      const pct = f.expected ? Math.min(100, Math.round((100 * f.accepted) / f.expected)) : 0;
      return `<tr data-fonds="${esc(f.fonds)}"><td>${esc(f.fonds)}</td><td>${esc(f.orders)}</td><td>${esc(f.expected)}</td>` +
        `<td class="scanned">${esc(f.scanned)}</td><td class="accepted">${esc(f.accepted)}</td>` +
        `<td><progress max="100" value="${pct}"></progress> ${pct}%</td></tr>`;
    }).join("");
    document.querySelector("#workorders tbody").innerHTML = (state.workorders || []).slice(0, 50).map((wo) =>
      `<tr data-wo="${esc(wo.id)}" class="stage-${esc(wo.stage)}"><td>${esc(wo.file_code)}</td><td>${esc(wo.title)}</td>` +
      `<td>${(wo.flags || []).map((f) => `<span class="flag">${esc(T["flag_" + f] || f)}</span>`).join(" ")}</td>` +
      `<td>${esc(wo.expected_sheets)}</td><td>${esc(wo.pages_scanned)}</td><td>${esc(wo.sheets_accepted)}</td>` +
      `<td>${esc(wo.station_id || "—")}</td><td class="stage">${esc(T["stage_" + wo.stage] || wo.stage)}</td></tr>`).join("");
    const rej = state.rejections || [];
    document.querySelector("#rejections tbody").innerHTML = rej.length ? rej.map((r) =>
      `<tr><td>${esc(r.station_id)}</td><td>${esc(r.file_code)}</td><td class="reasons">${esc(((vi ? r.reasons_vi : r.reasons) || []).join("; "))}</td>` +
      `<td>${esc((r.updated_at || "").replace("T", " ").slice(0, 19))}</td></tr>`).join("")
      : `<tr><td colspan="4" class="muted">${esc(T.no_rejections)}</td></tr>`;
    renderEvents();
  }

  function renderEvents() {
    const vi = document.documentElement.lang === "vi";
    document.getElementById("events").innerHTML = (state.events || []).slice(0, 20).map((e) =>
      `<li class="ev-${esc(e.event)}"><time>${esc((e.at || "").slice(11, 19))}</time> <b>${esc(e.station_id)}</b> ` +
      `${esc(T["event_" + e.event] || T.event_other)}${eventText(e, vi)}</li>`).join("");
  }

  // Never a raw code or an English message in Vietnamese: the station's words by key, else the kind alone.
  function eventText(e, vi) {
    const said = (e.texts || {})[document.documentElement.lang] || (vi ? "" : e.message);
    return said ? `: ${esc(said)}` : "";
  }

  function applyDelta(d) {
    const now = Date.now();
    for (const [sid, st] of Object.entries(d.stations || {})) state.stations[sid] = st;
    if (d.events && d.events.length) {
      for (const e of d.events) {
        const at = Date.parse(e.at);
        if (!Number.isNaN(at)) window.sohoaDashboard.latencies.push(now - at);
      }
      if (window.sohoaDashboard.latencies.length > 5000) window.sohoaDashboard.latencies.splice(0, 2500);
      state.events = [...d.events.slice().reverse(), ...(state.events || [])].slice(0, 20);
      renderEvents();
    }
    if (Object.keys(d.stations || {}).length) renderStations();
  }

  const chartControls = document.getElementById("chart-controls");
  chartControls.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.range) view.range = b.dataset.range;
    if (b.dataset.by) view.by = b.dataset.by;
    chartControls.querySelectorAll("button").forEach((x) =>
      x.classList.toggle("on", x.dataset.range === view.range || x.dataset.by === view.by));
    window.barChart(document.getElementById("chart"), chartSpec());
  });

  renderStations();
  renderSummary();
  const live = document.getElementById("live");
  const seen = () => { window.sohoaDashboard.received += 1; window.sohoaDashboard.lastEventAt = Date.now(); };
  /* The browser retries a dropped stream by itself, but not one the server refused (429: too many live views
     open): then connect again after a while. */
  const connect = () => {
    const source = new EventSource("/events");
    source.onopen = () => { live.textContent = "● " + T.live; live.className = "live on"; };
    source.onerror = () => {
      live.textContent = T.reconnecting; live.className = "live";
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 15000);
    };
    source.addEventListener("snapshot", (ev) => { Object.assign(state, JSON.parse(ev.data)); renderStations(); renderSummary(); seen(); });
    source.addEventListener("summary", (ev) => { Object.assign(state, JSON.parse(ev.data)); renderSummary(); seen(); });
    source.addEventListener("delta", (ev) => { applyDelta(JSON.parse(ev.data)); seen(); });
  };
  connect();
})();
