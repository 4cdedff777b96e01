// barchart.js: a tiny stacked bar chart in SVG, written for sohoa (no dependencies, no CDN).
// barChart(element, {labels: [x...], series: [{name, values: [..]}], empty: "text"})
(function (global) {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f6f8b", "#e07a1f", "#3c9d5d", "#b8405e", "#7a5195", "#c9a227", "#4d7ea8", "#8c564b"];
  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function barChart(target, spec) {
    const width = target.clientWidth || 600, height = 220;
    const pad = {left: 44, right: 8, top: 10, bottom: 44};
    const labels = spec.labels || [], series = spec.series || [];
    target.textContent = "";
    if (!labels.length || !series.length) {
      const p = document.createElement("p");
      p.className = "muted"; p.textContent = spec.empty || "";
      target.appendChild(p); return;
    }
    const totals = labels.map((_, i) => series.reduce((s, ser) => s + (ser.values[i] || 0), 0));
    const top = niceMax(Math.max(...totals));
    const svg = el("svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: "barchart"});
    const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    for (let k = 0; k <= 4; k++) {
      const y = pad.top + plotH - (plotH * k) / 4;
      svg.appendChild(el("line", {x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid"}));
      svg.appendChild(el("text", {x: pad.left - 4, y: y + 4, "text-anchor": "end", class: "axis"},
        String(Math.round((top * k) / 4))));
    }
    const slot = plotW / labels.length, barW = Math.max(2, slot * 0.7);
    labels.forEach((label, i) => {
      let base = pad.top + plotH;
      const x = pad.left + i * slot + (slot - barW) / 2;
      series.forEach((ser, j) => {
        const v = ser.values[i] || 0;
        if (!v) return;
        const h = (plotH * v) / top;
        base -= h;
        const rect = el("rect", {x, y: base, width: barW, height: h, fill: PALETTE[j % PALETTE.length],
          "data-series": ser.name, "data-value": v});
        rect.appendChild(el("title", {}, `${ser.name} · ${label}: ${v}`));
        svg.appendChild(rect);
      });
      if (labels.length <= 24) {
        svg.appendChild(el("text", {x: x + barW / 2, y: pad.top + plotH + 14, "text-anchor": "middle",
          class: "axis"}, label));
      }
    });
    const legend = el("g", {class: "legend"});
    let lx = pad.left;
    series.forEach((ser, j) => {
      legend.appendChild(el("rect", {x: lx, y: height - 16, width: 10, height: 10, fill: PALETTE[j % PALETTE.length]}));
      const text = el("text", {x: lx + 14, y: height - 7, class: "axis"}, ser.name);
      legend.appendChild(text);
      lx += 24 + ser.name.length * 7;
    });
    svg.appendChild(legend);
    target.appendChild(svg);
  }
  global.barChart = barChart;
})(window);
