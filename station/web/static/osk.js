/* The station's on-screen keyboard: the kiosk (cage + Chromium) has neither a keyboard nor an input method.
   It opens for any text field on a touch screen (a numeric pad for numbers and dates), types Vietnamese with
   Telex or VNI (vnkey.js), and can be turned off with the ⌨ button where a physical keyboard is used; both
   choices are kept in the browser (localStorage). Keys act on pointerdown with the default prevented, so
   the field keeps its focus and caret. */
(function () {
  "use strict";
  const T = JSON.parse(document.getElementById("sohoa-config").textContent).T || {};
  const store = window.localStorage;
  const touch = window.matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
  let enabled = store.getItem("sohoa.osk") ? store.getItem("sohoa.osk") === "on" : touch;
  let method = store.getItem("sohoa.osk.method") || "telex";  // telex | vni | off (plain letters)
  let target = null, shift = false, layer = "abc", startValue = "";

  const ROWS = {
    abc: [["q", "w", "e", "r", "t", "y", "u", "i", "o", "p", "back"],
      ["a", "s", "d", "f", "g", "h", "j", "k", "l", "'"],
      ["shift", "z", "x", "c", "v", "b", "n", "m", ",", ".", "-"],
      ["sym", "method", "space", "left", "right", "done"]],
    sym: [["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "back"],
      ["/", "-", ".", ",", ":", ";", "(", ")", "\"", "?"],
      ["!", "@", "%", "&", "+", "=", "*", "#", "_", "–"],
      ["abc", "method", "space", "left", "right", "done"]],
    num: [["7", "8", "9", "back"], ["4", "5", "6", "/"], ["1", "2", "3", "-"], ["0", "left", "right", "done"]],
  };
  const LABEL = { back: "⌫", shift: "⇧", space: T.osk_space || "␣", left: "←", right: "→", done: "✓ " + (T.done || "OK"),
    sym: "123", abc: "ABC" };
  const METHOD_LABEL = { telex: "Telex", vni: "VNI", off: "ABC" };

  const box = document.createElement("div");
  box.id = "osk";
  box.className = "osk hidden";
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", T.osk || "Keyboard");
  document.body.appendChild(box);

  function isField(node) {
    if (!node || node.disabled || node.readOnly) return false;
    if (node.tagName === "TEXTAREA") return true;
    return node.tagName === "INPUT" && ["text", "search", "", "tel"].includes(node.getAttribute("type") || "");
  }
  const numeric = (node) => node.tagName === "INPUT" && node.inputMode === "numeric";

  function render() {
    let rows = ROWS[layer];
    if (layer === "abc" && method === "vni") rows = [ROWS.sym[0]].concat(rows.map((r) => r.filter((k) => k !== "back")));
    box.dataset.layer = layer;
    box.replaceChildren(...rows.map((row) => {
      const div = document.createElement("div");
      div.className = "osk-row";
      for (const k of row) {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.key = k;
        b.tabIndex = -1;
        b.className = "k-" + (k.length > 1 ? k : "char");
        b.textContent = k === "method" ? METHOD_LABEL[method] : LABEL[k] || (shift ? k.toUpperCase() : k);
        if (k === "shift" && shift) b.classList.add("on");
        div.appendChild(b);
      }
      return div;
    }));
  }

  function edit(fn) {
    const t = target;
    const s = t.selectionStart ?? t.value.length, e = t.selectionEnd ?? s;
    let before = t.value.slice(0, s);
    const after = t.value.slice(e);
    before = fn(before, s !== e);
    if (t.maxLength > 0 && before.length + after.length > t.maxLength) return;
    t.value = before + after;
    t.setSelectionRange(before.length, before.length);
    t.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function type(key) {
    const vnMods = method === "vni" ? /^[0-9]$/ : /^$/;
    const letter = /^\p{L}$/u.test(key);
    if (numeric(target) || method === "off" || !(letter || vnMods.test(key))) return edit((b) => b + key);
    edit((b) => {
      const word = window.VNKey.WORD.exec(b)[0];
      return b.slice(0, b.length - word.length) + window.VNKey.applyKey(word, key, { method });
    });
  }

  function press(k) {
    if (!target) return;
    if (k === "back") edit((b, sel) => (sel ? b : Array.from(b).slice(0, -1).join("")));
    else if (k === "left" || k === "right") {
      const at = Math.max(0, Math.min(target.value.length, target.selectionStart + (k === "left" ? -1 : 1)));
      target.setSelectionRange(at, at);
    } else if (k === "space") edit((b) => b + " ");
    else if (k === "shift") { shift = !shift; render(); }
    else if (k === "sym" || k === "abc") { layer = k; render(); }
    else if (k === "method") {
      method = { telex: "vni", vni: "off", off: "telex" }[method];
      store.setItem("sohoa.osk.method", method);
      render();
    } else if (k === "done") { const t = target; close(); t.blur(); }
    else {
      type(shift ? k.toUpperCase() : k);
      if (shift) { shift = false; render(); }
    }
  }

  box.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();  // the field keeps its focus and caret
    const b = ev.target.closest("button");
    if (b) press(b.dataset.key);
  });
  box.addEventListener("mousedown", (ev) => ev.preventDefault());

  function open(node) {
    target = node;
    startValue = node.value;
    layer = numeric(node) ? "num" : "abc";
    shift = false;
    render();
    box.classList.remove("hidden");
    document.body.style.paddingBottom = box.offsetHeight + "px";
    // the field between the sticky header and the keyboard
    const r = node.getBoundingClientRect(), kb = box.getBoundingClientRect().top;
    const head = (document.querySelector("header.top") || { offsetHeight: 0 }).offsetHeight;
    if (r.bottom > kb - 8) window.scrollBy(0, Math.min(r.bottom - kb + 8, r.top - head - 8));
    else if (r.top < head) window.scrollBy(0, r.top - head - 8);
  }
  function close() {  // typed values raise no native "change": the forms (and the date rule) need one
    const t = target;
    target = null;
    box.classList.add("hidden");
    document.body.style.paddingBottom = "";
    if (t && t.value !== startValue) t.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("focusin", (ev) => {
    if (ev.target === target) return;
    if (target) close();
    if (enabled && isField(ev.target)) open(ev.target);
  });
  document.addEventListener("focusout", (ev) => {
    if (ev.target !== target) return;
    setTimeout(() => { if (target && document.activeElement !== target) close(); }, 0);
  });

  const toggle = document.getElementById("osk-toggle");
  function showToggle() { if (toggle) { toggle.classList.toggle("on", enabled); toggle.setAttribute("aria-pressed", String(enabled)); } }
  if (toggle) toggle.addEventListener("click", () => {
    enabled = !enabled;
    store.setItem("sohoa.osk", enabled ? "on" : "off");
    if (!enabled) close();
    showToggle();
  });
  showToggle();
  window.SohoaKeyboard = { open: (node) => open(node), close, get method() { return method; } };
})();
