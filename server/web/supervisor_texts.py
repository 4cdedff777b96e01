"""The supervisor view's added texts, in the one text table (server/i18n.TEXTS)."""

from __future__ import annotations

from server import i18n

TEXTS: dict[str, dict[str, str]] = {
    "pace": {"vi": "Năng suất trực tiếp so với kế hoạch", "en": "Live pace against the plan"},
    "pace_note": {"vi": "Kế hoạch: số tờ của các lệnh số hóa. Giờ còn lại tính theo năng suất hôm nay.",
                  "en": "Plan: the work orders' sheets. Hours left at today's pace."},
    "pace_operator": {"vi": "Theo người quét", "en": "Per operator"},
    "pace_station": {"vi": "Theo trạm", "en": "Per station"},
    "pace_fonds": {"vi": "Theo phông", "en": "Per fonds"},
    "this_hour": {"vi": "Trang trong giờ này", "en": "Pages this hour"},
    "today_pages": {"vi": "Trang hôm nay", "en": "Pages today"},
    "per_hour": {"vi": "Trang/giờ (hôm nay)", "en": "Pages/hour (today)"},
    "plan_sheets": {"vi": "Kế hoạch (tờ)", "en": "Plan (sheets)"},
    "done_pct": {"vi": "Đã thực hiện", "en": "Done"},
    "hours_left": {"vi": "Còn lại (giờ)", "en": "Hours left"},
    "no_plan": {"vi": "chưa có kế hoạch", "en": "no plan"},
    "no_pace": {"vi": "chưa có năng suất", "en": "no pace yet"},
    "defects": {"vi": "Tỷ lệ lỗi theo nghiệm thu", "en": "Defect rate from acceptance"},
    "defects_note": {"vi": "Lỗi trong các quyết định nghiệm thu đã phê duyệt, tính cho người đã số hóa hồ sơ "
                           "(theo lịch sử PREMIS).",
                     "en": "Defects in validated acceptance decisions, counted against who digitised the hồ sơ "
                           "(PREMIS history)."},
    "no_defects": {"vi": "Chưa có quyết định nghiệm thu nào được phê duyệt.",
                   "en": "No acceptance decision validated yet."},
    "hoso_decided": {"vi": "Hồ sơ đã nghiệm thu", "en": "Hồ sơ decided"},
    "pages_decided": {"vi": "Số trang", "en": "Pages"},
    "defect_critical": {"vi": "Nghiêm trọng", "en": "Critical"},
    "defect_major": {"vi": "Nặng", "en": "Major"},
    "defect_minor": {"vi": "Nhẹ", "en": "Minor"},
    "per_100": {"vi": "Lỗi/100 trang", "en": "Defects per 100 pages"},
    # rejection reasons: the name of what failed (the English detail stays in the receipt and the logs)
    "reject_zip_safety": {"vi": "Gói zip không an toàn", "en": "Unsafe zip"},
    "reject_top_folder": {"vi": "Thư mục gốc của gói sai mã gói", "en": "Top folder is not the OBJID"},
    "reject_files_listed": {"vi": "Danh mục tệp trong METS không khớp gói", "en": "METS file list does not match"},
    "reject_fixity": {"vi": "Mã băm hoặc kích thước tệp không khớp", "en": "Checksum or size mismatch"},
    "reject_schemas": {"vi": "XML không hợp lệ theo lược đồ TT05", "en": "XML invalid against the TT05 schemas"},
    "reject_csip": {"vi": "Gói chưa đúng chuẩn E-ARK CSIP", "en": "Not E-ARK CSIP conformant"},
    "reject_identifiers": {"vi": "Mã hồ sơ, mã tài liệu hoặc tên tệp không nhất quán",
                           "en": "Inconsistent codes or file names"},
    "reject_counts": {"vi": "Số tài liệu, số trang hoặc số tờ không khớp", "en": "Counts do not match"},
    "reject_metadata": {"vi": "Siêu dữ liệu thiếu hoặc sai", "en": "Metadata missing or wrong"},
    "reject_premis": {"vi": "Lịch sử bảo quản (PREMIS) thiếu hoặc không khớp", "en": "PREMIS missing or wrong"},
    "reject_pdfa": {"vi": "Tệp PDF không đạt chuẩn PDF/A", "en": "PDF is not PDF/A"},
    "reject_signatures": {"vi": "Chữ ký số không hợp lệ hoặc không tin cậy", "en": "Signature invalid or untrusted"},
    "reject_signing_time": {"vi": "Thời gian ký không hợp lệ", "en": "Signing time not acceptable"},
    "reject_manifest": {"vi": "Mã hồ sơ khác với khai báo khi gửi", "en": "Hồ sơ differs from the upload manifest"},
    "reject_work_order": {"vi": "Lệnh số hóa không thuộc trạm này hoặc khác hồ sơ",
                          "en": "Work order not for this station or hồ sơ"},
    "reject_history": {"vi": "Hồ sơ đã được lưu với nội dung khác (không khai báo là phiên bản mới)",
                       "en": "Already stored with other content (not a declared new version)"},
    "reject_other": {"vi": "Gói không đạt kiểm tra (xem chi tiết trong kho lưu trữ)",
                     "en": "Package failed a check (details in the archive)"},
    # telemetry events: their kind and, when the station sent no Vietnamese message, a generic line
    "event_fault": {"vi": "Lỗi thiết bị", "en": "Fault"},
    "event_fault_cleared": {"vi": "Đã khắc phục lỗi", "en": "Fault cleared"},
    "event_qc_flag": {"vi": "Trang cần xem lại", "en": "Page flagged"},
    "event_batch_transition": {"vi": "Chuyển bước", "en": "Batch step"},
    "event_telemetry_gap": {"vi": "Mất một phần số liệu", "en": "Telemetry gap"},
    "event_info": {"vi": "Thông tin", "en": "Info"},
    "event_other": {"vi": "Sự kiện", "en": "Event"},
    # work-order import refusals that used to show a heading or "> 20 MB"
    "import_no_file": {"vi": "Chọn một tệp mục lục (CSV hoặc XLSX) rồi bấm Nhập.",
                       "en": "Choose an inventory file (CSV or XLSX), then Import."},
    "import_too_big": {"vi": "Tệp quá lớn (tối đa 20 MB): hãy chia mục lục thành nhiều tệp.",
                       "en": "File too large (20 MB at most): split the inventory into several files."},
}
for _key, _entry in TEXTS.items():
    i18n.TEXTS.setdefault(_key, _entry)
