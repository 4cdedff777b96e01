/* sohoa station UI: one small script, no framework, no CDN. Every state lives on the station (/api);
   a reload re-reads it. Texts come from the gettext catalogues through #sohoa-config. */
"use strict";
const CFG = JSON.parse(document.getElementById("sohoa-config").textContent);
const T = CFG.T;
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const BATCH = document.body.dataset.batch ? Number(document.body.dataset.batch) : null;
/* Same rule as protocol/urls.py: a path on this station only; "\\" and control characters would let the
   browser read it as another host ("/\\evil" and "/\t/evil" both become "//evil"). */
const safeNext = (p) => (typeof p === "string" && /^\/(?![\/\\])[^\\\x00-\x20\x7f]*$/.test(p) ? p : "/");
/* The forms are driven by this script: Enter must never post them (no inline handler: the CSP allows none). */
addEventListener("submit", (ev) => { if (!ev.target.hasAttribute("action")) ev.preventDefault(); });

function toast(text, kind) {
  const div = document.createElement("div");
  div.textContent = text;
  if (kind) div.className = kind;
  $("#toast").appendChild(div);
  setTimeout(() => div.remove(), kind === "err" ? 8000 : 2500);
}

async function api(method, path, body) {
  const opts = { method, headers: { "X-CSRF-Token": CFG.csrf }, credentials: "same-origin" };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(path, opts); } catch (e) { toast(T.network, "err"); throw { text: T.network }; }
  let data = {};
  try { data = await resp.json(); } catch (e) { data = {}; }
  if (resp.status === 401 && path !== "/api/login" && path !== "/api/unlock") {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
    throw data;
  }
  if (!resp.ok) { data.status = resp.status; throw data; }
  return data;
}
// a moment in the page's language and the archives' time zone (the server's pages use Babel for the same)
const when = (iso) => { const d = iso ? new Date(iso) : null; return d && !isNaN(d) ? d.toLocaleString(
  document.documentElement.lang || "vi", { timeZone: "Asia/Ho_Chi_Minh", dateStyle: "medium", timeStyle: "medium" }) : (iso || ""); };
const fail = (e) => toast((e && (e.text || e.message)) || T.error, "err");

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
  return node;
}

/* -- idle lock: the server locks too; this only gets the screen out of the way sooner ------------------ */
if (CFG.csrf) {
  let last = Date.now();
  ["pointerdown", "keydown"].forEach((ev) => addEventListener(ev, () => { last = Date.now(); }, true));
  setInterval(() => {
    if (Date.now() - last > CFG.idle * 1000) api("POST", "/api/lock").finally(() => { location.href = "/login?next=" + location.pathname; });
  }, 5000);
  const lockBtn = $("#lock-btn");
  if (lockBtn) lockBtn.onclick = () => api("POST", "/api/lock").finally(() => { location.href = "/login?next=" + location.pathname; });
  refreshHealth();
  setInterval(refreshHealth, 15000);
}

async function refreshHealth() {
  const box = $("#health");
  if (!box) return;
  try {
    const st = await api("GET", "/api/status");
    box.replaceChildren(el("span", { class: "pill " + (st.scanner === "FAULT" ? "err" : "ok") }, (st.scanner === "SCANNING" ? T.scanning : st.scanner === "FAULT" ? T.fault : T.idle)));
    if (st.outbox) box.append(el("span", { class: "pill warn" }, "⇅ " + st.outbox));
    for (const p of st.health.problems) {
      box.append(el("span", { class: "pill " + (p.level === "error" ? "err" : "warn"), title: p.text, "data-problem": p.code,
        onclick: () => toast(p.text, "err") }, "⚠ " + p.text.split(".")[0]));
    }
  } catch (e) { box.replaceChildren(el("span", { class: "pill err" }, T.network)); }
}

/* -- thumbnails ---------------------------------------------------------------------------------------- */
function badges(p) {
  const out = [];
  const proc = p.processing;
  if (!p.processed_at) out.push(el("span", {}, T.processing));
  if (p.blank) out.push(el("span", { class: "b-blank" }, T.blank));
  if (proc && Math.abs(proc.angle || 0) >= 0.1) out.push(el("span", {}, T.skew + " " + proc.angle.toFixed(1) + "°"));
  if (proc && proc.rotation) out.push(el("span", {}, T.rotated + " " + proc.rotation + "°"));
  for (const f of p.flags || []) {
    if (f.code === "blank") continue;
    out.push(el("span", { class: f.accepted_by ? "b-ok" : "b-flag", title: f.text, "data-flag": f.code },
      (f.accepted_by ? "✓ " : "⚠ ") + flagName(f)));
  }
  return out;
}
const flagName = (f) => (T.flag_names || {})[f.code] || f.text;
/* every flag kind of the hồ sơ: its name, pages still open, pages accepted */
function flagKinds(view) {
  const kinds = new Map();
  for (const p of view.pages) {
    if (p.blank) continue;
    for (const f of p.flags || []) {
      if (f.code === "blank") continue;
      const k = kinds.get(f.code) || { code: f.code, name: flagName(f), open: 0, accepted: 0 };
      if (f.accepted_by) k.accepted++; else k.open++;
      kinds.set(f.code, k);
    }
  }
  return Array.from(kinds.values()).sort((a, b) => b.open - a.open);
}
/* The turn still to show on screen: a derivative made after the operator's turn already holds it. */
function shownTurn(p) {
  const made = (p.derivative_path && p.processing && p.processing.manual_rotation) || 0;
  return (((p.rotation || 0) - made) % 360 + 360) % 360;
}
function imgUrl(p, thumb) {
  return "/api/pages/" + p.id + "/image?" + (p.derivative_path ? "processed=1&" : "") + (thumb ? "thumb=1&" : "") + "v=" + (p.processed_at || "");
}
function thumb(p, n) {
  const open = (p.flags || []).some((f) => f.code !== "blank" && !f.accepted_by);
  const img = el("img", { src: imgUrl(p, true), alt: "", loading: "lazy" });
  img.style.transform = "rotate(" + shownTurn(p) + "deg)";
  return el("div", { class: "thumb" + (open && !p.blank ? " flagged" : ""), "data-page": p.id },
    el("span", { class: "n" }, String(n)), el("div", { class: "imgbox" }, img), el("div", { class: "badges" }, ...badges(p)));
}

