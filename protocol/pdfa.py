"""What makes a PDF say it is PDF/A-2b, for every PDF sohoa writes: the station's documents
(station/output/pdfa.py) and the archive's own (the biên bản nghiệm thu, a DIP's authentication sheet).
The identification, once: XMP with pdfaid agreeing with the Info dictionary, an sRGB output intent, the
document's language. Fonts and images are the writer's business; protocol/pdfa_check.py checks the result."""

from __future__ import annotations

from datetime import datetime

import pikepdf
from PIL import ImageCms

from protocol.clock import VN_TZ, iso_vn
from protocol.version import SOFTWARE


def srgb_icc() -> bytes:
    """An sRGB ICC profile made by LittleCMS (no file to ship or find)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def pdf_date(moment: datetime) -> str:
    """A PDF date string in Vietnam time: D:20260612114537+07'00'."""
    return moment.astimezone(VN_TZ).strftime("D:%Y%m%d%H%M%S+07'00'")


def identify(
    pdf: pikepdf.Pdf,
    *,
    title: str,
    author: str,
    when: datetime,
    tool: str = SOFTWARE,
    language: str = "vi",
    subject: str = "",
    keywords: str = "",
    identifier: str = "",
    source: str = "",
) -> None:
    """Make `pdf` say it is PDF/A-2b, made by `tool` at `when`; the optional fields go into both XMP and Info.

    No /Producer in Info: pyHanko appends itself to an existing Info /Producer but writes only its own name
    into the XMP, which would make a signed file disagree with itself; without one, it writes the same
    value into both (PDF/A-2 6.6.3 wants Info and XMP to agree)."""
    iso = iso_vn(when, millis=False)
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        xmp["pdfaid:part"] = "2"
        xmp["pdfaid:conformance"] = "B"
        xmp["dc:title"] = title
        xmp["dc:creator"] = [author]
        xmp["dc:language"] = {language}
        if subject:
            xmp["dc:description"] = subject
        if identifier:
            xmp["dc:identifier"] = identifier
        if source:
            xmp["dc:source"] = source
        xmp["xmp:CreateDate"] = iso
        xmp["xmp:ModifyDate"] = iso
        xmp["xmp:MetadataDate"] = iso
        xmp["xmp:CreatorTool"] = tool
        xmp["pdf:Producer"] = tool
        if keywords:
            xmp["pdf:Keywords"] = keywords
    info = pikepdf.Dictionary(Title=pikepdf.String(title), Author=pikepdf.String(author))
    if subject:
        info.Subject = pikepdf.String(subject)
    if keywords:
        info.Keywords = pikepdf.String(keywords)
    info.Creator = pikepdf.String(tool)
    info.CreationDate = pikepdf.String(pdf_date(when))
    info.ModDate = pikepdf.String(pdf_date(when))
    pdf.docinfo = pdf.make_indirect(info)
    icc = pdf.make_stream(srgb_icc())
    icc.N = 3
    intent = pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent,
        S=pikepdf.Name.GTS_PDFA1,
        OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"),
        RegistryName=pikepdf.String("http://www.color.org"),
        Info=pikepdf.String("sRGB IEC61966-2.1"),
        DestOutputProfile=icc,
    )
    pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(intent)])
    pdf.Root.Lang = pikepdf.String(language)
