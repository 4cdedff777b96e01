"""A labelled evaluation set for page processing: scans with known skew, rotation, blankness and QR sheets.

Text pages come from `sohoa.samplepages` (Vietnamese administrative documents), drawn upright and clean;
the degradation here is ours and known: bleed-through, yellowed paper, punch holes, dust, a dark scanner
lid around the paper, skew, a quarter turn, blur, noise, JPEG. Deterministic for a given (count, seed, dpi,
mix): every page draws from its own seeded generator, so pages can be made in parallel processes.

Two mixes: "mixed" (every kind, for speed, blank and QR; a tenth are sheets) and "text" (text pages only,
the four quarter turns in equal shares, a third of them cut short like the last page of a letter: the
rotation set, which needs hundreds of pages to show 99.5%).

    pages = make_processing_set(Path("/tmp/pset"), count=40)
    p = pages[0]; p.path, p.kind, p.skew_deg, p.fix_rotation, p.payload

`python -m bench.processing_evalset FOLDER [COUNT] [mixed|text]` writes a set and prints a summary.
"""

from __future__ import annotations

import json
import os
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sohoa.samplepages import render_page
from station.processing import separators

MANIFEST = "manifest.json"
VERSION = 2  # 2: float32 noise (faster), the "text" mix, parallel generation
CACHE = Path(os.environ.get("SOHOA_BENCH_CACHE", "/tmp/sohoa-bench-cache"))  # never committed
FONT = "/usr/share/fonts/truetype/freefont/FreeSerif.ttf"


@dataclass(frozen=True)
class LabelledPage:
    path: Path
    kind: str  # "text", "short" (one line: must not be called blank), "blank", "separator", "cover"
    dpi: int
    skew_deg: float  # counter-clockwise tilt of the sheet
    turn: int  # clockwise quarter turn the sheet lies at
    payload: str  # QR payload on a sheet, "" otherwise
    degradation: dict

    @property
    def fix_rotation(self) -> int:
        """The clockwise rotation that makes this page upright."""
        return (360 - self.turn) % 360


def _paper(rng: random.Random, shape: tuple[int, int], yellow: bool) -> np.ndarray:
    tone = (232, 218, 172) if yellow else (250, 249, 246)
    return np.full((*shape, 3), tone, np.uint8)