/* live batch view: server-sent events, with polling as the fallback. A stream refused (the station caps live
   views per operator) or dropped for good is replaced by polling, and tried again later. */
function watchBatch(onView) {
  let es = null, timer = null, closed = false;
  const poll = () => api("GET", "/api/batches/" + BATCH).then(onView).catch(() => {});
  const connect = () => {
    if (closed) return;
    es = new EventSource("/api/batches/" + BATCH + "/events");
    es.addEventListener("batch", (ev) => onView(JSON.parse(ev.data)));
    es.onopen = () => { if (timer) { clearInterval(timer); timer = null; } };
    es.onerror = () => {
      setTimeout(poll, 1500);
      if (es.readyState === EventSource.CLOSED) {
        if (!timer) timer = setInterval(poll, 2000);
        setTimeout(connect, 10000);
      }
    };
  };
  if (window.EventSource) connect(); else setInterval(poll, 1500);
  poll();
  return { refresh: poll, close: () => { closed = true; if (es) es.close(); if (timer) clearInterval(timer); } };
}
function sheetsOf(view) { return new Set(view.pages.map((p) => p.sheet)).size; }
function setState(view) { const s = $("#batch-state"); if (s) s.textContent = CFG.states[view.state] || view.state; }

function presets() { const node = $("#presets-data"); return node ? JSON.parse(node.textContent) : {}; }
async function startScan(batchId, presetId, folder) {
  const p = presets()[presetId];
  const body = p.kind === "import" ? { kind: "import", folder } : { kind: "sane", request: p.request };
  localStorage.setItem("sohoa.preset", presetId);
  return api("POST", "/api/batches/" + batchId + "/scan", body);
}
async function pickFolder(box, then) {
  const data = await api("GET", "/api/import-folders");
  const row = $("#folders", box);
  row.replaceChildren(...data.folders.map((f) => el("button", { type: "button", class: "big", onclick: () => then(f) }, "▸ " + f)));
  box.classList.remove("hidden");
}

/* -- field errors next to the field -------------------------------------------------------------------- */
function showProblems(form, problems) {
  $$("label.f", form).forEach((l) => { l.classList.remove("bad"); $(".err", l).textContent = ""; });
  let first = null;
  for (const pr of problems) {
    const label = $('label.f[data-field="' + pr.field + '"]', form);
    if (!label) { toast(pr.text, "err"); continue; }
    label.classList.add("bad");
    $(".err", label).textContent = pr.text;
    first = first || label;
  }
  if (first) first.scrollIntoView({ block: "center" });
}
/* dates: 01012024, 1/1/2024, 01-01-2024 or 1.1.2024 become 01/01/2024, the form the records use; the field
   shows the normalised date as soon as it is left. A two-digit year stays as typed: the check says why. */
function normDate(text) {
  const t = String(text || "").trim();
  const m = /^(\d{2})(\d{2})(\d{4})$/.exec(t) || /^(\d{1,2})[/\-. ](\d{1,2})[/\-. ](\d{4})$/.exec(t);
  return m ? m[1].padStart(2, "0") + "/" + m[2].padStart(2, "0") + "/" + m[3] : t;
}
document.addEventListener("change", (ev) => {
  if (ev.target.matches && ev.target.matches("input[data-date]")) ev.target.value = normDate(ev.target.value);
}, true);  // capture: before the forms' own change handlers read the value
function formData(form) {
  const out = {};
  $$("[name]", form).forEach((i) => { out[i.name] = i.dataset.date !== undefined ? normDate(i.value) : i.value.trim(); });
  return out;
}
function fillForm(form, record) {
  $$("[name]", form).forEach((i) => { if (record[i.name] !== undefined && record[i.name] !== null) i.value = record[i.name]; });
}

/* -- screens ------------------------------------------------------------------------------------------- */
const screens = {};

screens.login = function () {
  const box = $("#login");
  if (!box) return;
  const mode = box.dataset.mode;
  let who = $("#who") ? $("#who").value : null;
  const pin = $("#pin");
  const dots = () => { $("#pin-dots").textContent = pin.value ? "•".repeat(pin.value.length) : "\u00a0"; };
  $$("#who-list button").forEach((b) => b.onclick = () => {
    $$("#who-list button").forEach((x) => x.classList.remove("sel"));
    b.classList.add("sel"); who = b.dataset.code; pin.value = ""; dots();
  });
  const err = (e) => { const b = $("#login-error"); b.textContent = e.text || T.wrong_pin; b.classList.remove("hidden"); pin.value = ""; dots(); };
  const submit = async () => {
    try {
      if (mode === "setup") {
        await api("POST", "/setup", { code: $("#setup-code").value, name: $("#setup-name").value, pin: pin.value });
        who = $("#setup-code").value;
      }
      if (mode === "unlock") await api("POST", "/api/unlock", { pin: pin.value });
      else await api("POST", "/api/login", { operator: who || "", pin: pin.value });
      location.href = safeNext(box.dataset.next);
    } catch (e) { err(e); }
  };
  $$("#keypad button").forEach((b) => b.onclick = () => {
    const k = b.dataset.k;
    if (k === "back") pin.value = pin.value.slice(0, -1);
    else if (k === "ok") return submit();
    else if (pin.value.length < 12) pin.value += k;
    dots();
  });
  addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" && ev.target !== pin) return;
    if (/^[0-9]$/.test(ev.key) && pin.value.length < 12) { pin.value += ev.key; dots(); }
    else if (ev.key === "Backspace") { pin.value = pin.value.slice(0, -1); dots(); }
    else if (ev.key === "Enter") submit();
  });
  const sw = $("#switch-user");
  if (sw) sw.onclick = () => api("POST", "/api/logout").finally(() => { location.href = "/login?next=" + encodeURIComponent(box.dataset.next); });
};

