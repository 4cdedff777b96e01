"""Texts of the copies pages and of the access log's actions, in the server's one text table
(server/i18n.TEXTS, merged like server/archive/texts.py)."""

from __future__ import annotations

from server import i18n

TEXTS: dict[str, dict[str, str]] = {
    "copies": {"vi": "Cấp bản sao", "en": "Copies"},
    "copy_request": {"vi": "Yêu cầu cấp bản sao", "en": "Copy request"},
    "copy_kind": {"vi": "Loại bản sao", "en": "Kind of copy"},
    "copy_kind_read": {"vi": "Bản đọc (xem trực tuyến, có tên lưu trữ ở cuối mỗi trang)",
                       "en": "Read-only view (archive name at the foot of each page)"},
    "copy_kind_copy": {"vi": "Bản sao không xác thực (dấu \u201cBẢN SAO\u201d)",
                       "en": "Copy marked \u201cBẢN SAO\u201d"},
    "copy_kind_certified": {"vi": "Bản sao có xác thực (ký số của lưu trữ)", "en": "Certified copy (signed)"},
    "copy_kind_dip": {"vi": "Bản sao có xác thực dạng gói tin sử dụng (DIP)", "en": "Certified copy as a DIP"},
    "copy_objid": {"vi": "Mã hồ sơ hoặc mã gói (OBJID)", "en": "File code or package id (OBJID)"},
    "copy_no_hoso": {"vi": "Không tìm thấy hồ sơ với mã này trong kho lưu trữ.",
                     "en": "No stored hồ sơ has this code."},
    "copy_document": {"vi": "Tài liệu", "en": "Document"},
    "copy_recipient": {"vi": "Họ tên người nhận", "en": "Recipient"},
    "copy_recipient_id": {"vi": "Số định danh cá nhân / CCCD", "en": "Recipient's ID number"},
    "copy_purpose": {"vi": "Mục đích sử dụng", "en": "Purpose"},
    "purpose_01": {"vi": "Cá nhân", "en": "Personal"},
    "purpose_02": {"vi": "Công vụ", "en": "Official"},
    "purpose_03": {"vi": "Công vụ đặc biệt", "en": "Special official"},
    "copy_purpose_content": {"vi": "Nội dung mục đích", "en": "Purpose in words"},
    "copy_until": {"vi": "Thời hạn sử dụng đến ngày", "en": "Valid until"},
    "copy_request_id": {"vi": "Số phiếu yêu cầu", "en": "Request number"},
    "copy_make": {"vi": "Tạo bản sao", "en": "Make the copy"},
    "copy_made": {"vi": "Bản sao đã được tạo", "en": "Copy made"},
    "copy_recent": {"vi": "Bản sao đã cấp gần đây", "en": "Recent copies"},
    "copy_none": {"vi": "Chưa cấp bản sao nào.", "en": "No copies yet."},
    "copy_download": {"vi": "Tải bản sao", "en": "Download the copy"},
    "copy_read": {"vi": "Mở bản đọc", "en": "Open the read-only view"},
    "copy_made_by": {"vi": "Người cấp", "en": "Made by"},
    "copy_made_at": {"vi": "Thời gian cấp", "en": "Made at"},
    "copy_source": {"vi": "Bản gốc (phiên bản, mã băm gói)", "en": "Source (version, package hash)"},
    "copy_pick_hoso": {"vi": "Chọn hồ sơ", "en": "Choose the hồ sơ"},
    "copy_read_only": {"vi": "Bản đọc: chỉ xem, không tải về. Hết hạn sau ngày {until}.",
                       "en": "Read-only: no download. Expires after {until}."},
    "copy_not_downloadable": {"vi": "Bản đọc không được tải về.", "en": "A read-only view cannot be downloaded."},
    # the access log's actions and filters (server/archive/audit.py)
    "audit_action_view_hoso": {"vi": "Xem hồ sơ", "en": "Viewed a hồ sơ"},
    "audit_action_view_document": {"vi": "Xem tài liệu", "en": "Viewed a document"},
    "audit_action_view_page": {"vi": "Xem trang", "en": "Viewed a page"},
    "audit_action_download": {"vi": "Tải về", "en": "Download"},
    "audit_action_search": {"vi": "Tìm kiếm", "en": "Search"},
    "audit_action_export": {"vi": "Xuất dữ liệu", "en": "Export"},
    "audit_action_decision": {"vi": "Quyết định nghiệm thu", "en": "Acceptance decision"},
    "audit_action_copy": {"vi": "Cấp bản sao", "en": "Copy made"},
    "audit_since": {"vi": "Từ ngày", "en": "From"},
    "audit_until": {"vi": "Đến ngày", "en": "To"},
    "audit_filter": {"vi": "Lọc", "en": "Filter"},
}
for _key, _entry in TEXTS.items():
    i18n.TEXTS.setdefault(_key, _entry)
