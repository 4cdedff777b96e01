"""A checker for the PDF/A-2b rules sohoa relies on, plus the capture rules CAP-02..07 and CAP-11.

No PDF/A validator (veraPDF) can be installed here, so this covers what our documents could get wrong:
header, encryption, XMP identification and its agreement with the Info dictionary, the OutputIntent,
embedded fonts, forbidden actions, external content, annotation appearances, image colour and depth,
resolution and scale, the invisible text layer, and for signed files that the signature was added as an
incremental update covering the whole file. It reads only; `check_pdfa` returns every problem found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pikepdf

PDFA_NS_PART = "pdfaid:part"
PDFA_NS_CONF = "pdfaid:conformance"
FORBIDDEN_ACTIONS = {"/Launch", "/Sound", "/Movie", "/ResetForm", "/ImportData", "/JavaScript", "/Hide",
                     "/SetOCGState", "/Rendition", "/Trans", "/GoTo3DView"}
MIN_DPI = 200.0
# The only operators _walk_content acts on: pikepdf skips the rest in C++ (half the time of a page was
# Python objects for operators nobody looked at).
WALKED = "q Q cm Tr Tj TJ ' \" Do"
DPI_TOLERANCE = 0.02  # page sizes are rounded to 1/100 pt by writers


def _pdf_date(text: str) -> datetime | None:
    """Parse `D:YYYYMMDDHHmmSS+HH'mm'` (parts optional) into an aware datetime, None if unparsable."""
    m = re.match(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-])?(\d{2})?'?(\d{2})?'?$", text)
    if not m:
        return None
    year, month, day, hour, minute, second, sign, oh, om = m.groups()
    tz = "+00:00" if sign in (None, "Z", "z") else f"{sign}{oh or '00'}:{om or '00'}"
    return datetime.fromisoformat(f"{year}-{month or '01'}-{day or '01'}T{hour or '00'}:{minute or '00'}:"
                                  f"{second or '00'}{tz}")


def _xmp_date(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _rstrip_len(raw: bytes, chars: bytes | None = None) -> int:
    """len(raw.rstrip(chars)) without copying a large file (a whole-file copy cost 70 ms per 25 MB)."""
    end = len(raw)
    while end > 0:
        start = max(0, end - 4096)
        kept = len(raw[start:end].rstrip(chars))
        if kept:
            return start + kept
        end = start
    return 0


def _second_line(raw: bytes) -> bytes:
    """raw.split(b"\n", 2)[1] if the file has two newlines, else b"" (found without scanning the file)."""
    first = raw.find(b"\n")
    second = raw.find(b"\n", first + 1) if first >= 0 else -1
    return raw[first + 1:second] if second >= 0 else b""


def _check_header(raw: bytes, problems: list[str]) -> None:
    m = re.match(rb"%PDF-(\d)\.(\d)", raw[:16])
    if not m:
        problems.append("header: the file does not start with %PDF-x.y")
        return
    if (int(m[1]), int(m[2])) < (1, 4):
        problems.append(f"header: PDF version {m[1].decode()}.{m[2].decode()} is below 1.4 (CAP-09)")
    second_line = _second_line(raw)
    if not (second_line.startswith(b"%") and sum(b > 127 for b in second_line[1:5]) >= 4):
        problems.append("header: no binary comment line after the header (PDF/A 6.1.2)")
    end = _rstrip_len(raw)
    if not raw[max(0, end - 5):end] == b"%%EOF":
        problems.append("trailer: the file does not end with %%EOF")


def _check_metadata(pdf: pikepdf.Pdf, problems: list[str]) -> None:
    if "/Metadata" not in pdf.Root:
        problems.append("XMP: the catalog has no /Metadata stream (no PDF/A identification)")
        return
    if "/Filter" in pdf.Root.Metadata.stream_dict:
        problems.append("XMP: the metadata stream is compressed; PDF/A wants it readable as plain XML")
    try:
        xmp = pdf.open_metadata()
        part, conformance = xmp.get(PDFA_NS_PART), xmp.get(PDFA_NS_CONF)
    except Exception as exc:
        problems.append(f"XMP: cannot parse the metadata stream: {exc}")
        return
    if str(part) != "2":
        problems.append(f"XMP: pdfaid:part is {part!r}, expected 2")
    if str(conformance).upper() != "B" or str(conformance) != "B":
        problems.append(f"XMP: pdfaid:conformance is {conformance!r}, expected B")
    info = pdf.trailer.get("/Info")
    if info is None:
        return
    pairs = [("/Title", "dc:title"), ("/Author", "dc:creator"), ("/Subject", "dc:description"),
             ("/Producer", "pdf:Producer"), ("/Keywords", "pdf:Keywords"), ("/Creator", "xmp:CreatorTool")]
    for key, prop in pairs:
        if key in info:
            value = xmp.get(prop)
            if isinstance(value, list):
                value = value[0] if len(value) == 1 else "; ".join(value)
            if value is None or str(value) != str(info[key]):
                problems.append(f"XMP: Info {key} {str(info[key])!r} differs from {prop} {value!r}")
    for key, prop in (("/CreationDate", "xmp:CreateDate"), ("/ModDate", "xmp:ModifyDate")):
        if key in info:
            info_date, xmp_value = _pdf_date(str(info[key])), xmp.get(prop)
            xmp_date_ = _xmp_date(str(xmp_value)) if xmp_value else None
            if info_date is None or xmp_date_ is None or info_date != xmp_date_:
                problems.append(f"XMP: Info {key} {str(info[key])!r} differs from {prop} {xmp_value!r}")


def _check_output_intent(pdf: pikepdf.Pdf, problems: list[str]) -> None:
    intents = pdf.Root.get("/OutputIntents")
    pdfa = [i for i in (intents or []) if i.get("/S") == "/GTS_PDFA1"]
    if not pdfa:
        problems.append("OutputIntent: no GTS_PDFA1 output intent")
        return
    profiles = {i["/DestOutputProfile"].objgen for i in pdfa if "/DestOutputProfile" in i}
    if len(profiles) > 1:
        problems.append("OutputIntent: several output intents with different profiles")
    for intent in pdfa:
        profile = intent.get("/DestOutputProfile")
        if profile is None:
            problems.append("OutputIntent: no DestOutputProfile (ICC profile)")
            continue
        icc = profile.read_bytes()
        if len(icc) < 128 or icc[36:40] != b"acsp":
            problems.append("OutputIntent: the DestOutputProfile is not an ICC profile")
        elif icc[16:20] != b"RGB ":
            problems.append(f"OutputIntent: ICC colour space is {icc[16:20]!r}, expected RGB")
        if int(profile.get("/N", 0)) != 3:
            problems.append("OutputIntent: ICC profile /N is not 3")


def _font_embedded(font: pikepdf.Object) -> bool:
    subtype = font.get("/Subtype")
    if subtype == "/Type3":
        return True
    if subtype == "/Type0":
        return all(_font_embedded(d) for d in font.get("/DescendantFonts", []))
    desc = font.get("/FontDescriptor")
    return desc is not None and any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def _check_objects(pdf: pikepdf.Pdf, problems: list[str]) -> None:
    """One pass over every object: fonts, actions, external content, images, annotations."""
    seen: set[str] = set()

    def once(message: str) -> None:
        if message not in seen:
            seen.add(message)
            problems.append(message)

    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Stream):
            d = obj.stream_dict
            if "/F" in d or "/FFilter" in d:
                once("external content: a stream takes its data from an external file")
            if d.get("/Subtype") == "/Image":
                _check_image(obj, once)
            if d.get("/Subtype") == "/Form" and "/Ref" in d:
                once("external content: a reference XObject (/Ref) points at another document")
            if d.get("/Subtype") == "/PS" or d.get("/Type") == "/PS":
                once("forbidden: PostScript XObject")
            continue
        if not isinstance(obj, pikepdf.Dictionary):
            continue
        kind = obj.get("/Type")
        if kind == "/Font" or obj.get("/Subtype") in ("/TrueType", "/Type1", "/Type0", "/CIDFontType2"):
            if "/BaseFont" in obj and obj.get("/Subtype") not in ("/CIDFontType0", "/CIDFontType2") \
                    and not _font_embedded(obj):
                once(f"font {obj.get('/BaseFont')} is not embedded")
        action = obj.get("/S")
        if action in FORBIDDEN_ACTIONS and (kind == "/Action" or "/JS" in obj or action != "/Trans"):
            once(f"forbidden action {action}")
        if "/JS" in obj:
            once("forbidden: JavaScript")
        if action == "/GoToR" or action == "/URI":
            pass  # links to elsewhere are allowed; they do not bring content in
        if kind == "/Filespec" and "/EF" in obj:
            once("embedded file attached (not allowed for sohoa documents)")
        if kind == "/Annot" or obj.get("/Subtype") == "/Widget":
            _check_annotation(obj, once)
    names = pdf.Root.get("/Names")
    if names is not None and "/JavaScript" in names:
        problems.append("forbidden: document-level JavaScript")
    for holder, where in ((pdf.Root, "catalog"),):
        if "/AA" in holder:
            problems.append(f"forbidden: additional actions (/AA) on the {where}")
    if "/OpenAction" in pdf.Root:
        action = pdf.Root.OpenAction
        if isinstance(action, pikepdf.Dictionary) and action.get("/S") in FORBIDDEN_ACTIONS:
            problems.append(f"forbidden: open action {action.get('/S')}")
    form = pdf.Root.get("/AcroForm")
    if form is not None and bool(form.get("/NeedAppearances", False)):
        problems.append("AcroForm /NeedAppearances is true (PDF/A forbids it)")


def _check_image(image: pikepdf.Object, once: Callable[[str], None]) -> None:
    d = image.stream_dict
    if bool(d.get("/ImageMask", False)):
        return  # a stencil mask carries no colour of its own
    if bool(d.get("/Interpolate", False)):
        once("image with /Interpolate true (PDF/A forbids it)")
    if int(d.get("/BitsPerComponent", 0)) != 8:
        once(f"image at {d.get('/BitsPerComponent')} bits per component, expected 8 (CAP-05)")
    space = d.get("/ColorSpace")
    if space == "/DeviceRGB":
        return
    if isinstance(space, pikepdf.Array) and len(space) == 2 and space[0] == "/ICCBased" \
            and int(space[1].get("/N", 0)) == 3:
        return
    if d.get("/Filter") == "/JPXDecode" and space is None:
        return  # JPEG 2000 carries its colour space inside
    once(f"image colour space {space!r} is not RGB (CAP-05: colour, 24 bit)")


def _check_annotation(annot: pikepdf.Dictionary, once: Callable[[str], None]) -> None:
    subtype = annot.get("/Subtype")
    if subtype == "/Popup":
        return
    flags = int(annot.get("/F", 0))
    if not flags & 4 or flags & (1 | 2 | 32):
        once(f"annotation {subtype}: must be printable and not hidden (PDF/A 6.3.2)")
    rect = [float(v) for v in annot.get("/Rect", [0, 0, 0, 0])]
    zero = abs(rect[2] - rect[0]) < 1e-6 and abs(rect[3] - rect[1]) < 1e-6
    ap = annot.get("/AP")
    if not zero and (ap is None or "/N" not in ap):
        once(f"annotation {subtype}: no normal appearance stream (PDF/A 6.3.3)")


def _walk_content(pdf: pikepdf.Pdf, resources: pikepdf.Object | None, content: pikepdf.Object,
                  depth: int = 0) -> tuple[bool, list[tuple[pikepdf.Object, float, float]]]:
    """(has invisible text, images drawn as (image, width_pt, height_pt)) for one content stream."""
    images: list[tuple[pikepdf.Object, float, float]] = []
    mode, in_text_mode3 = 0, False
    matrix_stack: list[list[float]] = []
    ctm = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    xobjects: pikepdf.Object | dict[str, pikepdf.Object] = {}
    if resources is not None:
        xobjects = resources.get("/XObject", {})
    for instruction in pikepdf.parse_content_stream(content, WALKED):
        operands, name = instruction.operands, str(instruction.operator)
        if name == "q":
            matrix_stack.append(ctm)
        elif name == "Q" and matrix_stack:
            ctm = matrix_stack.pop()
        elif name == "cm":
            a, b, c, d, e, f = (float(v) for v in operands)
            ctm = [a * ctm[0] + b * ctm[2], a * ctm[1] + b * ctm[3], c * ctm[0] + d * ctm[2],
                   c * ctm[1] + d * ctm[3], e * ctm[0] + f * ctm[2] + ctm[4],
                   e * ctm[1] + f * ctm[3] + ctm[5]]
        elif name == "Tr":
            mode = int(operands[0])
        elif name in ("Tj", "TJ", "'", '"'):
            in_text_mode3 = in_text_mode3 or mode == 3
        elif name == "Do" and depth < 8:
            xobj = xobjects.get(str(operands[0])) if xobjects is not None else None
            if xobj is None:
                continue
            subtype = xobj.stream_dict.get("/Subtype")
            if subtype == "/Image":
                width_pt = (ctm[0] ** 2 + ctm[1] ** 2) ** 0.5
                height_pt = (ctm[2] ** 2 + ctm[3] ** 2) ** 0.5
                images.append((xobj, width_pt, height_pt))
            elif subtype == "/Form":
                sub_text, sub_images = _walk_content(pdf, xobj.stream_dict.get("/Resources"), xobj, depth + 1)
                in_text_mode3 = in_text_mode3 or sub_text or _is_empty_ocr_layer(xobj)
                images.extend(sub_images)  # forms we make are drawn at identity scale
    return in_text_mode3, images


def _is_empty_ocr_layer(xobj: pikepdf.Object) -> bool:
    """Our OCR layer marked empty (OCR ran and found no text, e.g. a map): the layer is there, textless."""
    piece = xobj.stream_dict.get("/PieceInfo")
    app = piece.get("/SohoaOCR") if piece is not None else None
    private = app.get("/Private") if app is not None else None
    return bool(private is not None and private.get("/TextLayer") and private.get("/Empty"))


def _check_pages(pdf: pikepdf.Pdf, problems: list[str], min_dpi: float) -> None:
    for number, page in enumerate(pdf.pages, 1):
        box = [float(v) for v in page.mediabox]
        page_w, page_h = abs(box[2] - box[0]), abs(box[3] - box[1])
        try:
            has_text, images = _walk_content(pdf, page.obj.get("/Resources"), page.obj)
        except pikepdf.PdfError as exc:
            problems.append(f"page {number}: cannot parse its content: {exc}")
            continue
        if not has_text:
            problems.append(f"page {number}: no invisible OCR text layer (render mode 3) (CAP-02)")
        if not images:
            problems.append(f"page {number}: no page image (CAP-02)")
            continue
        image, width_pt, height_pt = max(images, key=lambda item: item[1] * item[2])
        px_w, px_h = int(image.stream_dict.Width), int(image.stream_dict.Height)
        dpi_x, dpi_y = px_w / (width_pt / 72), px_h / (height_pt / 72)
        if min(dpi_x, dpi_y) < min_dpi * (1 - DPI_TOLERANCE):
            problems.append(f"page {number}: image resolution {min(dpi_x, dpi_y):.0f} dpi is below "
                            f"{min_dpi:.0f} (CAP-06)")
        off_w = abs(width_pt - page_w) > page_w * DPI_TOLERANCE
        if off_w or abs(height_pt - page_h) > page_h * DPI_TOLERANCE:
            problems.append(f"page {number}: the image does not fill the page at 100% scale (CAP-07)")


def _check_signatures(pdf: pikepdf.Pdf, raw: bytes, problems: list[str]) -> None:
    form = pdf.Root.get("/AcroForm")
    fields: pikepdf.Object | list[pikepdf.Object] = form.get("/Fields", []) if form is not None else []
    sigs = [f.V for f in fields if f.get("/FT") == "/Sig" and "/V" in f]
    if not sigs:
        return
    ends = []
    for sig in sigs:
        byte_range = [int(v) for v in sig.get("/ByteRange", [])]
        if len(byte_range) != 4 or byte_range[0] != 0:
            problems.append("signature: malformed /ByteRange")
            continue
        ends.append(byte_range[2] + byte_range[3])
        # An incremental update keeps the unsigned document as an intact earlier revision in front.
        # (rfind, not count: the earlier revision ends near the signature, a scan from the front is 25 MB.)
        if raw.rfind(b"%%EOF", 0, slice(byte_range[1]).indices(len(raw))[1]) < 0:
            problems.append("signature: not added as an incremental update (no earlier revision)")
    if ends and max(ends) != _rstrip_len(raw, b"\r\n") and max(ends) != len(raw):
        problems.append("signature: the last signature does not cover the end of the file "
                        "(the file was changed or re-saved after signing)")
    last = raw.rfind(b"%%EOF")  # "%%EOF" cannot overlap itself: two finds are count() >= 2
    if last < 0 or raw.rfind(b"%%EOF", 0, last) < 0:
        problems.append("signature: the file was re-saved after signing (only one revision)")


def page_images(path: Path) -> list[dict[str, Any]]:
    """Per page (1-based): the resolution and colour of its largest image (CAP-05/06), for the archive's
    acceptance gate: {"page", "dpi" (the lower axis; 0 without an image), "bits" (per pixel), "rgb"}."""
    out = []
    with pikepdf.open(path) as pdf:
        for number, page in enumerate(pdf.pages, 1):
            _, images = _walk_content(pdf, page.obj.get("/Resources"), page.obj)
            if not images:
                out.append({"page": number, "dpi": 0.0, "bits": 0, "rgb": False})
                continue
            image, width_pt, height_pt = max(images, key=lambda item: item[1] * item[2])
            d = image.stream_dict
            dpi = min(int(d.Width) / (width_pt / 72), int(d.Height) / (height_pt / 72))
            problems: list[str] = []
            _check_image(image, problems.append)
            colour = not [p for p in problems if "CAP-05" in p]
            bits = int(d.get("/BitsPerComponent", 0)) * (3 if colour else 1)
            out.append({"page": number, "dpi": round(dpi, 1), "bits": bits, "rgb": colour})
    return out


def check_pdfa(path: Path, *, min_dpi: float = MIN_DPI, capture: bool = True) -> list[str]:
    """Every PDF/A-2b and capture-rule problem found in `path`; an empty list means it passes.
    `capture=False` leaves out the page rules of a scanned page (image, OCR layer, dpi, scale): for a
    born-digital PDF/A such as the archive's acceptance record."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [f"cannot read {path}: {exc.strerror}"]
    problems: list[str] = []
    _check_header(raw, problems)
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        return problems + ["encryption: the file is encrypted (PDF/A forbids it)"]
    except pikepdf.PdfError as exc:
        return problems + [f"not a readable PDF: {exc}"]
    with pdf:
        return problems + check_opened(pdf, raw, min_dpi=min_dpi, capture=capture)


def header_problems(raw: bytes) -> list[str]:
    """The header and trailer problems of a file's bytes (the part of check_pdfa before pikepdf opens it)."""
    problems: list[str] = []
    _check_header(raw, problems)
    return problems


def check_opened(pdf: pikepdf.Pdf, raw: bytes, *, min_dpi: float = MIN_DPI, capture: bool = True) -> list[str]:
    """The checks after the header, on a PDF already opened from `raw` (the server opens each document
    once for these, its page count and its signature)."""
    problems: list[str] = []
    if pdf.is_encrypted or "/Encrypt" in pdf.trailer:
        problems.append("encryption: the file is encrypted (PDF/A forbids it)")
    if "/ID" not in pdf.trailer:
        problems.append("trailer: no /ID (PDF/A 6.1.3)")
    _check_metadata(pdf, problems)
    _check_output_intent(pdf, problems)
    _check_objects(pdf, problems)
    if capture:
        _check_pages(pdf, problems, min_dpi)
    _check_signatures(pdf, raw, problems)
    return problems
