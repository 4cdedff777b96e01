// The archive's document viewer: one server-rendered page at a time, its OCR words laid over it
// (transparent, selectable; shown on request), zoom and pan, hits of the search marked, signature panel.
// No inline script, no framework, nothing from a CDN.
(function () {
  "use strict";
  var root = document.getElementById("viewer");
  if (!root) return;
  var pages = +root.dataset.pages, page = +root.dataset.page, q = root.dataset.q || "";
  var widths = root.dataset.widths.split(",").map(Number);
  var img = document.getElementById("page-img"), layer = document.getElementById("textlayer");
  var sheet = document.getElementById("sheet"), stage = document.getElementById("stage");
  var zoom = 1, pendingHit = null;

  // Bring the first hit of the search into view once both the words and the page image are laid out.
  function showHit() {
    if (!pendingHit || !img.complete || !img.naturalWidth) return;
    var stageBox = stage.getBoundingClientRect(), box = pendingHit.getBoundingClientRect();
    stage.scrollTop += box.top - stageBox.top - stage.clientHeight / 2;
    stage.scrollLeft += box.left - stageBox.left - stage.clientWidth / 2;
    pendingHit = null;
  }

  function url(template, n) { return template.replace(/\/0(\.png)?$/, "/" + n + "$1"); }
  function imageUrl(n, w) { return url(root.dataset.image, n) + "?w=" + w; }

  function fitWidth() { return Math.max(200, stage.clientWidth - 24); }
  function applyZoom() {
    var w = Math.round(fitWidth() * zoom);
    sheet.style.width = w + "px";
    document.getElementById("zoom-level").textContent = Math.round(zoom * 100) + "%";
    var want = w * (window.devicePixelRatio || 1) > widths[1] * 1.1 ? widths[2] : widths[1];
    var src = imageUrl(page, want);
    if (img.getAttribute("src") !== src && (want === widths[2] || img.naturalWidth < want)) img.src = src;
    sizeWords();
  }

  // Each word gets the height of its box, then is stretched to the box's width, so a selection covers
  // exactly the word on the image (fonts differ from the scanned type).
  function sizeWords() {
    var h = sheet.clientHeight, w = sheet.clientWidth;
    var spans = Array.prototype.slice.call(layer.children);
    spans.forEach(function (s) {
      s.style.transform = "";
      s.style.fontSize = Math.max(4, +s.dataset.h * h * 0.85) + "px";
    });
    var natural = spans.map(function (s) { return s.offsetWidth; });  // one layout pass for all words
    spans.forEach(function (s, i) {
      if (natural[i] > 0) s.style.transform = "scaleX(" + (+s.dataset.w * w / natural[i]) + ")";
    });
  }

  function loadText() {
    layer.textContent = "";
    fetch(url(root.dataset.text, page) + (q ? "?q=" + encodeURIComponent(q) : ""), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var first = null;
        (data.words || []).forEach(function (w) {
          var s = document.createElement("span");
          s.textContent = w.t + " ";  // inside the span (white-space: pre): copied text keeps its word breaks
          s.style.left = (w.x * 100) + "%";
          s.style.top = (w.y * 100) + "%";
          s.style.height = (w.h * 100) + "%";
          s.dataset.h = w.h;
          s.dataset.w = w.w;
          if (w.hit) { s.className = "hit"; first = first || s; }
          layer.appendChild(s);
        });
        pendingHit = first;
        sizeWords();
        root.dataset.textReady = "1";
        showHit();
      });
  }

  function show(n) {
    page = Math.min(Math.max(1, n), pages);
    img.src = imageUrl(page, widths[1]);
    document.getElementById("pageinfo").textContent =
      root.dataset.tPageOf.replace("{n}", page).replace("{total}", pages);
    Array.prototype.forEach.call(document.querySelectorAll(".thumb"), function (a) {
      a.classList.toggle("current", +a.dataset.page === page);
    });
    var cur = document.querySelector('.thumb[data-page="' + page + '"]'), strip = document.getElementById("thumbs");
    if (cur && (cur.offsetTop < strip.scrollTop || cur.offsetTop + cur.offsetHeight > strip.scrollTop + strip.clientHeight)) {
      strip.scrollTop = cur.offsetTop - strip.offsetTop;  // only the strip scrolls, never the window
    }
    root.dataset.page = page;
    history.replaceState(null, "", "?page=" + page + (q ? "&q=" + encodeURIComponent(q) : ""));
    loadText();
  }

  document.getElementById("prev").addEventListener("click", function () { show(page - 1); });
  document.getElementById("next").addEventListener("click", function () { show(page + 1); });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom = Math.min(4, zoom * 1.25); applyZoom(); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom = Math.max(0.25, zoom / 1.25); applyZoom(); });
  document.getElementById("zoom-fit").addEventListener("click", function () { zoom = 1; applyZoom(); });
  document.getElementById("show-text").addEventListener("change", function (e) {
    layer.classList.toggle("visible", e.target.checked);
  });
  document.getElementById("thumbs").addEventListener("click", function (e) {
    var a = e.target.closest(".thumb");
    if (!a) return;
    e.preventDefault();
    show(+a.dataset.page);
  });
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "ArrowRight" || e.key === "PageDown") show(page + 1);
    else if (e.key === "ArrowLeft" || e.key === "PageUp") show(page - 1);
    else if (e.key === "+") { zoom = Math.min(4, zoom * 1.25); applyZoom(); }
    else if (e.key === "-") { zoom = Math.max(0.25, zoom / 1.25); applyZoom(); }
  });

  // Pan: drag the page (text selection still works with the text layer shown).
  var drag = null;
  stage.addEventListener("mousedown", function (e) {
    if (layer.classList.contains("visible") && e.target.parentNode === layer) return;
    drag = {x: e.clientX, y: e.clientY, left: stage.scrollLeft, top: stage.scrollTop};
    stage.classList.add("dragging");
    e.preventDefault();
  });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    stage.scrollLeft = drag.left - (e.clientX - drag.x);
    stage.scrollTop = drag.top - (e.clientY - drag.y);
  });
  window.addEventListener("mouseup", function () { drag = null; stage.classList.remove("dragging"); });
  img.addEventListener("load", function () { sizeWords(); showHit(); });
  window.addEventListener("resize", applyZoom);

  function yesNo(v) { return v ? root.dataset.tYes : root.dataset.tNo; }
  fetch(root.dataset.integrity, {credentials: "same-origin"})
    .then(function (r) { return r.json(); })
    .then(function (v) {
      var panel = document.getElementById("sigpanel");
      panel.dataset.state = v.ok ? "ok" : "failed";
      document.getElementById("sig-verdict").textContent = v.ok ? root.dataset.tOk : root.dataset.tFailed;
      document.getElementById("sig-signer").textContent = v.signature.signer || "—";
      document.getElementById("sig-time").textContent = v.signature.signed_at || "—";
      document.getElementById("sig-intact").textContent = yesNo(v.signature.intact && v.pdf_ok && v.package_ok);
      document.getElementById("sig-trusted").textContent = yesNo(v.signature.trusted);
      var ul = document.getElementById("sig-reasons");
      (v.reasons || []).forEach(function (r) { var li = document.createElement("li"); li.textContent = r; ul.appendChild(li); });
    }, function () { document.getElementById("sigpanel").dataset.state = "failed"; });

  applyZoom();
  show(page);
})();
