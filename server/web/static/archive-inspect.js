// The inspector's screen (nghiệm thu): step through the sampled pages, mark defects by class with the keyboard,
// propose accept or return. The marks travel with the proposal in the defect record contract:
// {"class", "kind", "objid", "doc_id" (null: whole hồ sơ), "page" (1-based, or null), "note"}.
(function () {
  "use strict";
  const units = JSON.parse(document.getElementById("units").textContent);
  const box = document.getElementById("inspector");
  const key = box.dataset.store;
  const marks = [];
  try {  // marks of this sample not yet sent survive a reload or a refused proposal
    if (box.dataset.sent === "1") sessionStorage.removeItem(key);
    else marks.push(...JSON.parse(sessionStorage.getItem(key) || "[]"));
  } catch (e) { /* storage off: the marks live in the page only */ }
  let at = 0;
  let zoomed = false;
  const $ = (id) => document.getElementById(id);

  function show() {
    const u = units[at];
    if (!u) return;
    $("position").textContent = (at + 1) + "/" + units.length;
    $("where").textContent = u.file_code + " · " + u.doc_id + " · " + u.page + "/" + u.pages;
    $("page").src = zoomed ? u.img_big : u.img;
    $("sheet").classList.toggle("zoomed", zoomed);
    const body = $("meta").querySelector("tbody");
    body.textContent = "";
    for (const f of u.fields.concat(u.hoso_fields)) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.textContent = f.name;
      td.textContent = f.value + (f.meaning ? " (" + f.meaning + ")" : "");
      tr.append(th, td);
      body.append(tr);
    }
    document.body.dataset.unit = String(at);
  }

  function render() {
    const list = $("marked");
    list.textContent = "";
    marks.forEach((m, i) => {
      const li = document.createElement("li");
      li.dataset.kind = m.kind;
      const label = document.querySelector('.mark[data-kind="' + m.kind + '"]').dataset.label;
      li.textContent = label + " — " + (m.doc_id ? m.doc_id + " · " + m.page : list.dataset.whole) + (m.note ? ": " + m.note : "") + " ";
      const drop = document.createElement("button");
      drop.type = "button";
      drop.textContent = list.dataset.remove;
      drop.addEventListener("click", () => { marks.splice(i, 1); render(); });
      li.append(drop);
      list.append(li);
    });
    $("none").hidden = marks.length > 0;
    $("defects").value = JSON.stringify(marks);
    verdict();
    try { sessionStorage.setItem(key, JSON.stringify(marks)); } catch (e) { /* page only */ }
  }

  // The ISO 2859-1 plan's verdict as the marks go (server/archive/aql.py counts the same way at proposal):
  // d = the pages (or whole hồ sơ marks) with a defect of the class; return when any class reaches its Re.
  function verdict() {
    const table = $("plan");
    if (!table) return;
    let reject = false;
    for (const row of table.querySelectorAll("tbody tr")) {
      const seen = new Set();
      marks.forEach((m, i) => {
        if (m.class === row.dataset.class) seen.add(m.page ? m.objid + "|" + m.doc_id + "|" + m.page : "whole" + i);
      });
      row.querySelector(".d").textContent = String(seen.size);
      if (seen.size >= Number(row.dataset.re)) reject = true;
    }
    const out = $("plan-verdict");
    out.textContent = reject ? out.dataset.return : out.dataset.accept;
    out.dataset.verdict = reject ? "return" : "accept";
  }

  function mark(button) {
    const u = units[at];
    const whole = $("whole").checked;
    marks.push({
      class: button.dataset.class, kind: button.dataset.kind, objid: u.objid,
      doc_id: whole ? null : u.doc_id, page: whole ? null : u.page, note: $("note").value.trim(),
    });
    $("note").value = "";
    $("whole").checked = false;
    render();
  }

  function go(step) { at = Math.min(Math.max(at + step, 0), units.length - 1); show(); }

  function propose(decision) {
    $("decision").value = decision;
    $("defects").value = JSON.stringify(marks);
    $("propose").requestSubmit();
  }

  $("prev").addEventListener("click", () => go(-1));
  $("next").addEventListener("click", () => go(1));
  $("zoom").addEventListener("click", () => { zoomed = !zoomed; show(); });
  for (const b of document.querySelectorAll(".mark")) b.addEventListener("click", () => mark(b));
  for (const b of document.querySelectorAll("#propose button[data-decision]")) {
    b.addEventListener("click", () => { $("decision").value = b.dataset.decision; $("defects").value = JSON.stringify(marks); });
  }
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (e.key === "ArrowRight" || e.key === "PageDown") go(1);
    else if (e.key === "ArrowLeft" || e.key === "PageUp") go(-1);
    else if (key === "z") { zoomed = !zoomed; show(); }
    else if (key === "h") $("whole").checked = !$("whole").checked;
    else if (key === "n") $("note").focus();
    else if (key === "a") propose("accept");
    else if (key === "r") propose("return");
    else if (/^[1-9]$/.test(e.key)) {
      const b = document.querySelector('.mark[data-key="' + e.key + '"]');
      if (b) mark(b);
    } else return;
    e.preventDefault();
  });
  show();
  render();
})();