screens.new = function () {
  let chosen = null;
  const enable = () => $$("#presets button").forEach((b) => { b.disabled = !chosen; });
  api("GET", "/api/workorders").then((data) => show(data)).catch((e) => show(e));
  function show(data) {
    const box = $("#orders");
    box.replaceChildren();
    if (data.text) { const m = $("#orders-msg"); m.textContent = data.text; m.classList.remove("hidden"); }
    for (const wo of data.workorders || []) {
      const b = el("button", { type: "button", "data-wo": wo.id },
        el("strong", {}, wo.record.title), el("span", { class: "muted" }, wo.file_code || ""),
        el("span", {}, (wo.record.fonds_code || "") + " · " + (wo.expected_sheets || "?") + " " + T.sheets),
        wo.batch ? el("span", { class: "pill warn" }, "↻ " + T.continue_batch + " · " + (CFG.states[wo.batch.state] || wo.batch.state)) : null);
      if (wo.batch) {  // already started here: open that batch, never a second one for the same hồ sơ
        b.dataset.batch = wo.batch.id;
        b.onclick = () => { location.href = "/batch/" + wo.batch.id; };
        box.append(b);
        continue;
      }
      b.onclick = () => { $$("#orders button").forEach((x) => x.classList.remove("sel")); b.classList.add("sel");
        // the work order's QC profile (threshold overrides) travels beside the hồ sơ record, not in it
        const { qc_profile: profile, ...record } = wo.record;
        chosen = { record, expected_sheets: wo.expected_sheets, work_order_id: wo.id, qc_profile: wo.qc_profile || profile || null }; enable(); };
      box.append(b);
    }
  }
  $("#cover-btn").onclick = async () => {  // the QR on the cover sheet picks the work order
    $("#cover-hint").classList.remove("hidden");
    $("#cover-btn").disabled = true;
    try {
      const res = await api("POST", "/api/cover", { kind: "sane" });
      const b = $('#orders button[data-wo="' + res.workorder.id + '"]');
      if (b) { b.click(); b.scrollIntoView({ block: "center" }); toast("✓ " + res.file_code); }
    } catch (e) { fail(e); }
    $("#cover-btn").disabled = false;
  };
  const manualToggle = $("#manual-toggle");
  if (manualToggle) {
    manualToggle.onclick = () => $("#manual").classList.toggle("hidden");
    $("#manual-use").onclick = async () => {
      const form = $("#manual");
      const rec = formData(form);
      const expected = rec.expected_sheets ? Number(rec.expected_sheets) : null;
      delete rec.expected_sheets;
      rec.year = Number(rec.year || 0);
      const res = await api("POST", "/api/check/file", { record: rec }).catch(fail);
      showProblems(form, res ? res.problems : []);
      if (res && !res.problems.length) { chosen = { record: rec, expected_sheets: expected, work_order_id: null }; enable(); toast(T.saved); }
    };
  }
  $$("#presets button").forEach((b) => b.onclick = async () => {
    const preset = b.dataset.preset;
    const go = async (folder) => {
      try {
        const batch = await api("POST", "/api/batches", chosen);
        try { await startScan(batch.id, preset, folder); } catch (e) { fail(e); }
        location.href = "/batch/" + batch.id + "/scan";
      } catch (e) { if (e.problems && $("#manual")) showProblems($("#manual"), e.problems); fail(e); }
    };
    if (preset === "import") pickFolder($("#import-box"), go); else go();
  });
  enable();
};

screens.scan = function () {
  const sel = $("#preset");
  sel.value = localStorage.getItem("sohoa.preset") || "adf_duplex";
  let lastScanner = null, lastCount = null, sawScanning = false, stopped = false;
  const w = watchBatch((v) => {
    setState(v);
    if (v.scanner !== lastScanner) { lastScanner = v.scanner; refreshHealth(); }  // the header's pill too
    const scanning = v.scanner === "SCANNING" || v.scanner === "STOPPING";
    $("#scan-btn").disabled = scanning || !["OPEN", "REVIEW"].includes(v.state);
    $("#stop-btn").disabled = !scanning;
    $("#scanner-state").textContent = scanning ? T.scanning : (v.fault ? T.fault : T.idle);
    const f = $("#fault");
    if (v.fault && !scanning) { f.textContent = "⚠ " + v.fault.text; f.classList.remove("hidden"); } else f.classList.add("hidden");
    const sheets = sheetsOf(v);
    $("#count").textContent = sheets + (v.expected_sheets ? " / " + v.expected_sheets : "") + " " + T.sheets + " · " + v.pages.length + " " + T.pages;
    $("#bar").style.width = (v.expected_sheets ? Math.min(100, 100 * sheets / v.expected_sheets) : (v.pages.length ? 100 : 0)) + "%";
    const box = $("#thumbs");
    box.replaceChildren(...v.pages.map((p, i) => thumb(p, i + 1)));
    const grew = lastCount !== null && v.pages.length > lastCount;
    lastCount = v.pages.length;
    // more sheets than the work order says: maybe two went through at once
    const over = $("#overcount");
    if (v.expected_sheets && sheets > v.expected_sheets) {
      over.textContent = "⚠ " + T.overcount.replace("{n}", sheets).replace("{e}", v.expected_sheets);
      over.classList.remove("hidden");
    } else over.classList.add("hidden");
    // the feeder ran dry (not a fault, not the stop button): continue or finish the batch
    if (scanning) { sawScanning = true; $("#feeder-empty").classList.add("hidden"); }
    else if (sawScanning) {
      sawScanning = false;
      if (v.scan_ended === "empty" && !stopped && sel.value.startsWith("adf")) $("#feeder-empty").classList.remove("hidden");
      stopped = false;
      if (box.lastElementChild) box.lastElementChild.scrollIntoView({ block: "end" });
    }
    if (grew && box.lastElementChild) box.lastElementChild.scrollIntoView({ block: "end" });  // the newest in view
  });
  $("#feeder-continue").onclick = () => { $("#feeder-empty").classList.add("hidden"); go(); };
  $("#feeder-finish").onclick = () => $("#to-review").click();
  const go = (folder) => startScan(BATCH, sel.value, folder).then(w.refresh).catch(fail);
  $("#scan-btn").onclick = () => (sel.value === "import" ? pickFolder($("#import-box"), (f) => { $("#import-box").classList.add("hidden"); go(f); }) : go());
  $("#stop-btn").onclick = () => { stopped = true; api("POST", "/api/batches/" + BATCH + "/stop").then(w.refresh).catch(fail); };
  /* a USB foot pedal or button types a key: it scans like the big button (debounced, not while typing) */
  let pressed = 0;
  addEventListener("keydown", (ev) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) || ev.repeat) return;
    if (![" ", "Enter", "PageDown", "F8"].includes(ev.key)) return;
    ev.preventDefault();
    if (Date.now() - pressed < 800 || $("#scan-btn").disabled) return;
    pressed = Date.now();
    $("#scan-btn").click();
  });
  $("#to-review").onclick = () => api("POST", "/api/batches/" + BATCH + "/review").then(() => { location.href = "/batch/" + BATCH + "/review"; }).catch(fail);
};

