"""Generated page classes the rotation set lacked: straight upright pages that are not running text.

Tables, ruled forms, a red seal over text, a signature with handwritten notes, two columns, short letters
(≤ 5 lines), large headings, a photograph with a caption, mostly-empty pages (one line). A4 at 200 dpi,
Vietnamese text. Each page is drawn upright; the bench turns it all four ways and tilts it.

    img = draw_page("table", seed=3)  # BGR uint8, upright, straight
"""

from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sohoa.samplepages import FONT_BOLD, FONT_ITALIC, FONT_REGULAR, NATION, SENTENCES, SURNAMES, nfc

DPI = 200
CLASSES = ("table", "form", "seal", "signature", "two_columns", "short_letter", "heading", "photo", "one_line")
CONTENT_KINDS = {"photo": "picture", "one_line": "short", "short_letter": "short"}  # the rest: text
WORDS = nfc(" ".join(SENTENCES)).replace("{", "").replace("}", "").split()


def _font(path, pt: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), round(pt / 72 * DPI))


def _words(rng: random.Random, n: int) -> str:
    start = rng.randrange(len(WORDS) - n)
    return " ".join(WORDS[start : start + n])


def _paragraph(d: ImageDraw.ImageDraw, rng: random.Random, x: int, y: int, width: int, lines: int, pt=12) -> int:
    font = _font(FONT_REGULAR, pt)
    step = round(pt / 72 * DPI * 1.5)
    for _ in range(lines):
        text = _words(rng, 30)
        while d.textlength(text, font=font) > width:
            text = text.rsplit(" ", 1)[0]
        d.text((x, y), text, font=font, fill=0)
        y += step
    return y


