"""Interface texts of the supervisor's web UI: Vietnamese by default, English on request.

Templates call `t("key")`; dashboard.js receives the same table as JSON so live updates speak the same
language. A missing key shows the key itself (visible, never a crash).
"""

from __future__ import annotations

LANGS = ("vi", "en")
DEFAULT = "vi"

TEXTS: dict[str, dict[str, str]] = {
    "app": {"vi": "Lưu trữ trung tâm", "en": "Central archive"},
    "dashboard": {"vi": "Bảng điều khiển", "en": "Dashboard"},
    "workorders": {"vi": "Lệnh số hóa", "en": "Work orders"},
    "search": {"vi": "Tra cứu", "en": "Search"},
    "users": {"vi": "Tài khoản", "en": "Accounts"},
    "logout": {"vi": "Đăng xuất", "en": "Log out"},
    "login": {"vi": "Đăng nhập", "en": "Log in"},
    "username": {"vi": "Tên đăng nhập", "en": "User name"},
    "password": {"vi": "Mật khẩu", "en": "Password"},
    "role": {"vi": "Vai trò", "en": "Role"},
    "role_supervisor": {"vi": "Giám sát", "en": "Supervisor"},
    "role_admin": {"vi": "Quản trị", "en": "Administrator"},
    "login_failed": {"vi": "Sai tên đăng nhập hoặc mật khẩu.", "en": "Wrong user name or password."},
    "login_limited": {"vi": "Đăng nhập sai quá nhiều lần. Thử lại sau {s} giây.",
                      "en": "Too many failed logins. Try again in {s} seconds."},
    "csrf_failed": {"vi": "Phiên làm việc đã hết hạn, hãy tải lại trang.",
                    "en": "Your session expired: reload the page."},
    "forbidden": {"vi": "Tài khoản của bạn không có quyền này.", "en": "Your account may not do this."},
    "stations": {"vi": "Trạm số hóa", "en": "Scanning stations"},
    "no_stations": {"vi": "Chưa có trạm nào gửi dữ liệu.", "en": "No station has reported yet."},
    "broker_down": {"vi": "Mất kết nối tới máy chủ MQTT: số liệu trực tiếp tạm dừng.",
                    "en": "Lost the MQTT broker: live figures are paused."},
    "online": {"vi": "Đang hoạt động", "en": "Online"},
    "offline": {"vi": "Mất kết nối", "en": "Offline"},
    "unknown": {"vi": "Chưa rõ", "en": "Unknown"},
    "stalled": {"vi": "Đang dừng", "en": "Stalled"},
    "operator": {"vi": "Người quét", "en": "Operator"},
    "hoso": {"vi": "Hồ sơ", "en": "File (hồ sơ)"},
    "scanner": {"vi": "Máy quét", "en": "Scanner"},
    "scanner_absent": {"vi": "không có", "en": "absent"},
    "scanner_idle": {"vi": "sẵn sàng", "en": "idle"},
    "scanner_scanning": {"vi": "đang quét", "en": "scanning"},
    "scanner_paused": {"vi": "tạm dừng", "en": "paused"},
    "scanner_fault": {"vi": "lỗi", "en": "fault"},
    "pages": {"vi": "Trang đã quét", "en": "Pages scanned"},
    "ppm": {"vi": "Trang/phút", "en": "Pages/min"},
    "queues": {"vi": "Hàng đợi (xử lý · OCR · gửi)", "en": "Queues (processing · OCR · sync)"},
    "last_fault": {"vi": "Lỗi gần nhất", "en": "Last fault"},
    "cleared": {"vi": "đã khắc phục", "en": "cleared"},
    "none": {"vi": "không", "en": "none"},
    "throughput": {"vi": "Năng suất (trang)", "en": "Throughput (pages)"},
    "today": {"vi": "Hôm nay", "en": "Today"},
    "week": {"vi": "7 ngày qua", "en": "Last 7 days"},
    "by_station": {"vi": "Theo trạm", "en": "By station"},
    "by_operator": {"vi": "Theo người quét", "en": "By operator"},
    "no_data": {"vi": "Chưa có số liệu.", "en": "No data yet."},
    "progress": {"vi": "Tiến độ theo phông", "en": "Progress per fonds"},
    "fonds": {"vi": "Phông", "en": "Fonds"},
    "orders": {"vi": "Số lệnh", "en": "Orders"},
    "sheets_expected": {"vi": "Tờ dự kiến", "en": "Sheets expected"},
    "pages_scanned": {"vi": "Trang đã quét", "en": "Pages scanned"},
    "sheets_accepted": {"vi": "Tờ đã tiếp nhận", "en": "Sheets accepted"},
    "rejections": {"vi": "Gói bị từ chối gần đây", "en": "Recent rejections"},
    "no_rejections": {"vi": "Không có gói nào bị từ chối.", "en": "No package was rejected."},
    "station": {"vi": "Trạm", "en": "Station"},
    "file_code": {"vi": "Mã hồ sơ", "en": "File code"},
    "reasons": {"vi": "Lý do", "en": "Reasons"},
    "time": {"vi": "Thời gian", "en": "Time"},
    "events": {"vi": "Sự kiện gần đây", "en": "Recent events"},
    "title": {"vi": "Tiêu đề", "en": "Title"},
    "priority": {"vi": "Ưu tiên", "en": "Priority"},
    "stage": {"vi": "Trạng thái", "en": "Stage"},
    "stage_new": {"vi": "Chưa giao", "en": "Not assigned"},
    "stage_assigned": {"vi": "Đã giao", "en": "Assigned"},
    "stage_scanning": {"vi": "Đang quét", "en": "Scanning"},
    "stage_scanned": {"vi": "Đã quét", "en": "Scanned"},
    "stage_accepted": {"vi": "Đã tiếp nhận", "en": "Accepted"},
    "reopen": {"vi": "Mở lại", "en": "Reopen"},
    "reopened": {"vi": "Đã mở lại lệnh số hóa {id}: trạm sẽ thấy lại lệnh này.",
                 "en": "Work order {id} reopened: its station sees it again."},
    "stage_rejected": {"vi": "Bị từ chối", "en": "Rejected"},
    "flag_damaged": {"vi": "hư hỏng", "en": "damaged"},
    "flag_permanent": {"vi": "vĩnh viễn", "en": "permanent"},
    "flag_high_use": {"vi": "sử dụng nhiều", "en": "high use"},
    "import": {"vi": "Nhập mục lục hồ sơ (CSV, XLSX)", "en": "Import the inventory (CSV, XLSX)"},
    "import_button": {"vi": "Nhập", "en": "Import"},
    "dry_run": {"vi": "Chỉ kiểm tra, chưa nhập", "en": "Check only, do not import"},
    "import_done": {"vi": "Đã tạo {n} lệnh từ {total} dòng.", "en": "Created {n} orders from {total} rows."},
    "import_checked": {"vi": "Kiểm tra xong: {n} lệnh sẽ được tạo từ {total} dòng.",
                       "en": "Checked: {n} orders would be created from {total} rows."},
    "bad_rows": {"vi": "Dòng có lỗi (không được nhập)", "en": "Rows with errors (not imported)"},
    "skipped_rows": {"vi": "Dòng đã có lệnh (bỏ qua)", "en": "Rows already ordered (skipped)"},
    "row": {"vi": "Dòng", "en": "Row"},
    "column": {"vi": "Cột", "en": "Column"},
    "value": {"vi": "Giá trị", "en": "Value"},
    "problem": {"vi": "Lỗi", "en": "Problem"},
    "assign": {"vi": "Giao cho trạm", "en": "Assign to station"},
    "unassign": {"vi": "— trả về chưa giao —", "en": "— back to the pool —"},
    "assigned_n": {"vi": "Đã giao {n} lệnh.", "en": "Assigned {n} orders."},
    "no_orders": {"vi": "Chưa có lệnh số hóa.", "en": "No work orders yet."},
    "add_user": {"vi": "Thêm tài khoản", "en": "Add an account"},
    "save": {"vi": "Lưu", "en": "Save"},
    "user_saved": {"vi": "Đã lưu tài khoản {name}.", "en": "Saved account {name}."},
    "last_login": {"vi": "Đăng nhập lần cuối", "en": "Last login"},
    "search_placeholder": {"vi": "Tìm hồ sơ, tài liệu, nội dung (có hoặc không dấu)",
                           "en": "Search files, documents, text (with or without diacritics)"},
    "results_for": {"vi": "{n} kết quả cho «{q}»", "en": "{n} results for «{q}»"},
    "live": {"vi": "Trực tiếp", "en": "Live"},
    "reconnecting": {"vi": "Đang kết nối lại…", "en": "Reconnecting…"},
}


def text(key: str, lang: str, **values: object) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    out = entry.get(lang) or entry[DEFAULT]
    return out.format(**values) if values else out


def table(lang: str) -> dict[str, str]:
    """Every text in one language (for the browser)."""
    return {key: entry.get(lang) or entry[DEFAULT] for key, entry in TEXTS.items()}