screens.review = function () {
  let view = null;
  let current = null; // selected page id
  let multi = false; // "select several": taps pick pages instead of showing one
  const picked = new Set();
  let pending = null; // {mode: "insert"|"rescan", page, before: Set}
  const zoom = { s: 1, x: 0, y: 0 };
  const all = () => view ? view.pages.concat(view.deleted_pages) : [];
  const page = (id) => all().find((p) => p.id === id);
  let dragging = false; // a live update must not replace the thumbnail under the operator's finger
  let lastJson = "";
  const w = watchBatch((v) => {
    view = v; setState(v);
    const json = JSON.stringify(v);
    if (!dragging && json !== lastJson) { lastJson = json; render(); }
    if (pending) pendingStep();
  });

  function render() {
    const live = view.pages.filter((p) => !p.blank);
    $("#thumbs").replaceChildren(...live.map((p, i) => thumb(p, i + 1)));
    $("#blanks").replaceChildren(...view.pages.filter((p) => p.blank).map((p) => thumb(p, "○")));
    $("#deleted").replaceChildren(...view.deleted_pages.map((p) => thumb(p, "✕")));
    $$(".thumb").forEach((t) => {
      const id = Number(t.dataset.page);
      t.onclick = () => (multi ? pick(t, id) : select(id));
      if (current === id) t.classList.add("sel");
      if (picked.has(id)) t.classList.add("picked");
    });
    $$("#thumbs .thumb").forEach(dragable);
    const fb = $("#flags-banner");
    const kinds = flagKinds(view);
    const open = kinds.filter((k) => k.open);
    if (open.length && !view.overridden) {
      fb.replaceChildren(el("span", { class: "grow" }, "⚠ " + view.unresolved.length + " " + T.pages + ": " + open.map((k) => k.name + " (" + k.open + ")").join(" · ")),
        el("button", { type: "button", id: "flags-open", onclick: () => $("#flags-dialog").classList.remove("hidden") }, T.flags_summary + " →"));
      fb.classList.remove("hidden");
    } else fb.classList.add("hidden");
    $("#flags-kinds").replaceChildren(...kinds.map((k) => el("tr", { "data-kind": k.code },
      el("td", {}, k.name), el("td", { class: "num" }, k.open + " " + T.open_n), el("td", { class: "num" }, k.accepted + " " + T.accepted_n),
      el("td", {}, k.open ? el("button", { type: "button", class: "ok", "data-accept-kind": k.code, onclick: () => acceptKind(k.code) },
        "✓ " + T.accept_all + " (" + k.open + ")") : "✓"))));
    const wanted = current === null ? /^#page(\d+)$/.exec(location.hash) : null;  // from the finish checklist
    if (wanted && page(Number(wanted[1]))) select(Number(wanted[1]));
    else if (current === null && live.length) select(live[0].id); else if (current !== null) showPage();
  }
  function pick(t, id) {  // several pages at once: rotate, delete, make a document
    if (picked.has(id)) picked.delete(id); else picked.add(id);
    t.classList.toggle("picked", picked.has(id));
    $("#multi-btn").textContent = "☑ " + T.select_several + (picked.size ? " (" + picked.size + ")" : "");
  }
  function select(id) { current = id; zoom.s = 1; zoom.x = zoom.y = 0; $$(".thumb").forEach((t) => t.classList.toggle("sel", Number(t.dataset.page) === id)); showPage(); }
  function showPage() {
    const p = page(current);
    if (!p) return;
    const img = $("#big");
    const url = imgUrl(p, false);
    if (img.dataset.src !== url) { img.dataset.src = url; img.src = url; img.onload = applyZoom; }
    applyZoom();
    const msgs = (p.flags || []).filter((f) => f.code !== "blank").map((f) => (f.accepted_by ? "✓ " : "⚠ ") + f.text);
    $("#page-flags").textContent = msgs.join(" · ");  // the whole message, wrapped
    $('[data-act="delete"]').disabled = !!p.deleted;
    $('[data-act="restore"]').disabled = !p.deleted;
    $('[data-act="keep"]').disabled = !p.blank || !!p.deleted;
    $('[data-act="accept"]').disabled = !(p.flags || []).some((f) => f.code !== "blank" && !f.accepted_by);
  }
  function applyZoom() {
    const img = $("#big"), box = $("#viewer"), p = page(current);
    if (!img.naturalWidth || !p) return;
    const rot = shownTurn(p), side = rot % 180 !== 0;
    const iw = side ? img.naturalHeight : img.naturalWidth, ih = side ? img.naturalWidth : img.naturalHeight;
    const fit = Math.min(box.clientWidth / iw, box.clientHeight / ih);
    const s = fit * zoom.s;
    img.style.width = img.naturalWidth + "px";
    img.style.transform = "translate(-50%,-50%) translate(" + zoom.x + "px," + zoom.y + "px) scale(" + s + ") rotate(" + rot + "deg)";
  }
  /* pinch, drag and buttons for zoom */
  const pointers = new Map();
  let pinch = null;
  const viewer = $("#viewer");
  viewer.addEventListener("pointerdown", (e) => {
    try { viewer.setPointerCapture(e.pointerId); } catch (err) { /* a pointer already gone */ }
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
  });
  viewer.addEventListener("pointermove", (e) => {
    if (!pointers.has(e.pointerId)) return;
    const prev = pointers.get(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 2) {
      const [a, b] = Array.from(pointers.values());
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      if (pinch) zoom.s = Math.max(1, Math.min(8, zoom.s * d / pinch));
      pinch = d;
    } else if (zoom.s > 1) { zoom.x += e.clientX - prev.x; zoom.y += e.clientY - prev.y; }
    applyZoom();
  });
  const up = (e) => { pointers.delete(e.pointerId); if (pointers.size < 2) pinch = null; };
  viewer.addEventListener("pointerup", up); viewer.addEventListener("pointercancel", up);
  viewer.addEventListener("dblclick", () => { zoom.s = zoom.s > 1 ? 1 : 2.5; zoom.x = zoom.y = 0; applyZoom(); });
  $("#zoom-in").onclick = (e) => { e.stopPropagation(); zoom.s = Math.min(8, zoom.s * 1.5); applyZoom(); };
  $("#zoom-out").onclick = (e) => { e.stopPropagation(); zoom.s = Math.max(1, zoom.s / 1.5); if (zoom.s === 1) zoom.x = zoom.y = 0; applyZoom(); };
  $("#zoom-fit").onclick = (e) => { e.stopPropagation(); zoom.s = 1; zoom.x = zoom.y = 0; applyZoom(); };
  /* full screen: the whole display for one page, pinch to zoom, ‹ › to turn pages */
  $("#zoom-full").onclick = (e) => {
    e.stopPropagation();
    viewer.classList.toggle("full");
    zoom.s = 1; zoom.x = zoom.y = 0; applyZoom(); showNumber();
  };
  const step = (d) => {
    const live = view.pages.filter((p) => !p.blank);
    const i = live.findIndex((p) => p.id === current);
    if (i + d >= 0 && i + d < live.length) select(live[i + d].id);
    showNumber();
  };
  function showNumber() {
    const live = view ? view.pages.filter((p) => !p.blank) : [];
    $("#viewer-n").textContent = (live.findIndex((p) => p.id === current) + 1) + " / " + live.length;
  }
  $("#zoom-prev").onclick = (e) => { e.stopPropagation(); step(-1); };
  $("#zoom-next").onclick = (e) => { e.stopPropagation(); step(1); };
  addEventListener("keydown", (e) => { if (e.key === "Escape" && viewer.classList.contains("full")) $("#zoom-full").click(); });
  $$(".zoom button").forEach((b) => b.addEventListener("pointerdown", (e) => e.stopPropagation()));
  addEventListener("resize", applyZoom);

  /* drag a thumbnail onto another to move it there */
  function dragable(t) {
    let start = null, target = null, after = false, timer = null;
    t.addEventListener("pointerdown", (e) => { start = { x: e.clientX, y: e.clientY }; dragging = true; t.setPointerCapture(e.pointerId); });
    t.addEventListener("pointercancel", () => { start = null; dragging = false; lastJson = ""; t.classList.remove("dragging"); });
    t.addEventListener("pointermove", (e) => {
      if (!start) return;
      if (!t.classList.contains("dragging") && Math.hypot(e.clientX - start.x, e.clientY - start.y) < 12) return;
      t.classList.add("dragging");
      $$(".thumb").forEach((x) => x.classList.remove("drop-before", "drop-after"));
      const under = document.elementFromPoint(e.clientX, e.clientY);
      target = under && under.closest("#thumbs .thumb");
      if (target && target !== t) { const r = target.getBoundingClientRect(); after = e.clientX > r.left + r.width / 2; target.classList.add(after ? "drop-after" : "drop-before"); }
      clearTimeout(timer);
    });
    t.addEventListener("pointerup", async () => {
      const moved = t.classList.contains("dragging");
      t.classList.remove("dragging"); $$(".thumb").forEach((x) => x.classList.remove("drop-before", "drop-after"));
      start = null; dragging = false;
      if (!moved || !target || target === t) { lastJson = ""; return; }
      const ids = $$("#thumbs .thumb").map((x) => Number(x.dataset.page)).filter((id) => id !== Number(t.dataset.page));
      const at = ids.indexOf(Number(target.dataset.page)) + (after ? 1 : 0);
      const prev = at > 0 ? ids[at - 1] : null;
      try { await api("POST", "/api/batches/" + BATCH + "/move", { page_ids: [Number(t.dataset.page)], after: prev }); toast(T.moved); w.refresh(); } catch (e) { fail(e); }
    });
  }

  const act = async (name) => {
    if (multi && ["rotate-l", "rotate-r", "delete"].includes(name)) {
      try {
        for (const id of picked) {
          if (name === "delete") await api("POST", "/api/pages/" + id + "/delete");
          else await api("POST", "/api/pages/" + id + "/rotate", { by: name === "rotate-l" ? 270 : 90 });
        }
        if (name === "delete") picked.clear();
        toast(T.done); w.refresh();
      } catch (e) { fail(e); }
      return;
    }
    const p = page(current);
    if (!p) return;
    if (name === "position") return openPosition(p);
    const base = "/api/pages/" + p.id;
    try {
      if (name === "rotate-l") await api("POST", base + "/rotate", { by: 270 });
      else if (name === "rotate-r") await api("POST", base + "/rotate", { by: 90 });
      else if (name === "delete") await api("POST", base + "/delete");
      else if (name === "restore") await api("POST", base + "/restore");
      else if (name === "keep") await api("POST", base + "/keep");
      else if (name === "accept") await api("POST", base + "/accept");
      else if (name === "rescan" || name === "insert") return openScanDialog(name, p);
      w.refresh();
    } catch (e) { fail(e); }
  };
  $$("[data-act]").forEach((b) => b.onclick = () => act(b.dataset.act));
  $("#multi-btn").onclick = () => {
    multi = !multi; picked.clear();
    $("#multi-btn").setAttribute("aria-pressed", String(multi));
    $("#multi-btn").classList.toggle("on", multi);
    $("#multi-btn").textContent = "☑ " + T.select_several;
    $("#start-doc").classList.toggle("hidden", !multi);
    $$("[data-act]").forEach((b) => { if (!["rotate-l", "rotate-r", "delete"].includes(b.dataset.act)) b.classList.toggle("hidden", multi); });
    $$(".thumb.picked").forEach((t) => t.classList.remove("picked"));
  };
  $("#start-doc").onclick = async () => {
    if (!picked.size) return toast(T.pick_pages, "err");
    try {
      const r = await api("POST", "/api/batches/" + BATCH + "/documents/start", { page_ids: Array.from(picked) });
      toast("✓ " + r.documents.length + " × " + T.document); picked.clear(); w.refresh();
    } catch (e) { fail(e); }
  };
  /* "move to position": the number typed on a keypad, for when dragging is awkward */
  let posValue = "";
  function openPosition(p) {
    posValue = ""; $("#pos-value").textContent = "\u00a0";
    $("#pos-dialog").dataset.page = p.id;
    $("#pos-dialog").classList.remove("hidden");
  }
  $("#pos-cancel").onclick = () => $("#pos-dialog").classList.add("hidden");
  $$("#pos-keypad button").forEach((b) => b.onclick = async () => {
    const k = b.dataset.k;
    if (k === "back") posValue = posValue.slice(0, -1);
    else if (k !== "ok") { if (posValue.length < 4) posValue += k; }
    else {
      const id = Number($("#pos-dialog").dataset.page);
      const others = view.pages.filter((x) => !x.blank && x.id !== id).map((x) => x.id);
      const to = Math.max(1, Math.min(others.length + 1, Number(posValue) || 1));
      try {
        await api("POST", "/api/batches/" + BATCH + "/move", { page_ids: [id], after: to > 1 ? others[to - 2] : null });
        $("#pos-dialog").classList.add("hidden"); toast(T.moved); w.refresh();
      } catch (e) { fail(e); }
      return;
    }
    $("#pos-value").textContent = posValue || "\u00a0";
  });
  async function acceptKind(code) {
    try { const r = await api("POST", "/api/batches/" + BATCH + "/accept-flags", { code }); toast("✓ " + r.count + " " + T.pages); w.refresh(); } catch (e) { fail(e); }
  }
  $("#flags-close").onclick = () => $("#flags-dialog").classList.add("hidden");

  /* rescan-and-replace and insert: scan into the hồ sơ, then put the new pages in place */
  function openScanDialog(mode, p) {
    $("#scan-dialog-title").textContent = mode === "insert" ? T.insert_pick : T.replace_pick;
    $("#scan-dialog-state").textContent = "";
    $("#scan-dialog").classList.remove("hidden");
    $$("#dialog-presets button").forEach((b) => { b.disabled = false; b.onclick = async () => {
      pending = { mode, page: p.id, before: new Set(all().map((x) => x.id)), started: false };
      $$("#dialog-presets button").forEach((x) => { x.disabled = true; });
      try { await startScan(BATCH, b.dataset.preset); pending.started = true; $("#scan-dialog-state").textContent = T.scanning; w.refresh(); }
      catch (e) { pending = null; fail(e); $$("#dialog-presets button").forEach((x) => { x.disabled = false; }); }
    }; });
  }
  $("#scan-dialog-cancel").onclick = () => { if (pending && pending.started) api("POST", "/api/batches/" + BATCH + "/stop"); pending = null; $("#scan-dialog").classList.add("hidden"); };
  let finishing = false;
  async function pendingStep() {
    if (!pending.started || finishing || view.scanner === "SCANNING" || view.scanner === "STOPPING") return;
    finishing = true;
    const job = pending; pending = null;
    try {
      const fresh = view.pages.filter((x) => !job.before.has(x.id)).map((x) => x.id);
      if (view.state === "OPEN") await api("POST", "/api/batches/" + BATCH + "/review");
      if (view.fault) toast(view.fault.text, "err");
      if (fresh.length) {
        if (job.mode === "rescan") await api("POST", "/api/batches/" + BATCH + "/replace", { old: [job.page], new: fresh });
        else await api("POST", "/api/batches/" + BATCH + "/move", { page_ids: fresh, after: job.page });
        current = fresh[0];
        toast(T.done);
      }
    } catch (e) { fail(e); }
    finishing = false;
    $("#scan-dialog").classList.add("hidden");
    w.refresh();
  }
  /* supervisor override: an in-page dialog, the supervisor picks their name and types their PIN here */
  const dlg = $("#override-dialog");
  let who = null;
  const opin = { v: "" };
  const odots = () => { $("#override-dots").textContent = opin.v ? "•".repeat(opin.v.length) : "\u00a0"; };
  const oerr = (text) => { $("#override-error").textContent = text || "\u00a0"; };
  $("#override").onclick = () => { opin.v = ""; odots(); oerr(""); dlg.classList.remove("hidden"); };
  $("#override-cancel").onclick = () => { opin.v = ""; dlg.classList.add("hidden"); };
  $$("#override-reasons button").forEach((b) => b.onclick = () => { $("#override-reason").value = b.dataset.reason; });
  $$("#override-who button").forEach((b) => b.onclick = () => {
    $$("#override-who button").forEach((x) => x.classList.remove("sel")); b.classList.add("sel"); who = b.dataset.code; });
  $$("#override-keypad button").forEach((b) => b.onclick = async () => {
    const k = b.dataset.k;
    if (k === "back") opin.v = opin.v.slice(0, -1);
    else if (k !== "ok") { if (opin.v.length < 12) opin.v += k; }
    else {
      const pin = opin.v;
      opin.v = "";
      if (!$("#override-reason").value.trim()) oerr(T.override_reason);
      else if (!who) oerr(T.pick_supervisor);
      else {
        try {
          await api("POST", "/api/batches/" + BATCH + "/override", { reason: $("#override-reason").value.trim(), supervisor: who, pin });
          dlg.classList.add("hidden"); toast(T.saved); w.refresh();
        } catch (e) { oerr(e.text || T.error); }
      }
    }
    odots();
  });
};

