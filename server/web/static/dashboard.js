// Live dashboard: re-render the station tiles and tables from server-sent snapshots.
(function () {
  const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  function render(data) {
    const tiles = Object.entries(data.stations || {}).map(([sid, st]) =>
      `<div class="tile ${st.online ? "online" : "offline"}" data-station="${esc(sid)}"><h3>${esc(sid)}</h3>` +
      `<p>${st.online ? "Đang hoạt động" : "Mất kết nối"}</p>` +
      `<p>Trang đã quét: <b class="pages">${esc(st.pages_captured || 0)}</b></p></div>`).join("");
    document.getElementById("stations").innerHTML = tiles || '<p class="muted">Chưa có trạm nào gửi dữ liệu.</p>';
    document.querySelector("#workorders tbody").innerHTML = (data.workorders || []).map((wo) =>
      `<tr><td>${esc(wo.id)}</td><td>${esc(wo.file_code)}</td><td>${esc(wo.expected_sheets)}</td>` +
      `<td>${esc(wo.station_id || "—")}</td><td>${esc(wo.state)}</td></tr>`).join("");
    document.querySelector("#uploads tbody").innerHTML = (data.uploads || []).map((up) =>
      `<tr class="${esc(up.state)}"><td>${esc(up.station_id)}</td><td>${esc(up.file_code)}</td><td>${esc(up.state)}</td>` +
      `<td>${esc((up.reasons || []).join("; "))}</td><td>${esc(up.updated_at)}</td></tr>`).join("");
  }
  const source = new EventSource("/events");
  source.onmessage = (ev) => render(JSON.parse(ev.data));
})();
