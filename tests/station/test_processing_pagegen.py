"""Synthetic scanned pages for the processing tests (Vietnamese text rendered with FreeSerif).

Other test_processing_* files import `render_page` and friends from here. Kept inside the tests on
purpose: sohoa/samplepages.py (another engineer's) will replace it for the benchmark.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf")
A4_MM = (210.0, 297.0)

WORDS = (
    "hồ sơ lưu trữ công văn quyết định ủy ban nhân dân tỉnh huyện xã phòng ban số ngày tháng năm "
    "về việc ban hành quy chế quản lý tài liệu điện tử nghị định thông tư hướng dẫn thực hiện "
    "căn cứ luật tổ chức chính quyền địa phương theo đề nghị của giám đốc sở nội vụ điều khoản "
    "chánh văn phòng trưởng các cơ quan đơn vị cá nhân có liên quan chịu trách nhiệm thi hành"
).split()


def _font(px: int) -> ImageFont.FreeTypeFont:
    assert FONT.exists(), f"missing font {FONT}: apt-get install fonts-freefont-ttf"
    return ImageFont.truetype(str(FONT), px)


def paper_size(dpi: int) -> tuple[int, int]:
    return round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)


def _text_layer(
    rng: random.Random, dpi: int, *, lines: int | None, short: str | None, font_pt: float = 12.0
) -> tuple[Image.Image, str]:
    """A white A4 grayscale page with black text; returns (image, text)."""
    w, h = paper_size(dpi)
    page = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(page)
    px = max(8, round(font_pt / 72 * dpi))
    font = _font(px)
    margin_x, y = round(25 / 25.4 * dpi), round(30 / 25.4 * dpi)
    if short is not None:
        y = round(h * rng.uniform(0.35, 0.6))
        draw.text((margin_x + rng.randint(0, w // 4), y), short, font=font, fill=0)
        return page, short
    text_lines = []
    count = lines if lines is not None else rng.randint(20, 40)
    line_h = round(px * 1.5)
    for _ in range(count):
        if y > h - round(30 / 25.4 * dpi):
            break
        line = ""
        while True:
            cand = (line + " " + rng.choice(WORDS)).strip()
            if draw.textlength(cand, font=font) > w - 2 * margin_x:
                break
            line = cand
        if rng.random() < 0.15:  # short last line of a paragraph
            line = " ".join(line.split()[: rng.randint(2, 6)])
        draw.text((margin_x, y), line, font=font, fill=0)
        text_lines.append(line)
        y += line_h
    return page, "\n".join(text_lines)


def _tint(gray: np.ndarray, yellow: bool) -> np.ndarray:
    """Gray page → RGB on white or yellowed paper (ink stays dark)."""
    paper = np.array([232, 218, 170] if yellow else [250, 250, 247], dtype=np.float32)
    ink = np.array([25, 22, 30], dtype=np.float32)
    a = (gray.astype(np.float32) / 255.0)[..., None]
    return (ink + (paper - ink) * a).astype(np.uint8)


def render_page(
    *,
    seed: int,
    dpi: int = 300,
    skew_deg: float = 0.0,
    rotate: int = 0,
    yellow: bool = False,
    noise: float = 0.0,
    lines: int | None = None,
    short: str | None = None,
    blank: bool = False,
    bleed: bool = False,
    holes: bool = False,
    dust: int = 0,
    staple: bool = False,
    border_mm: float = 0.0,
    blur: float = 0.0,
    jpeg: int = 0,
) -> tuple[np.ndarray, str]:
    """An RGB uint8 'scan'. skew_deg is counter-clockwise; rotate is clockwise 0/90/180/270 (the page
    lies that way, so the fix is to rotate it back by `(360 - rotate) % 360` clockwise)."""
    rng = random.Random(seed)
    if blank:
        gray, text = Image.new("L", paper_size(dpi), 255), ""
    else:
        gray, text = _text_layer(rng, dpi, lines=lines, short=short)
    arr = np.array(gray)
    if bleed:  # text from the other side, mirrored and faint
        back, _ = _text_layer(random.Random(seed + 1000), dpi, lines=None, short=None)
        back = np.array(back)[:, ::-1].astype(np.float32)
        back = cv2.GaussianBlur(back, (0, 0), dpi / 150)
        arr = np.minimum(arr, (255 - (255 - back) * 0.16)).astype(np.uint8)
    rgb = _tint(arr, yellow)
    h, w = rgb.shape[:2]
    mm = dpi / 25.4
    if holes:  # two punch holes on the left, seen as the dark lid behind
        for cy in (h // 2 - round(40 * mm), h // 2 + round(40 * mm)):
            cv2.circle(rgb, (round(12 * mm), cy), round(3 * mm), (35, 35, 35), -1)
    if staple:
        cv2.line(
            rgb, (round(8 * mm), round(14 * mm)), (round(20 * mm), round(6 * mm)), (90, 90, 95), max(1, round(0.6 * mm))
        )
    for _ in range(dust):
        cx, cy = rng.randint(0, w - 1), rng.randint(0, h - 1)
        cv2.circle(rgb, (cx, cy), rng.randint(1, max(1, round(0.15 * mm))), (60, 60, 60), -1)
    if border_mm:  # paper on the dark scanner lid, a little off-centre, with a soft shadow
        b = round(border_mm * mm)
        canvas = np.full((h + 2 * b, w + 2 * b, 3), 30, np.uint8)
        canvas[b + 3 : b + 3 + h, b + 5 : b + 5 + w] = rgb
        shadow = canvas[b : b + 3 + h, b + w + 5 : b + w + 5 + b // 2]
        shadow[:] = 70
        rgb = canvas
    if skew_deg:  # the sheet lies askew: paper and text turn together (on the lid, if any)
        h2, w2 = rgb.shape[:2]
        m = cv2.getRotationMatrix2D((w2 / 2, h2 / 2), skew_deg, 1.0)
        fill = tuple(int(v) for v in rgb[2, 2])
        rgb = cv2.warpAffine(rgb, m, (w2, h2), flags=cv2.INTER_CUBIC, borderValue=fill)
    if rotate:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotate // 90)))
    if blur:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    if noise:
        nrng = np.random.default_rng(seed)
        rgb = np.clip(rgb.astype(np.float32) + nrng.normal(0, noise, rgb.shape), 0, 255).astype(np.uint8)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return rgb, text


def save_png(rgb: np.ndarray, path: Path, dpi: int = 300) -> Path:
    Image.fromarray(rgb).save(path, dpi=(dpi, dpi), compress_level=1)
    return path


def test_render_page_shapes():
    rgb, text = render_page(seed=1, dpi=100)
    assert rgb.shape == (1169, 827, 3) and rgb.dtype == np.uint8
    assert len(text) > 200 and "ồ" in text or "ơ" in text
    rot, _ = render_page(seed=1, dpi=100, rotate=90)
    assert rot.shape == (827, 1169, 3)
    blank, text = render_page(seed=1, dpi=100, blank=True)
    assert text == "" and blank.min() > 200
