"""The agency's PAdES signature on a finished PDF/A, as an incremental update.

A `Signer` is built once per key (a PKCS#12 file or a PKCS#11 token) and reused: parsing the key costs
about 70 ms, signing a few. Every check that can fail (passphrase, PIN, token, certificate dates and key
usage) happens before any file is written, so a failed attempt leaves the document ready to sign again.
The visible block follows TT05 Điều 8 for a digitised copy: top-right of page 1, no image, the agency's
name and the signing time in ISO 8601 +07:00, FreeSerif (a Times-like face with Vietnamese) 10 pt, black.
With a TSA URL configured, an RFC 3161 signature timestamp is embedded (PAdES B-T); when the TSA cannot
be reached the document is not signed at all rather than signed without the promised timestamp.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from PIL import ImageFont
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.signers import Signer as HankoSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.stamp import TextStampStyle

from protocol.clock import VN_TZ, iso_vn, now_vn
from protocol.durable import fsync_dir

log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.ERROR)  # per-glyph INFO lines on every stamp

STAMP_FONT = Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf")
STAMP_PT = 10
MARGIN_PT = 14  # about 5 mm from the displayed top and right edges, above most letterheads
PADDING_PT = 3
FIELD_NAME = "AgencySignature"
SIGNATURE_BYTES = 16384


class SigningError(Exception):
    """Signing refused or failed before the destination was written; the source is untouched."""

    def __init__(self, message: str, message_vi: str):
        super().__init__(message)
        self.message = message
        self.message_vi = message_vi


@dataclass(frozen=True)
class SignResult:
    signed_at: str  # ISO 8601 +07:00, the instant in the signature and on the stamp
    signer_subject: str
    seconds: float = 0.0
    timestamped: bool = False  # an RFC 3161 signature timestamp from the TSA is embedded (PAdES B-T)


def _check_certificate(cert: asn1_x509.Certificate, when: datetime) -> None:
    subject = cert.subject.human_friendly
    if when < cert.not_valid_before:
        raise SigningError(f"certificate of {subject} is not valid before {cert.not_valid_before:%Y-%m-%d}",
                           f"Chứng thư số chưa có hiệu lực (từ ngày {cert.not_valid_before:%d/%m/%Y}).")
    if when > cert.not_valid_after:
        raise SigningError(f"certificate of {subject} expired on {cert.not_valid_after:%Y-%m-%d}",
                           f"Chứng thư số đã hết hạn (ngày {cert.not_valid_after:%d/%m/%Y}).")
    usages = cert.key_usage_value.native if cert.key_usage_value is not None else set()
    if not usages & {"digital_signature", "non_repudiation"}:
        raise SigningError(f"certificate of {subject} does not allow signing (key usage: {sorted(usages)})",
                           "Chứng thư số không được phép dùng để ký số.")


#: Characters of the stamp's time line (ISO 8601 with +07:00), always in the stamp's font.
TIME_CHARS = "0123456789-:+T"


@functools.lru_cache(maxsize=16)
def _stamp_font_bytes(chars: frozenset[str]) -> bytes:
    """FreeSerif cut down once per stamp text to just its characters (the agency's name and the time's).

    pyHanko parses and subsets the whole font file again for every stamp: on the full 4,000-glyph font that
    took about 400 ms per signature, on a Latin + Vietnamese cut still 30-60 ms (decoding its layout
    tables). A font of the few dozen glyphs one agency's stamp uses costs a few ms."""
    from fontTools import subset

    options = subset.Options()
    options.layout_features = ["*"]  # keep mark positioning for stacked diacritics
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(str(STAMP_FONT), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted({ord(c) for c in chars} | {0x20}))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class _StampFontFactory(GlyphAccumulatorFactory):
    chars: frozenset[str] = frozenset(TIME_CHARS)

    def create_font_engine(self, writer, obj_stream=None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(writer=writer, font_handle=io.BytesIO(_stamp_font_bytes(self.chars)),
                                font_size=self.font_size, obj_stream=obj_stream)


def _text_width_pt(text: str) -> float:
    font = ImageFont.truetype(str(STAMP_FONT), size=1000)
    return font.getlength(text) / 1000 * STAMP_PT


def stamp_box(page_box: tuple[float, float, float, float], rotate: int, width: float,
              height: float) -> tuple[int, int, int, int]:
    """The field rectangle (unrotated user space) that shows top-right once the viewer applies /Rotate."""
    x1, y1, x2, y2 = page_box
    m = MARGIN_PT
    rotate %= 360
    if rotate == 90:  # displayed top = unrotated left edge, displayed right = unrotated top
        box = (x1 + m, y2 - m - width, x1 + m + height, y2 - m)
    elif rotate == 180:
        box = (x1 + m, y1 + m, x1 + m + width, y1 + m + height)
    elif rotate == 270:
        box = (x2 - m - height, y1 + m, x2 - m, y1 + m + width)
    else:
        box = (x2 - m - width, y2 - m - height, x2 - m, y2 - m)
    return tuple(round(v) for v in box)  # type: ignore[return-value]


def _first_page_geometry(reader: PdfFileReader) -> tuple[tuple[float, float, float, float], int]:
    page = reader.root["/Pages"]
    while "/Kids" in page:
        page = page["/Kids"][0]
    box = page.get("/CropBox", page.get("/MediaBox"))
    if box is None:  # inherited from the page tree
        parent = page.get("/Parent")
        while parent is not None and box is None:
            box = parent.get("/CropBox", parent.get("/MediaBox"))
            parent = parent.get("/Parent")
    rotate = int(page.get("/Rotate", 0))
    x1, y1, x2, y2 = (float(v) for v in box)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), rotate


