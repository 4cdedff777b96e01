"""The archive's own born-digital PDF/A-2b (the biên bản nghiệm thu, a DIP's authentication sheet): the
identification every one of them needs — XMP agreeing with Info, an sRGB output intent, the language."""

from __future__ import annotations

from datetime import datetime

import pikepdf
from PIL import ImageCms

from protocol.clock import iso_vn

PRODUCER = "sohoa archive"


def _pdf_date(moment: datetime) -> str:
    off = moment.strftime("%z")
    return moment.strftime("D:%Y%m%d%H%M%S") + f"{off[:3]}'{off[3:]}'"


def identify(pdf: pikepdf.Pdf, *, title: str, author: str, when: datetime) -> None:
    """Make `pdf` say it is PDF/A-2b (fonts must be embedded by whoever drew the text)."""
    iso = iso_vn(when, millis=False)
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        xmp["pdfaid:part"] = "2"
        xmp["pdfaid:conformance"] = "B"
        xmp["dc:title"] = title
        xmp["dc:creator"] = [author]
        xmp["dc:language"] = {"vi"}
        xmp["xmp:CreateDate"] = iso
        xmp["xmp:ModifyDate"] = iso
        xmp["xmp:MetadataDate"] = iso
        xmp["xmp:CreatorTool"] = PRODUCER
    pdf.docinfo = pdf.make_indirect(pikepdf.Dictionary(
        Title=pikepdf.String(title), Author=pikepdf.String(author), Creator=pikepdf.String(PRODUCER),
        CreationDate=pikepdf.String(_pdf_date(when)), ModDate=pikepdf.String(_pdf_date(when))))
    icc = pdf.make_stream(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc.N = 3
    pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent, S=pikepdf.Name.GTS_PDFA1, DestOutputProfile=icc,
        OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"), Info=pikepdf.String("sRGB IEC61966-2.1"),
        RegistryName=pikepdf.String("http://www.color.org")))])
    pdf.Root.Lang = pikepdf.String("vi")
