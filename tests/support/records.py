"""The hồ sơ the tests build packages and work orders from."""

from __future__ import annotations

AGENCY = "Ủy ban nhân dân tỉnh Đồng Nai"


def hoso_record(**over) -> dict:
    record = {
        "agency_id": "000.00.00.H47", "year": 2001, "notation": "160.VP",
        "title": "Hồ sơ cấp giấy chứng nhận quyền sử dụng đất năm 2001", "maintenance": "01", "mode": "01",
        "language": "01", "start_date": "04/03/2001", "end_date": "28/12/2001", "number_of_paper": 1,
        "paper_file_code": "TTLT.K1-G05-H012.160", "fonds_code": "P_UBND_DN", "agency_name": AGENCY,
    }
    record.update(over)
    return record