class _CachedKeySigner(signers.SimpleSigner):
    """SimpleSigner re-parses its private key for every signature (about 50 ms for RSA-2048, with the key
    consistency check); this one parses it once."""

    _key = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algo = mechanism.signature_algo
        except ValueError:
            algo = mechanism["algorithm"].native
        if algo not in ("rsassa_pkcs1v15", "ecdsa"):
            return super().sign_raw(data, digest_algorithm)
        if self._key is None:
            self._key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "ecdsa":
            return self._key.sign(data, ec.ECDSA(hash_algo))
        return self._key.sign(data, PKCS1v15(), hash_algo)


def _is_timestamp_failure(exc: BaseException) -> bool:
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError

    while exc is not None:
        if isinstance(exc, TimestampRequestError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Signer:
    """A loaded signing key. Build with `from_pkcs12` or `from_pkcs11`, then call `sign` many times."""

    def __init__(self, hanko_signer: HankoSigner, *, session=None, tsa_url: str | None = None,
                 tsa_timeout: float = 10.0):
        self._signer = hanko_signer
        self._session = session  # PKCS#11 session kept open for the signer's life
        self.subject = hanko_signer.signing_cert.subject.human_friendly
        self.tsa_url = tsa_url or None
        self._timestamper = None
        if self.tsa_url:
            from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper

            # RFC 3161 over HTTP POST, nonce checked by pyHanko. The requests-based client, not the aiohttp
            # one: `sign` runs a new event loop each time and an aiohttp session is bound to its loop.
            self._timestamper = HTTPTimeStamper(self.tsa_url, timeout=tsa_timeout)

    @classmethod
    def from_pkcs12(cls, path: Path, passphrase: bytes | None, *, tsa_url: str | None = None) -> Signer:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read key file {path}: {exc.strerror}",
                               f"Không đọc được tệp khóa ký số {path}.") from exc
        try:
            loaded = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase)
            signer = _CachedKeySigner(signing_key=loaded.signing_key, signing_cert=loaded.signing_cert,
                                      cert_registry=loaded.cert_registry)
        except ValueError as exc:
            raise SigningError(f"cannot open {path}: wrong passphrase or damaged PKCS#12 file",
                               "Không mở được tệp khóa ký số: sai mật khẩu hoặc tệp hỏng.") from exc
        _check_certificate(signer.signing_cert, now_vn())
        return cls(signer, tsa_url=tsa_url)

    @classmethod
    def from_pkcs11(cls, module: str, token_label: str, key_label: str, pin: str,
                    cert_label: str | None = None, *, tsa_url: str | None = None) -> Signer:
        """Open the token by label (slot numbers change between plug-ins) and log in with `pin`."""
        import pkcs11  # python-pkcs11, imported here so file-key stations need no PKCS#11 stack
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

        if not os.path.exists(module):
            raise SigningError(f"PKCS#11 module not found: {module}",
                               f"Không tìm thấy thư viện PKCS#11 của token: {module}")
        try:
            session = open_pkcs11_session(module, token_criteria=TokenCriteria(label=token_label),
                                          user_pin=pin)
        except pkcs11.exceptions.PinIncorrect as exc:
            raise SigningError("wrong PIN for the signing token", "Sai mã PIN của token ký số.") from exc
        except pkcs11.exceptions.PinLocked as exc:
            raise SigningError("the signing token's PIN is locked",
                               "Mã PIN của token ký số đã bị khóa.") from exc
        except Exception as exc:  # pyHanko raises its own PKCS11Error when no token matches
            raise SigningError(f"signing token {token_label!r} not found or not usable: {exc}",
                               f"Không tìm thấy token ký số “{token_label}” (hãy cắm token).") from exc
        try:
            signer = PKCS11Signer(session, key_label=key_label, cert_label=cert_label or key_label)
            cert = signer.signing_cert  # loads key and certificate now, not at the first signature
            _check_certificate(cert, now_vn())
        except SigningError:
            session.close()
            raise
        except Exception as exc:
            session.close()
            raise SigningError(f"key or certificate {key_label!r} not found on token {token_label!r}: {exc}",
                               f"Không tìm thấy khóa hoặc chứng thư “{key_label}” trên token.") from exc
        return cls(signer, session=session, tsa_url=tsa_url)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _pdf_signer(self, agency_name: str, visible: bool, box) -> signers.PdfSigner:
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
            name=agency_name, reason="Số hóa tài liệu lưu trữ", location="Việt Nam",
        )
        if not visible:
            return signers.PdfSigner(meta, signer=self._signer, timestamper=self._timestamper)
        style = TextStampStyle(
            stamp_text="%(agency)s\n%(when)s",
            text_box_style=TextBoxStyle(font=_StampFontFactory(str(STAMP_FONT), font_size=STAMP_PT,
                                                               chars=frozenset(agency_name + TIME_CHARS)),
                                        font_size=STAMP_PT, text_color=(0, 0, 0)),
            border_width=0, background=None,
        )
        return signers.PdfSigner(meta, signer=self._signer, stamp_style=style, timestamper=self._timestamper,
                                 new_field_spec=fields.SigFieldSpec(FIELD_NAME, on_page=0, box=box))

    async def async_sign(self, src: Path, dst: Path, *, agency_name: str, visible: bool = True,
                         when: datetime | None = None) -> SignResult:
        """As `sign`, inside a running event loop."""
        started = time.perf_counter()
        moment = (when or now_vn()).astimezone(VN_TZ).replace(microsecond=0)
        _check_certificate(self._signer.signing_cert, moment)
        stamp = f"{agency_name}\n{iso_vn(moment, millis=False)}"
        src, dst = Path(src), Path(dst)
        tmp = dst.with_name(f".{dst.name}.part")
        with open(src, "rb") as handle:
            data = handle.read()
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        box = None
        if visible:
            lines = stamp.split("\n")
            width = max(_text_width_pt(line) for line in lines) + 2 * PADDING_PT + 2
            height = len(lines) * STAMP_PT * 1.25 + 2 * PADDING_PT
            box = stamp_box(*_first_page_geometry(writer.prev), width, height)
        pdf_signer = self._pdf_signer(agency_name, visible, box)
        # Same steps as PdfSigner.async_sign_pdf, with the session's clock set to our instant so that the
        # signature's /M, the stamp and SignResult show one and the same time.
        session = pdf_signer.init_signing_session(writer)
        session.system_time = moment
        try:
            validation = await session.perform_presign_validation(writer)
            # A fixed reservation instead of pyHanko's estimate, which signs a dummy once more: an RSA/EC
            # CMS with a 2-3 certificate chain needs 3-6 kB; a timestamp token adds about 5 kB more.
            reserved = SIGNATURE_BYTES * (2 if self._timestamper else 1)
            tbs = session.prepare_tbs_document(validation_info=validation, bytes_reserved=reserved,
                                               appearance_text_params={"agency": agency_name,
                                                                       "when": iso_vn(moment, millis=False)})
            with open(tmp, "w+b") as out:  # pyHanko reads the output back to digest it
                prepared, res_output = tbs.digest_tbs_document(output=out, in_place=False)
                post = await tbs.perform_signature(
                    document_digest=prepared.document_digest,
                    pdf_cms_signed_attrs=PdfCMSSignedAttributes(
                        signing_time=moment,
                        cades_signed_attrs=pdf_signer.signature_meta.cades_signed_attr_spec),
                )
                await post.post_signature_processing(res_output)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dst)
            fsync_dir(dst.parent)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            if self._timestamper is not None and _is_timestamp_failure(exc):
                raise SigningError(f"signing {src.name} failed: no timestamp from {self.tsa_url}: {exc}",
                                   f"Ký số tài liệu {src.name} thất bại: không lấy được dấu thời gian từ "
                                   f"máy chủ {self.tsa_url}.") from exc
            raise SigningError(f"signing {src.name} failed: {exc}",
                               f"Ký số tài liệu {src.name} thất bại.") from exc
        elapsed = time.perf_counter() - started
        log.info("signed %s as %s in %.0f ms", dst.name, self.subject, elapsed * 1000)
        return SignResult(signed_at=iso_vn(moment, millis=False), signer_subject=self.subject,
                          seconds=elapsed, timestamped=self._timestamper is not None)

    def sign(self, src: Path, dst: Path, *, agency_name: str, visible: bool = True,
             when: datetime | None = None) -> SignResult:
        """Sign `src` into `dst` (may be the same path; replaced atomically). Runs its own event loop."""
        return asyncio.run(self.async_sign(src, dst, agency_name=agency_name, visible=visible, when=when))