def _ink_on(paper: np.ndarray, grey: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Multiply a grey drawing (255 = nothing) onto the paper."""
    a = 1.0 - strength * (1.0 - grey.astype(np.float32) / 255.0)
    return (paper.astype(np.float32) * a[..., None]).astype(np.uint8)


def _clean_text(seed: int, dpi: int) -> np.ndarray:
    img, _ = render_page(seed=seed, dpi=dpi)
    return np.array(img.convert("L"))


def _short(seed: int, dpi: int, shape: tuple[int, int]) -> np.ndarray:
    rng = random.Random(seed)
    page = Image.new("L", (shape[1], shape[0]), 255)
    font = ImageFont.truetype(FONT, round(12 / 72 * dpi))
    text = rng.choice(["Trang này để trống", "Số: 12/QĐ-UBND", "Kính gửi: Sở Nội vụ", "Phụ lục 3"])
    ImageDraw.Draw(page).text(
        (rng.randint(dpi, shape[1] // 2), rng.randint(shape[0] // 3, shape[0] // 2)), text, font=font, fill=0
    )
    return np.array(page)


def degrade(
    grey: np.ndarray,
    *,
    rng: random.Random,
    dpi: int,
    bleed: np.ndarray | None,
    yellow: bool,
    holes: bool,
    dust: int,
    border_mm: float,
    skew: float,
    turn: int,
    blur: float,
    noise: float,
    jpeg: int,
) -> np.ndarray:
    """An RGB 'scan' of a grey drawing with the given, known defects."""
    mm = dpi / 25.4
    rgb = _paper(rng, grey.shape, yellow)
    if bleed is not None:  # the other side, mirrored and faint
        back = cv2.GaussianBlur(bleed[:, ::-1], (0, 0), dpi / 150)
        rgb = _ink_on(rgb, back, 0.16)
    rgb = _ink_on(rgb, grey)
    h, w = grey.shape
    if holes:
        for cy in (h // 2 - round(40 * mm), h // 2 + round(40 * mm)):
            cv2.circle(rgb, (round(12 * mm), cy), round(3 * mm), (35, 35, 35), -1)
    for _ in range(dust):
        cv2.circle(
            rgb, (rng.randrange(w), rng.randrange(h)), rng.randint(1, max(1, round(0.15 * mm))), (60, 60, 60), -1
        )
    if border_mm:
        b = round(border_mm * mm)
        canvas = np.full((h + 2 * b, w + 2 * b, 3), 28, np.uint8)
        dy, dx = rng.randint(0, b // 2), rng.randint(0, b // 2)
        canvas[dy + b // 2 : dy + b // 2 + h, dx + b // 2 : dx + b // 2 + w] = rgb
        rgb = canvas
    if skew:
        h2, w2 = rgb.shape[:2]
        m = cv2.getRotationMatrix2D((w2 / 2, h2 / 2), skew, 1.0)
        rgb = cv2.warpAffine(rgb, m, (w2, h2), flags=cv2.INTER_CUBIC, borderValue=tuple(int(v) for v in rgb[1, 1]))
    if turn:
        rgb = cv2.rotate(
            rgb, {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[turn]
        )
    if blur:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    if noise:
        nrng = np.random.default_rng(rng.randrange(1 << 30))
        grain = nrng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(noise)
        rgb = np.clip(rgb + grain, 0, 255).astype(np.uint8)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert ok and decoded is not None, "OpenCV could not round-trip the JPEG"
        rgb = decoded
    return rgb


def _plan(i: int, rng: random.Random, mix: str) -> tuple[str, dict]:
    if mix == "text":
        kind = "text"
    else:
        kind = ["text", "text", "text", "text", "blank", "separator", "text", "short", "cover", "text"][i % 10]
    defects = {
        "yellow": rng.random() < 0.4,
        "holes": rng.random() < 0.3,
        "dust": rng.choice([0, 0, 15, 40]),
        "border_mm": rng.choice([0.0, 0.0, 6.0, 10.0]),
        "blur": rng.choice([0.0, 0.0, 0.8, 1.2]),
        "noise": rng.choice([0.0, 2.0, 4.0]),
        "jpeg": rng.choice([0, 0, 85, 70]),
        "bleed": rng.random() < 0.4,
        "skew": round(rng.uniform(-4.0, 4.0), 2) if rng.random() < 0.85 else 0.0,
        "turn": rng.choice([0, 0, 0, 90, 180, 270]),
    }
    if mix == "text":
        defects["turn"] = (0, 90, 180, 270)[i % 4]  # equal shares: every wrong turn is tested as often
        # a third end early (a letter's last page: a few lines, then signature or nothing)
        defects["keep"] = round(rng.uniform(0.25, 0.6), 2) if rng.random() < 0.33 else 1.0
    if kind == "blank":
        defects["skew"], defects["turn"] = 0.0, 0
    return kind, defects


def _make_page(folder: Path, i: int, seed: int, dpi: int, mix: str) -> LabelledPage:
    rng = random.Random(seed * 100_003 + i + (0 if mix == "mixed" else 50_000_017))
    kind, d = _plan(i, rng, mix)
    payload = ""
    if kind in ("text",):
        grey = _clean_text(seed * 1000 + i, dpi)
        keep = d.pop("keep", 1.0)
        if keep < 1.0:  # blank out everything below `keep` of the page height
            grey = grey.copy()
            grey[round(keep * grey.shape[0]) :] = 255
            d["keep"] = keep
    elif kind == "short":
        grey = _short(i, dpi, (round(297 / 25.4 * dpi), round(210 / 25.4 * dpi)))
    elif kind == "blank":
        grey = np.full((round(297 / 25.4 * dpi), round(210 / 25.4 * dpi)), 255, np.uint8)
    else:
        code = f"H{i:02d}.12.03/2024-{i:04d}"
        sheet = separators.Sheet(kind, code)
        payload = separators.cover_payload(code) if kind == "cover" else separators.separator_payload(code)
        grey = np.array(separators.render_sheet(sheet, title="Hồ sơ thử nghiệm", dpi=dpi))
    bleed = _clean_text(seed * 1000 + i + 500, dpi) if d["bleed"] else None
    rgb = degrade(
        grey,
        rng=rng,
        dpi=dpi,
        bleed=bleed,
        yellow=d["yellow"],
        holes=d["holes"],
        dust=d["dust"],
        border_mm=d["border_mm"],
        skew=d["skew"],
        turn=d["turn"],
        blur=d["blur"],
        noise=d["noise"],
        jpeg=d["jpeg"],
    )
    path = folder / f"p{i:04d}-{kind}.png"
    Image.fromarray(rgb).save(path, dpi=(dpi, dpi), compress_level=1)
    return LabelledPage(
        path=path,
        kind=kind,
        dpi=dpi,
        skew_deg=d["skew"],
        turn=d["turn"],
        payload=payload,
        degradation={k: v for k, v in d.items() if k not in ("skew", "turn")},
    )


def make_processing_set(
    folder: Path, *, count: int = 40, seed: int = 7, dpi: int = 300, mix: str = "mixed", workers: int = 2
) -> list[LabelledPage]:
    """Write (or reuse) `count` labelled pages in `folder` as PNG (what capture writes), `workers` at a time."""
    if mix not in ("mixed", "text"):
        raise ValueError(f"mix must be 'mixed' or 'text', got {mix!r}")
    folder = Path(folder)
    manifest = folder / MANIFEST
    key = {"version": VERSION, "count": count, "seed": seed, "dpi": dpi, "mix": mix}
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("key") == key:
            return [LabelledPage(**{**p, "path": folder / p["path"]}) for p in data["pages"]]
    folder.mkdir(parents=True, exist_ok=True)
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_make_page, folder, i, seed, dpi, mix) for i in range(count)]
            pages = [f.result() for f in futures]
    else:
        pages = [_make_page(folder, i, seed, dpi, mix) for i in range(count)]
    rows = [{**asdict(p), "path": p.path.name} for p in pages]
    tmp = manifest.with_suffix(".tmp")  # the manifest last and atomically: a cut-short run is redone
    tmp.write_text(json.dumps({"key": key, "pages": rows}, ensure_ascii=False, indent=1))
    tmp.replace(manifest)
    return pages


if __name__ == "__main__":
    out = make_processing_set(
        Path(sys.argv[1]),
        count=int(sys.argv[2]) if len(sys.argv) > 2 else 40,
        mix=sys.argv[3] if len(sys.argv) > 3 else "mixed",
    )
    kinds: dict[str, int] = {}
    for p in out:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    print(f"{len(out)} pages in {sys.argv[1]}: {kinds}")


# -- real scans: OCRmyPDF's test resources ------------------------------------------------------------

OCRMYPDF_FILES = ("skew.pdf", "rotated_skew.pdf", "cardinal.pdf", "linn.pdf", "c03-29.pdf")


@dataclass(frozen=True)
class RealPage:
    path: Path
    source: str  # "cardinal.pdf p2"
    skew_deg: float | None  # counter-clockwise tilt as drawn; None when the file does not tell
    fix_rotation: int  # clockwise quarter turn that makes the page upright


def page_truth(page: Any) -> tuple[float, int] | None:
    """(skew, fix rotation) of a PDF page that draws one image with one `cm`, from that matrix and /Rotate.

    The image's x axis (a, b) makes the angle atan2(b, a) counter-clockwise (PDF space is y-up); a viewer
    then turns the page /Rotate degrees clockwise. The nearest quarter is the turn, the rest the skew.
    """
    import math

    import pikepdf

    ops = [op for op in pikepdf.parse_content_stream(page) if str(op.operator) in ("cm", "Do")]
    cms = [op for op in ops if str(op.operator) == "cm"]
    if len(cms) != 1 or sum(str(op.operator) == "Do" for op in ops) != 1:
        return None
    a, b = (float(v) for v in cms[0].operands[:2])
    angle = math.degrees(math.atan2(b, a)) - float(page.obj.get("/Rotate", 0))
    quarter = round(angle / 90) * 90
    return round(angle - quarter, 3), int(quarter) % 360


def fetch_real_scans(cache: Path = CACHE, *, version: str | None = None, dpi: int = 300) -> list[RealPage]:
    """OCRmyPDF's real skewed and rotated scans (its sdist's tests/resources), each page rendered at `dpi`.

    Downloads the sdist of the installed OCRmyPDF once with pip (network), then reuses the cache.
    """
    import importlib.metadata
    import subprocess
    import tarfile

    import pikepdf

    version = version or importlib.metadata.version("ocrmypdf")
    folder = Path(cache) / f"ocrmypdf-{version}"
    done = folder / "pages.json"
    if done.exists():
        return [RealPage(**{**p, "path": folder / p["path"]}) for p in json.loads(done.read_text())]
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / f"ocrmypdf-{version}.tar.gz"
    if not sdist.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"ocrmypdf=={version}",
                "-d",
                str(folder),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    pages = []
    with tarfile.open(sdist) as tar:
        for name in OCRMYPDF_FILES:
            member = tar.getmember(f"ocrmypdf-{version}/tests/resources/{name}")
            pdf_path = folder / name
            data = tar.extractfile(member)
            assert data is not None, f"{member.name} is not a file in the sdist"
            pdf_path.write_bytes(data.read())
            stem = pdf_path.stem
            subprocess.run(
                ["pdftoppm", "-r", str(dpi), "-png", str(pdf_path), str(folder / stem)],
                check=True,
                capture_output=True,
                timeout=300,
            )
            rendered = sorted(folder.glob(f"{stem}-*.png"))
            with pikepdf.open(pdf_path) as pdf:
                truths = [page_truth(p) for p in pdf.pages]
            for i, (png, truth) in enumerate(zip(rendered, truths, strict=True)):
                skew, fix = truth if truth is not None else (None, 0)
                if name == "c03-29.pdf":
                    skew = None  # a real camera/scanner capture: its own tilt is not known
                pages.append(RealPage(path=png, source=f"{name} p{i + 1}", skew_deg=skew, fix_rotation=fix))
    done.write_text(json.dumps([{**asdict(p), "path": p.path.name} for p in pages], indent=1))
    return pages
