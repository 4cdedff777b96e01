"""Pages sohoa's authors did not make, labelled in bench/outside_pages.toml (source and licence of each).

The files come from public packages fetched with pip into the bench cache, never committed: OCRmyPDF's
sdist (tests/resources: real scans, printouts, a photograph, a one-line page, a blank page) and the
scikit-image wheel (skimage/data: a scanned page and photographs). PDFs are rendered with pdftoppm at
200 dpi (the lowest resolution the rules allow); the small scikit-image pictures are enlarged 3x and laid on
an A4 white page, as a photograph would be scanned.

    pages = fetch_outside_pages()  # needs network once, then the cache
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.processing_evalset import CACHE, page_truth

LABELS = Path(__file__).with_name("outside_pages.toml")
DPI = 200
VERSION = 2  # 2: ccitt.pdf and jbig2.pdf added; per-page kinds of multipage.pdf


@dataclass(frozen=True)
class OutsidePage:
    path: Path
    source: str  # "ocrmypdf cardinal.pdf p2: ..."
    kind: str  # text, short, figure, picture, blank
    fix_rotation: int  # clockwise quarter turn that makes the page upright
    skew_deg: float | None  # counter-clockwise tilt when the file tells it, else None
    dpi: int
    clean: bool = True  # a good capture: no quality flag expected


def _pip_download(spec: str, folder: Path, binary: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    args = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", *args, spec, "-d", str(folder)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    name = spec.split("==")[0].replace("-", "_").lower()
    found = [p for p in folder.iterdir() if p.name.replace("-", "_").lower().startswith(name)]
    if not found:
        raise RuntimeError(f"pip download {spec} left nothing in {folder}")
    return found[0]


def _ocrmypdf_file(cache: Path, name: str) -> Path:
    import tarfile

    version = importlib.metadata.version("ocrmypdf")
    folder = cache / f"ocrmypdf-{version}"
    out = folder / "resources" / name
    if out.exists():
        return out
    sdist = folder / f"ocrmypdf-{version}.tar.gz"
    if not sdist.exists():
        _pip_download(f"ocrmypdf=={version}", folder, binary=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(f"ocrmypdf-{version}/tests/resources/{name}")
        assert member is not None, f"{name} is not a file in the ocrmypdf sdist"
        out.write_bytes(member.read())
    return out


def _skimage_file(cache: Path, name: str) -> Path:
    folder = cache / "scikit-image"
    out = folder / "data" / name
    if out.exists():
        return out
    wheels = sorted(folder.glob("scikit_image-*.whl")) if folder.exists() else []
    wheel = wheels[-1] if wheels else _pip_download("scikit-image", folder, binary=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        out.write_bytes(z.read(f"skimage/data/{name}"))
    return out


def _on_a4(img: np.ndarray, scale: int) -> np.ndarray:
    """The picture enlarged `scale` times, centred on white A4 paper at DPI (cut to fit)."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    h, w = round(297 / 25.4 * DPI), round(210 / 25.4 * DPI)
    page = np.full((h, w, 3), 255, np.uint8)
    big = big[: h - 2 * DPI // 2, : w - 2 * DPI // 2]
    y, x = (h - big.shape[0]) // 2, (w - big.shape[1]) // 2
    page[y : y + big.shape[0], x : x + big.shape[1]] = big
    return page


def fetch_outside_pages(cache: Path = CACHE) -> list[OutsidePage]:
    """Every labelled page as a PNG at DPI in `cache`/outside-vN, with its truth."""
    import pikepdf

    folder = Path(cache) / f"outside-v{VERSION}"
    done = folder / "pages.json"
    if done.exists():
        return [OutsidePage(**{**p, "path": folder / p["path"]}) for p in json.loads(done.read_text())]
    folder.mkdir(parents=True, exist_ok=True)
    labels = tomllib.loads(LABELS.read_text())
    pages: list[OutsidePage] = []
    for entry in labels["page"]:
        package, name = entry["package"], entry["file"]
        src = _ocrmypdf_file(Path(cache), name) if package == "ocrmypdf" else _skimage_file(Path(cache), name)
        stem = f"{package}-{Path(name).stem}"
        if name.endswith(".pdf"):
            subprocess.run(
                ["pdftoppm", "-r", str(DPI), "-png", str(src), str(folder / stem)],
                check=True,
                capture_output=True,
                timeout=300,
            )
            rendered = sorted(folder.glob(f"{stem}-*.png"))
            with pikepdf.open(src) as pdf:
                truths = [page_truth(p) for p in pdf.pages]
        else:
            img = cv2.imread(str(src), cv2.IMREAD_COLOR)
            if img is None:
                raise RuntimeError(f"OpenCV cannot read {src}")
            if "scale" in entry:
                img = _on_a4(img, int(entry["scale"]))
            png = folder / f"{stem}.png"
            cv2.imwrite(str(png), img)
            rendered, truths = [png], [None]
        for i, (png, truth) in enumerate(zip(rendered, truths, strict=True)):
            fix, skew = 0, None
            if entry.get("fix_rotation") == "pdf" and truth is not None:
                skew, fix = truth
            label = f"{package} {name}" + (f" p{i + 1}" if len(rendered) > 1 else "")
            kind = entry["kind"]
            if i + 1 in entry.get("picture_pages", ()):
                kind = "picture"
            elif i + 1 in entry.get("short_pages", ()):
                kind = "short"
            clean = entry.get("clean", True) and i + 1 not in entry.get("unclean_pages", ())
            pages.append(OutsidePage(png, f"{label}: {entry['source']}", kind, fix, skew, DPI, clean))
    done.write_text(json.dumps([{**asdict(p), "path": p.path.name} for p in pages], indent=1))
    return pages


def provenance() -> str:
    """The packages and their licences, as the bench prints them."""
    labels = tomllib.loads(LABELS.read_text())
    return "; ".join(f"{name} ({p['folder']}): {p['licence']}" for name, p in labels["packages"].items())
