"""Operator-facing HTML pages (the full touchscreen UI grows here)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

bp = Blueprint("pages", __name__)

STATE_VI = {
    "OPEN": "Đang quét", "REVIEW": "Đang kiểm tra", "FINISHING": "Đang hoàn tất", "SEALED": "Chờ đồng bộ",
    "SYNCING": "Đang đồng bộ", "SYNCED": "Đã lưu trữ", "REJECTED": "Bị từ chối",
}


def _station() -> Any:
    return current_app.extensions["station"]


@bp.get("/")
def home():
    station = _station()
    return render_template("home.html", status=station.status(), batches=station.store.batches(),
                           state_vi=STATE_VI)