def draw_page(kind: str, seed: int) -> np.ndarray:
    rng = random.Random(f"{kind}-{seed}")
    w, h = round(210 / 25.4 * DPI), round(297 / 25.4 * DPI)
    img = Image.new("RGB", (w, h), (250, 249, 246))
    d = ImageDraw.Draw(img)
    m = round(20 / 25.4 * DPI)
    if kind == "table":
        d.text((m, m), nfc("DANH SÁCH HỒ SƠ NỘP LƯU"), font=_font(FONT_BOLD, 14), fill=0)
        rows, cols = rng.randint(10, 20), rng.randint(3, 6)
        top, cw, rh = m + 80, (w - 2 * m) // cols, rng.randint(50, 80)
        font = _font(FONT_REGULAR, 10)
        for r in range(rows + 1):
            d.line((m, top + r * rh, m + cols * cw, top + r * rh), fill=0, width=2)
        for c in range(cols + 1):
            d.line((m + c * cw, top, m + c * cw, top + rows * rh), fill=0, width=2)
        for r in range(rows):
            for c in range(cols):
                text = str(rng.randint(1, 999)) if c == 0 else _words(rng, rng.randint(1, 3))
                while d.textlength(text, font=font) > cw - 12:
                    text = text[:-1]
                d.text((m + c * cw + 6, top + r * rh + rh // 4), text, font=font, fill=0)
    elif kind == "form":
        d.text((m, m), nfc("TỜ KHAI"), font=_font(FONT_BOLD, 16), fill=0)
        font = _font(FONT_REGULAR, 12)
        y = m + 120
        for label in ("Họ và tên:", "Ngày sinh:", "Nơi cư trú:", "Số CCCD:", "Nghề nghiệp:", "Lý do:", "", ""):
            d.text((m, y - 40), nfc(label), font=font, fill=0)
            d.line((m + 260 if label else m, y, w - m, y), fill=0, width=2)
            if rng.random() < 0.5 and label:
                d.text((m + 280, y - 45), _words(rng, 3), font=_font(FONT_ITALIC, 13), fill=(20, 30, 120))
            y += rng.randint(90, 130)
        for i in range(rng.randint(2, 4)):  # tick boxes
            d.rectangle((m, y + i * 70, m + 40, y + i * 70 + 40), outline=0, width=3)
            d.text((m + 60, y + i * 70), _words(rng, 4), font=font, fill=0)
    elif kind in ("seal", "signature", "short_letter"):
        d.text((m, m), nfc(NATION), font=_font(FONT_BOLD, 12), fill=0)
        lines = rng.randint(2, 5) if kind == "short_letter" else rng.randint(10, 22)
        y = _paragraph(d, rng, m, m + 150, w - 2 * m, lines)
        sx, sy = w - m - 500, y + 80
        d.text((sx, sy), nfc(rng.choice(SURNAMES) + " Văn An"), font=_font(FONT_BOLD, 12), fill=0)
        if kind == "seal":
            cx, cy, r = sx + 150, sy - 20, 170
            red = (200, 30, 40)
            d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=10)
            d.ellipse((cx - r + 30, cy - r + 30, cx + r - 30, cy + r - 30), outline=red, width=4)
            d.text((cx - 110, cy - 20), nfc("ỦY BAN NHÂN DÂN"), font=_font(FONT_BOLD, 9), fill=red)
            d.regular_polygon((cx, cy + 60, 30), 5, fill=red)
        if kind in ("signature", "short_letter"):
            pts = [(sx + 40 * i + rng.randint(-20, 20), sy - 60 + rng.randint(-50, 50)) for i in range(10)]
            d.line(pts, fill=(20, 30, 120), width=4, joint="curve")
            note = _font(FONT_ITALIC, 14)
            for i in range(rng.randint(1, 3)):  # margin notes, slanted like handwriting
                layer = Image.new("L", (900, 90), 0)
                ImageDraw.Draw(layer).text((0, 0), _words(rng, 5), font=note, fill=255)
                layer = layer.rotate(rng.uniform(-8, 8), expand=True)
                x0, y0 = m + rng.randint(0, 200), h - m - 200 * (i + 1)
                img.paste((30, 40, 140), (x0, y0), layer)
    elif kind == "two_columns":
        d.text((m, m), _words(rng, 6).upper(), font=_font(FONT_BOLD, 14), fill=0)
        cw = (w - 2 * m - 60) // 2
        _paragraph(d, rng, m, m + 120, cw, 40, pt=10)
        _paragraph(d, rng, m + cw + 60, m + 120, cw, rng.randint(15, 40), pt=10)
    elif kind == "heading":
        d.text((m, m + 60), _words(rng, 3).upper(), font=_font(FONT_BOLD, rng.choice([36, 48, 60])), fill=0)
        _paragraph(d, rng, m, m + 400, w - 2 * m, rng.randint(3, 8), pt=12)
    elif kind == "photo":
        nrng = np.random.default_rng(seed)
        ph, pw = rng.randint(900, 1500), w - 2 * m
        base = cv2.resize(nrng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (pw, ph), interpolation=cv2.INTER_CUBIC)
        shapes = Image.fromarray(base)
        sd = ImageDraw.Draw(shapes)
        for _ in range(12):  # objects with hard edges, as in a photograph of a building or people
            x0, y0 = rng.randrange(pw), rng.randrange(ph)
            fill = tuple(rng.randrange(256) for _ in range(3))
            sd.rectangle((x0, y0, x0 + rng.randint(40, 400), y0 + rng.randint(40, 400)), fill=fill)
        img.paste(shapes, (m, m + 100))
        d.text((m, m + 140 + ph), _words(rng, 6), font=_font(FONT_ITALIC, 10), fill=0)
    elif kind == "one_line":
        y = rng.choice([m, h // 2, h - m - 60])
        d.text((m + rng.randint(0, 500), y), _words(rng, rng.randint(3, 7)), font=_font(FONT_REGULAR, 12), fill=0)
    else:
        raise ValueError(f"unknown class {kind}")
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def tilt(img: np.ndarray, angle: float) -> np.ndarray:
    """Tilt counter-clockwise by `angle` degrees on a canvas that holds the whole sheet, paper-coloured."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(250, 249, 246))
