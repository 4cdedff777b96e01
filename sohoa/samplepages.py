"""Realistic Vietnamese administrative pages with known text, for OCR, QC, the demo and benchmarks.

The SANE test backend draws only test patterns, so everything that reads text needs pages like these.
Each page is one complete document (quốc hiệu, agency, số/ký hiệu, place and date, type title, trích yếu,
body, signature block) drawn deterministically from a seed with FreeSerif on A4.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/freefont")
FONT_REGULAR = FONT_DIR / "FreeSerif.ttf"
FONT_BOLD = FONT_DIR / "FreeSerifBold.ttf"
FONT_ITALIC = FONT_DIR / "FreeSerifItalic.ttf"

A4_MM = (210.0, 297.0)
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"

# (parent body, issuing agency, notation suffix, place, signer's position line, signer role)
AGENCIES = [
    ("", "ỦY BAN NHÂN DÂN TỈNH ĐỒNG NAI", "UBND", "Đồng Nai", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"),
    ("UBND TỈNH ĐỒNG NAI", "SỞ NỘI VỤ", "SNV", "Đồng Nai", "KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"),
    ("UBND THÀNH PHỐ HÀ NỘI", "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG", "STNMT", "Hà Nội", "KT. GIÁM ĐỐC",
     "PHÓ GIÁM ĐỐC"),
    ("UBND TỈNH QUẢNG NINH", "ỦY BAN NHÂN DÂN THÀNH PHỐ HẠ LONG", "UBND", "Hạ Long",
     "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"),
    ("BỘ NỘI VỤ", "CỤC VĂN THƯ VÀ LƯU TRỮ NHÀ NƯỚC", "VTLTNN", "Hà Nội", "", "CỤC TRƯỞNG"),
    ("UBND TỈNH THỪA THIÊN HUẾ", "SỞ GIÁO DỤC VÀ ĐÀO TẠO", "SGDĐT", "Huế", "KT. GIÁM ĐỐC",
     "PHÓ GIÁM ĐỐC"),
]

# (typeName code, title, notation prefix)
DOC_TYPES = [
    ("02", "QUYẾT ĐỊNH", "QĐ"),
    ("07", "THÔNG BÁO", "TB"),
    ("10", "KẾ HOẠCH", "KH"),
    ("14", "BÁO CÁO", "BC"),
    ("15", "TỜ TRÌNH", "TTr"),
]

SUBJECTS = [
    "Về việc phê duyệt kế hoạch chỉnh lý tài liệu lưu trữ năm {year}",
    "Về việc thành lập Hội đồng xác định giá trị tài liệu",
    "Về việc kiểm tra công tác văn thư, lưu trữ tại các cơ quan, đơn vị",
    "Về việc giao đất cho hộ gia đình, cá nhân để làm nhà ở",
    "Về việc điều chỉnh quy hoạch sử dụng đất giai đoạn {year} - {year5}",
    "Về việc tổ chức tập huấn nghiệp vụ lưu trữ cho cán bộ, công chức cấp xã",
    "Về việc cấp giấy chứng nhận quyền sử dụng đất đợt {n}",
    "Về việc khen thưởng các tập thể và cá nhân có thành tích xuất sắc",
]

SENTENCES = [
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015.",
    "Căn cứ Luật Lưu trữ ngày 11 tháng 11 năm 2011 và các văn bản hướng dẫn thi hành.",
    "Xét đề nghị của Trưởng phòng Nội vụ tại Tờ trình số {n} ngày {day} tháng {month} năm {year}.",
    "Các cơ quan, đơn vị có trách nhiệm rà soát, thống kê toàn bộ hồ sơ, tài liệu đang bảo quản.",
    "Việc chỉnh lý phải bảo đảm đúng quy trình nghiệp vụ, an toàn tài liệu và tiết kiệm kinh phí.",
    "Hồ sơ sau khi chỉnh lý được sắp xếp theo từng phông, lập mục lục và đưa vào kho lưu trữ.",
    "Kinh phí thực hiện được bố trí từ nguồn ngân sách nhà nước năm {year} đã giao cho đơn vị.",
    "Giao Chánh Văn phòng chủ trì, phối hợp với các phòng chuyên môn hướng dẫn, đôn đốc thực hiện.",
    "Trong quá trình thực hiện, nếu có khó khăn, vướng mắc, các đơn vị kịp thời báo cáo để xem xét.",
    "Tài liệu hết giá trị phải được thống kê, lập danh mục và trình Hội đồng xem xét hủy theo quy định.",
    "Người đứng đầu cơ quan chịu trách nhiệm về việc quản lý, bảo vệ và sử dụng tài liệu lưu trữ.",
    "Diện tích đất được giao là {n} mét vuông, thuộc thửa đất số {n2}, tờ bản đồ số {n3}.",
    "Hộ gia đình có trách nhiệm sử dụng đất đúng mục đích, thực hiện đầy đủ nghĩa vụ tài chính.",
    "Phòng Tài nguyên và Môi trường kiểm tra hiện trạng, xác định mốc giới và bàn giao đất trên thực địa.",
    "Công tác số hóa tài liệu được triển khai đồng bộ, bảo đảm chất lượng ảnh và độ chính xác dữ liệu.",
    "Mỗi trang tài liệu được quét màu với độ phân giải tối thiểu hai trăm điểm ảnh trên một inch.",
    "Quyết định này có hiệu lực kể từ ngày ký và thay thế các quy định trước đây trái với nội dung trên.",
    "Ủy ban nhân dân các xã, phường, thị trấn tổ chức tuyên truyền, phổ biến rộng rãi đến nhân dân.",
    "Thủ trưởng các cơ quan, đơn vị và các cá nhân có liên quan chịu trách nhiệm thi hành quyết định này.",
    "Kết quả kiểm tra cho thấy phần lớn các đơn vị đã bố trí kho lưu trữ riêng, có giá, kệ đầy đủ.",
    "Tuy nhiên, một số nơi vẫn còn tình trạng tài liệu tích đống, chưa được phân loại và lập hồ sơ.",
    "Đề nghị Sở Tài chính xem xét, bổ sung dự toán để mua sắm trang thiết bị bảo quản tài liệu.",
]

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thanh", "Quốc", "Hữu", "Ngọc"]
GIVEN = ["Hùng", "Lan", "Dũng", "Hương", "Tuấn", "Thảo", "Phúc", "Nghĩa", "Trường", "Yến"]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class PageSpec:
    """Everything drawn for one seed, before any rendering."""

    parent: str
    agency: str
    agency_short: str
    place: str
    sign_for: str
    sign_role: str
    type_code: str
    type_title: str
    type_prefix: str
    number: int
    day: int
    month: int
    year: int
    subject: str
    paragraphs: list[str]
    signer: str

    @property
    def notation(self) -> str:
        return f"{self.type_prefix}-{self.agency_short}"


def _draw_spec(seed: int) -> PageSpec:
    rng = random.Random(seed)
    parent, agency, short, place, sign_for, role = rng.choice(AGENCIES)
    type_code, title, prefix = rng.choice(DOC_TYPES)
    year = rng.randint(1995, 2015)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    values = {"year": year, "year5": year + 5, "n": rng.randint(2, 250), "n2": rng.randint(10, 900),
              "n3": rng.randint(1, 60), "day": rng.randint(1, 28), "month": rng.randint(1, 12)}
    subject = rng.choice(SUBJECTS).format(**values)
    sentences = rng.sample(SENTENCES, k=rng.randint(9, 12))
    paragraphs, i = [], 0
    while i < len(sentences):
        take = rng.randint(1, 3)
        paragraphs.append(" ".join(s.format(**values) for s in sentences[i:i + take]))
        i += take
    signer = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    return PageSpec(parent, agency, short, place, sign_for, role, type_code, title, prefix,
                    rng.randint(1, 999), day, month, year, nfc(subject), [nfc(p) for p in paragraphs],
                    nfc(signer))


def sample_metadata(seed: int) -> dict[str, str]:
    """The document metadata matching what `render_page(seed=...)` draws (TT05 EAD_doc field names)."""
    spec = _draw_spec(seed)
    return {
        "type_name": spec.type_code,
        "code_number": str(spec.number),
        "code_notation": nfc(spec.notation),
        "issued_date": f"{spec.day:02d}/{spec.month:02d}/{spec.year:04d}",
        "organ_name": nfc(spec.agency),
        "subject": spec.subject,
    }


class _Canvas:
    """Draws text in points on a page rendered at `dpi`, and records the ground truth line by line."""

    def __init__(self, dpi: int):
        self.dpi = dpi
        self.image = Image.new("RGB", (round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.lines: list[str] = []
        self._fonts: dict[tuple[Path, float], ImageFont.FreeTypeFont] = {}

    def px(self, mm: float) -> int:
        return round(mm / 25.4 * self.dpi)

    def font(self, path: Path, pt: float) -> ImageFont.FreeTypeFont:
        key = (path, pt)
        if key not in self._fonts:
            self._fonts[key] = ImageFont.truetype(str(path), size=round(pt * self.dpi / 72))
        return self._fonts[key]

    def text(self, x_mm: float, y_mm: float, text: str, font: ImageFont.FreeTypeFont,
             align: str = "left", width_mm: float = 0.0, record: bool = True) -> float:
        """Draw one line; returns the y (mm) of the next line."""
        width = self.draw.textlength(text, font=font)
        x: float = self.px(x_mm)
        if align == "center":
            x += (self.px(width_mm) - width) / 2
        elif align == "right":
            x += self.px(width_mm) - width
        self.draw.text((x, self.px(y_mm)), text, font=font, fill=(20, 20, 20))
        if record:
            self.lines.append(text)
        return y_mm + font.size * 1.35 / self.dpi * 25.4

    def paragraph(self, x_mm: float, y_mm: float, width_mm: float, text: str,
                  font: ImageFont.FreeTypeFont, indent_mm: float = 10.0) -> float:
        """Greedy word wrap, first line indented; the truth keeps one line per drawn line."""
        words, line, first = text.split(), "", True
        for word in words:
            trial = f"{line} {word}".strip()
            avail = self.px(width_mm - (indent_mm if first else 0))
            if line and self.draw.textlength(trial, font=font) > avail:
                y_mm = self.text(x_mm + (indent_mm if first else 0), y_mm, line, font)
                line, first = word, False
            else:
                line = trial
        if line:
            y_mm = self.text(x_mm + (indent_mm if first else 0), y_mm, line, font)
        return y_mm + 1.5


def _render_clean(spec: PageSpec, dpi: int) -> tuple[Image.Image, str]:
    c = _Canvas(dpi)
    bold, regular, italic = (c.font(FONT_BOLD, 13), c.font(FONT_REGULAR, 13), c.font(FONT_ITALIC, 13))
    left_x, left_w, right_x, right_w = 15.0, 80.0, 95.0, 105.0
    # Header: two columns whose lines share rows, as on real documents; Tesseract reads each row across
    # both columns, so the truth joins them row by row.
    left = ([(spec.parent, c.font(FONT_REGULAR, 12))] if spec.parent else []) + [
        (spec.agency, c.font(FONT_BOLD, 11)), (f"Số: {spec.number}/{spec.notation}", regular)]
    right = [(NATION, c.font(FONT_BOLD, 12)), (MOTTO, bold),
             (f"{spec.place}, ngày {spec.day:02d} tháng {spec.month} năm {spec.year}", italic)]
    if len(left) < len(right):
        left.insert(len(left) - 1, ("", regular))  # no parent body: the number stays on the date's row
    y = 15.0
    for row, ((ltext, lfont), (rtext, rfont)) in enumerate(zip(left, right, strict=True)):
        y += 3 if row == 2 else 0
        if ltext:
            c.text(left_x, y, ltext, lfont, "center", left_w, record=False)
        y_next = c.text(right_x, y, rtext, rfont, "center", right_w, record=False)
        c.lines.append(f"{ltext} {rtext}".strip())
        y = y_next
    y += 12
    y = c.text(15, y, spec.type_title, c.font(FONT_BOLD, 14), "center", 180)
    y = c.text(15, y, spec.subject, bold, "center", 180) + 6
    for para in spec.paragraphs:
        y = c.paragraph(25, y, 165, para, regular)
    y += 8
    if spec.sign_for:
        y = c.text(110, y, spec.sign_for, bold, "center", 85)
    y = c.text(110, y, spec.sign_role, bold, "center", 85)
    c.text(110, y + 22, spec.signer, bold, "center", 85)
    return c.image, nfc("\n".join(c.lines))


def _degrade(image: Image.Image, *, seed: int, skew_deg: float, rotate: int, yellow: bool,
             noise: float) -> Image.Image:
    if yellow:  # aged paper: warm tint on the background, ink keeps its darkness
        arr = np.asarray(image, dtype=np.float32)
        tint = np.array([245, 232, 190], dtype=np.float32) / 255.0
        image = Image.fromarray(np.clip(arr * tint, 0, 255).astype(np.uint8))
    if skew_deg:
        image = image.rotate(skew_deg, resample=Image.Resampling.BICUBIC, expand=False,
                             fillcolor=image.getpixel((5, 5)))
    if noise:
        rng = np.random.default_rng(seed)
        arr = np.asarray(image, dtype=np.float32)
        noisy = arr + rng.normal(0.0, noise * 255.0, size=arr.shape[:2])[..., None]
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if rotate % 360:
        if rotate % 90:
            raise ValueError(f"rotate must be a multiple of 90, got {rotate}")
        image = image.rotate(rotate, expand=True)
    return image


def render_page(*, seed: int, dpi: int = 300, skew_deg: float = 0.0, rotate: int = 0, yellow: bool = False,
                noise: float = 0.0) -> tuple[Image.Image, str]:
    """Render one A4 page (RGB) and return it with its ground-truth text (NFC, one line per drawn line).

    `skew_deg` tilts the page counter-clockwise, `rotate` turns it by a multiple of 90° (as a sheet fed
    the wrong way), `yellow` tints the paper, `noise` adds grey noise (standard deviation, 0..1).
    """
    image, truth = _render_clean(_draw_spec(seed), dpi)
    image = _degrade(image, seed=seed, skew_deg=skew_deg, rotate=rotate, yellow=yellow, noise=noise)
    return image, truth


def write_sample_folder(folder: Path, *, count: int, seed: int, dpi: int = 300, with_text: bool = False,
                        **degrade: Any) -> list[Path]:
    """Write `count` pages as page-0001.png ... with the DPI stored; page i uses seed `seed + i`.

    With `with_text`, each page's ground truth goes next to it as page-0001.txt.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image, truth = render_page(seed=seed + i, dpi=dpi, **degrade)
        path = folder / f"page-{i + 1:04d}.png"
        image.save(path, dpi=(dpi, dpi))
        if with_text:
            path.with_suffix(".txt").write_text(truth + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _levenshtein(a: list[str] | str, b: list[str] | str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, item in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item != other)))
        previous = current
    return previous[-1]


def _normalise(text: str) -> str:
    return " ".join(nfc(text).split())


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Edit distance over characters (diacritics count, NFC, whitespace runs as one space) / reference."""
    ref, hyp = _normalise(reference), _normalise(hypothesis)
    return _levenshtein(ref, hyp) / max(1, len(ref))


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = _normalise(reference).split(), _normalise(hypothesis).split()
    return _levenshtein(ref, hyp) / max(1, len(ref))