screens.documents = function () {
  let view = null;
  let starts = new Set();
  let records = [];
  const docsBox = $("#docs");
  const draftKey = "sohoa.docs." + BATCH;
  api("GET", "/api/batches/" + BATCH).then((v) => {
    view = v;
    const pages = live();
    if (v.documents.length) {
      records = v.documents.map((d) => d.record);
      records.forEach((r) => { const first = (r.page_ids || [])[0]; if (first && first !== (pages[0] || {}).id) starts.add(first); });
    }
    const draft = JSON.parse(localStorage.getItem(draftKey) || "null");
    if (draft && draft.saved_at > (v.updated_at || "") && (!v.documents.length || draft.records.length === v.documents.length)) {
      records = draft.records;  // what was typed; the split itself is the station's, which follows the pages
      if (!v.documents.length) starts = new Set(draft.starts.filter((id) => pages.some((p) => p.id === id)));
    }
    fillForm($("#hoso"), v.record);
    render();
    goToHash();  // from the finish screen's checklist
  }).catch(fail);
  const live = () => view.pages.filter((p) => !p.blank);
  function groups() {
    const out = [[]];
    for (const p of live()) { if (starts.has(p.id) && out[out.length - 1].length) out.push([]); out[out.length - 1].push(p.id); }
    return out.filter((g) => g.length);
  }
  function collect() {
    $$(".doc", docsBox).forEach((card, i) => { records[i] = Object.assign(records[i] || {}, formData(card)); });
  }
  function render() {
    const strip = $("#strip");
    strip.replaceChildren();
    live().forEach((p, i) => {
      if (i > 0) strip.append(el("button", { type: "button", class: "gap" + (starts.has(p.id) ? " cut" : ""), title: T.split_here, "data-before": p.id,
        onclick: () => { collect(); starts.has(p.id) ? starts.delete(p.id) : starts.add(p.id); render(); autosave(); } }));
      const img = el("img", { src: imgUrl(p, true), alt: "" });
      img.style.transform = "rotate(" + shownTurn(p) + "deg)";
      strip.append(el("div", { class: "pg" }, img, el("div", {}, String(i + 1))));
    });
    const gs = groups();
    const tpl = $("#doc-form");
    docsBox.replaceChildren();
    gs.forEach((g, i) => {
      const card = tpl.content.firstElementChild.cloneNode(true);
      const first = live().findIndex((p) => p.id === g[0]) + 1;
      $(".doc-title", card).textContent = T.document + " " + (i + 1) + " · " + T.pages + " " + first + "–" + (first + g.length - 1);
      const rec = Object.assign({ language: "01", maintenance: "01", mode: "01", format: "02" }, records[i] || {});
      fillForm(card, rec);
      $(".sugg-btn", card).onclick = () => suggest(card, g[0]);
      card.addEventListener("input", () => { collect(); draft(); });
      card.addEventListener("change", () => { collect(); autosave(); });
      docsBox.append(card);
    });
    records.length = gs.length;
  }
  /* OCR of the document's first page, on demand: each suggestion is a chip the operator taps to use */
  async function suggest(card, pageId) {
    const chips = $(".chips", card);
    chips.replaceChildren(el("span", { class: "muted" }, T.reading));
    let res;
    for (let i = 0; i < 120; i++) {
      try { res = await api("GET", "/api/pages/" + pageId + "/suggest"); } catch (e) { chips.replaceChildren(); return fail(e); }
      if (res.state !== "running") break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (res.state === "error") { chips.replaceChildren(); return fail(res); }
    const fields = res.fields || {};
    const use = (name) => { const input = $('[name="' + name + '"]', card); input.value = fields[name]; input.dispatchEvent(new Event("change", { bubbles: true })); };
    const names = Object.keys(fields);
    chips.replaceChildren(...names.map((name) => el("button", { type: "button", class: "chip", "data-suggest": name, onclick: () => use(name) },
      $('label.f[data-field="' + name + '"]', card).firstChild.textContent.replace("*", "").trim() + ": " + fields[name])));
    if (names.length > 1) chips.append(el("button", { type: "button", class: "chip pri", onclick: () => names.forEach(use) }, "✓ " + T.use_all));
    if (!names.length) chips.append(el("span", { class: "muted" }, T.no_suggestion));
  }
  function payload() {
    return groups().map((g, i) => ({ ordinal: i + 1, record: Object.assign({}, records[i] || {}, { ordinal: i + 1, page_ids: g }) }));
  }
  function draft() { localStorage.setItem(draftKey, JSON.stringify({ records, starts: Array.from(starts), saved_at: new Date().toISOString() })); }
  let timer = null;
  function autosave() {  // unchecked save: nothing typed is lost by a reload or a restart
    draft();
    clearTimeout(timer);
    timer = setTimeout(() => api("POST", "/api/batches/" + BATCH + "/documents", { documents: payload() })
      .then(() => { $("#save-state").textContent = T.saved; }).catch(() => {}), 600);
  }
  $("#split-qr").onclick = async () => {
    try {
      const res = await api("POST", "/api/batches/" + BATCH + "/split", { mode: "separators" });
      view = await api("GET", "/api/batches/" + BATCH);
      starts = new Set(res.groups.slice(1).map((g) => g[0]));
      render(); autosave();
    } catch (e) { fail(e); }
  };
  $("#hoso").addEventListener("change", () => {
    api("PUT", "/api/batches/" + BATCH + "/record", { record: formData($("#hoso")) })
      .then(() => { showProblems($("#hoso"), []); $("#save-state").textContent = T.saved; })
      .catch((e) => showProblems($("#hoso"), e.problems || []));
  });
  $("#save-docs").onclick = async () => {
    collect();
    let ok = true;
    try { await api("PUT", "/api/batches/" + BATCH + "/record", { record: formData($("#hoso")) }); showProblems($("#hoso"), []); }
    catch (e) { ok = false; showProblems($("#hoso"), e.problems || []); }
    try {
      await api("POST", "/api/batches/" + BATCH + "/documents?check=1", { documents: payload() });
      $$(".doc", docsBox).forEach((c) => showProblems(c, []));
    } catch (e) {
      ok = false;
      const cards = $$(".doc", docsBox);
      cards.forEach((c, i) => showProblems(c, (e.problems || []).filter((p) => p.document === i)));
      if (!e.problems) fail(e);
    }
    if (ok) { localStorage.removeItem(draftKey); $("#save-state").textContent = T.saved; toast(T.saved); }
  };
};

/* where a checklist problem is fixed: the screen, and the field or page there (read back by that screen) */
function fixHref(p) {
  const hash = p.field ? "#" + (p.form === "hoso" ? "hoso" : "doc" + p.document) + ":" + p.field
    : p.document !== undefined ? "#doc" + p.document + ":" : p.page ? "#page" + p.page : "";
  return "/batch/" + BATCH + "/" + p.screen + hash;
}
function goToHash() {  // "#doc1:subject", "#hoso:end_date", "#page12": show and focus it
  const m = /^#(hoso|doc(\d+)|page(\d+)):?(\w*)$/.exec(location.hash);
  if (!m) return null;
  if (m[3]) return { page: Number(m[3]) };
  const form = m[1] === "hoso" ? $("#hoso") : $$("#docs .doc")[Number(m[2])];
  if (!form) return null;
  const target = (m[4] && $('[name="' + m[4] + '"]', form)) || form;
  target.scrollIntoView({ block: "center" });
  if (target.focus) target.focus({ preventScroll: true });
  return { form };
}

screens.finish = function () {
  const steps = ["start", "ocr", "pdfa", "sign", "package"];
  let shown = 0;  // the bar only moves forward on this screen
  let checking = null;
  async function checklist() {
    const res = await api("GET", "/api/batches/" + BATCH + "/checklist");
    const box = $("#checklist");
    $("#checklist-items").replaceChildren(...res.problems.map((p) => el("li", { "data-code": p.code },
      el("span", { class: "grow" }, p.text),
      el("a", { class: "btn", href: fixHref(p) }, T.fix_it + " →"))));
    box.classList.toggle("hidden", res.ready);
    return res;
  }
  const recheck = () => { clearTimeout(checking); checking = setTimeout(() => checklist().catch(() => {}), 300); };
  watchBatch((v) => {
    if (v.state === "REVIEW" && !v.finishing) recheck(); else $("#checklist").classList.add("hidden");
    setState(v);
    const sheets = sheetsOf(v);
    const flagsOpen = v.unresolved.length;
    $("#summary").replaceChildren(
      el("div", {}, el("strong", {}, v.record.title || v.file_code)),
      el("div", { "data-k": "sheets" }, sheets + (v.expected_sheets ? " / " + v.expected_sheets : "") + " " + T.sheets + " · " + v.pages.filter((p) => !p.blank).length + " " + T.pages),
      el("div", { "data-k": "docs" }, v.documents.length + " × " + T.document),
      el("div", { "data-k": "flags", class: flagsOpen && !v.overridden ? "banner warn" : "" }, flagsOpen ? "⚠ " + flagsOpen + " " + T.flag + (v.overridden ? " — " + T.accepted : "") : "✓ " + T.flags_ok),
    );
    if (v.expected_sheets && sheets !== v.expected_sheets) $("#summary").append(el("div", { class: "banner warn" }, sheets + " ≠ " + v.expected_sheets + " " + T.sheets));
    const err = $("#finish-error");
    if (v.error) { err.textContent = v.error.text; err.classList.remove("hidden"); } else err.classList.add("hidden");
    const last = v.outbox.length ? v.outbox[v.outbox.length - 1] : null;
    const rej = $("#rejected");
    if (v.state === "REJECTED" && last && last.receipt) {
      const rc = JSON.parse(last.receipt);
      const failed = last.reasons || [];
      rej.replaceChildren(el("strong", {}, CFG.states.REJECTED), el("ul", {}, ...(failed.length ? failed : rc.reasons || []).map((r) => el("li", {}, r))));
      rej.classList.remove("hidden");
    } else rej.classList.add("hidden");
    const rc = $("#receipt");
    if (v.state === "SYNCED" && last && last.receipt) {
      const r = JSON.parse(last.receipt);
      rc.replaceChildren(el("strong", {}, "✓ " + T.receipt_ok), el("div", {}, r.objid || ""),
        el("div", { class: "muted" }, T.received + ": " + when(r.received_at) + " · SHA-256 " + (r.sha256 || "").slice(0, 16) + "…"));
      rc.classList.remove("hidden");
    } else rc.classList.add("hidden");
    $("#reopen-btn").classList.toggle("hidden", v.state !== "REJECTED");
    $("#finish-btn").disabled = v.state !== "REVIEW" || !!v.finishing;
    $("#finish-state").textContent = CFG.states[v.state] || v.state;
    const idx = v.finishing ? steps.indexOf(v.finishing) : -1;
    const done = ["SEALED", "SYNCING", "SYNCED"].includes(v.state);
    const pct = done || v.state === "REJECTED" ? 100 : idx >= 0 ? 15 + 17 * idx : (v.state === "FINISHING" ? 15 : 0);
    shown = Math.max(shown, pct);
    $("#bar").style.width = shown + "%";
    $("#finish-step").textContent = v.finishing ? (T["step_" + v.finishing] || v.finishing) : (v.state === "SYNCED" ? "✓" : "");
  });
  const finish = (body) => api("POST", "/api/batches/" + BATCH + "/finish", body).then(() => { shown = Math.max(shown, 5); })
    .catch((e) => { if (e.problems) checklist(); throw e; });
  const pinBox = $("#sign-pin-box");
  $("#finish-btn").onclick = async () => {
    const res = await checklist().catch(fail);  // every problem at once, before any OCR or signing
    if (!res || !res.ready) { $("#checklist").scrollIntoView({ block: "start" }); return; }
    if (!pinBox) return finish({}).catch(fail);
    pinBox.classList.remove("hidden");  // the token's PIN: typed here, sent once, never kept
    pinBox.scrollIntoView({ block: "center" });
  };
  if (pinBox) {
    const pin = $("#sign-pin");
    const dots = () => { $("#sign-pin-dots").textContent = pin.value ? "•".repeat(pin.value.length) : "\u00a0"; };
    $$("#sign-keypad button").forEach((b) => b.onclick = async () => {
      const k = b.dataset.k;
      if (k === "back") pin.value = pin.value.slice(0, -1);
      else if (k !== "ok") { if (pin.value.length < 16) pin.value += k; }
      else {
        const typed = pin.value;
        pin.value = "";
        try { await finish({ pin: typed }); pinBox.classList.add("hidden"); } catch (e) { fail(e); }
      }
      dots();
    });
  }
  $("#reopen-btn").onclick = () => api("POST", "/api/batches/" + BATCH + "/reopen").then(() => { location.href = "/batch/" + BATCH + "/review"; }).catch(fail);
};

screens.accounts = function () {
  $("#account-save").onclick = () => api("POST", "/api/accounts", formData($("#account-form"))).then(() => location.reload()).catch(fail);
};

screens.home = function () { setInterval(() => { if (document.visibilityState === "visible") location.reload(); }, 30000); };

if ($("#login")) screens.login();
const screen = document.body.dataset.screen;
if (screens[screen]) screens[screen]();
