/* The archive's rework list on the station (#18.9, #17.5). Home: the hồ sơ the archive returned, with their
   defects and a button to reopen each. Review of a reopened hồ sơ: the defects listed on top, and a badge on
   the thumbnail of each page a defect is on (kept when station.js redraws the thumbnails). Texts come from
   the page (data-*) and the API, both through the station's catalogues. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("sohoa-config").textContent);

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    for (const k of kids) n.append(k);
    return n;
  }
  async function call(method, url, body) {
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: Object.assign({ "Accept": "application/json" },
        body ? { "Content-Type": "application/json", "X-CSRF-Token": cfg.csrf } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.text || data.message || String(r.status));
    return data;
  }
  function toast(text) {
    const t = document.getElementById("toast");
    if (!t) return;
    const d = el("div", { class: "err" }, text);
    t.append(d);
    setTimeout(() => d.remove(), 6000);
  }
  function defectLine(d) {
    return d.where + ": " + d.label + (d.note ? " — " + d.note : "");
  }

  /* home ------------------------------------------------------------------------------------------ */
  async function home(box) {
    const data = await call("GET", "/api/rework");
    const list = document.getElementById("rework-items");
    list.replaceChildren();
    for (const item of data.rework) {
      const head = el("div", { class: "row" },
        el("strong", { class: "grow" }, (item.title || item.file_code || item.objid) + " "),
        el("span", { class: "code" }, item.file_code || ""));
      const defects = el("ul", { class: "rework-defects" }, ...item.defects.map((d) => el("li", {}, defectLine(d))));
      const li = el("li", { "data-objid": item.objid, "data-status": item.status }, head,
        el("div", { class: "muted" }, item.status_label), defects);
      if (item.note) li.insertBefore(el("p", { class: "note" }, item.note), defects);
      if (item.status === "returned" || item.status === "missing") {  // missing: fetched from the archive
        const b = el("button", { type: "button", class: "pri big reopen" }, box.dataset.reopen);
        b.addEventListener("click", async () => {
          b.disabled = true;
          try { location.href = (await call("POST", "/api/rework/reopen", { objid: item.objid })).url; }
          catch (e) { toast(e.message); b.disabled = false; }
        });
        li.append(el("div", { class: "row" }, b));
      } else if (item.status === "reworking" && item.batch_id) {
        li.append(el("div", { class: "row" }, el("a", { class: "btn pri big", href: "/batch/" + item.batch_id + "/review" },
          box.dataset.continue)));
      }
      list.append(li);
      if (item.batch_id && item.status === "returned") {
        const row = document.querySelector('.batch[data-batch="' + item.batch_id + '"] .state');
        if (row && !row.parentNode.querySelector(".returned"))
          row.after(el("span", { class: "pill returned" }, box.dataset.returned));
      }
    }
    for (const o of data.outcomes) {  // the archive's verdict on the hồ sơ sent from here
      const row = o.batch_id && document.querySelector('.batch[data-batch="' + o.batch_id + '"] .state');
      if (row && !row.parentNode.querySelector(".outcome"))
        row.after(el("span", { class: "pill ok outcome" }, o.state === "archived" ? box.dataset.archived : box.dataset.accepted));
    }
    box.classList.toggle("hidden", !data.rework.length);
  }

  /* review ---------------------------------------------------------------------------------------- */
  async function review(panel, batch) {
    const data = await call("GET", "/api/batches/" + batch + "/rework");
    if (!data.rework) return;
    document.getElementById("rework-title").textContent = panel.dataset.title.replace("{n}", data.version);
    if (data.note) {
      const note = document.getElementById("rework-note");
      note.textContent = data.note;
      note.classList.remove("hidden");
    }
    const list = document.getElementById("rework-defects");
    list.replaceChildren(...data.defects.map((d) => {
      const li = el("li", { "data-page": d.page_id === null ? "" : d.page_id }, defectLine(d));
      if (d.changed) li.append(el("span", { class: "done" }, " ✓ " + panel.dataset.changed));
      if (d.page_id !== null) {
        const b = el("button", { type: "button" }, panel.dataset.show);
        b.addEventListener("click", () => {
          const t = document.querySelector('.thumb[data-page="' + d.page_id + '"]');
          if (t) { t.scrollIntoView({ block: "nearest" }); t.click(); }
        });
        li.append(b);
      }
      return li;
    }));
    panel.classList.remove("hidden");
    const onPage = new Map();
    for (const d of data.defects) {
      if (d.page_id === null) continue;
      onPage.set(d.page_id, (onPage.get(d.page_id) || []).concat([d]));
    }
    function badges() {
      for (const [id, ds] of onPage) {
        for (const t of document.querySelectorAll('.thumb[data-page="' + id + '"]')) {
          if (t.querySelector(".rework-badge")) continue;
          t.classList.add("rework-page");
          // in the thumbnail's own badge row, which wraps: the whole name shows, never cut short
          (t.querySelector(".badges") || t).prepend(el("span", { class: "rework-badge",
            title: ds.map(defectLine).join("\n") }, "⚠ " + ds.map((d) => d.label).join(", ")));
        }
      }
    }
    badges();
    const obs = new MutationObserver(badges);  // station.js redraws the thumbnails on every change
    for (const id of ["thumbs", "blanks", "deleted"]) {
      const box = document.getElementById(id);
      if (box) obs.observe(box, { childList: true });
    }
  }

  const homeBox = document.getElementById("rework-home");
  if (homeBox) home(homeBox).catch((e) => toast(e.message));
  const panel = document.getElementById("rework-review");
  if (panel && document.body.dataset.batch) review(panel, document.body.dataset.batch).catch((e) => toast(e.message));
})();
