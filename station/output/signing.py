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
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from PIL import ImageFont
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.signers import Signer as HankoSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.stamp import TextStampStyle

from protocol.clock import VN_TZ, iso_vn, now_vn
from protocol.durable import write_atomic
from protocol.errors import UserError
from protocol.i18n import N_
from protocol.signatures import pin_modification_time

T = TypeVar("T")
log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.ERROR)  # per-glyph INFO lines on every stamp

STAMP_FONT = Path("/usr/share/fonts/truetype/freefont/FreeSerif.ttf")
STAMP_PT = 10
MARGIN_PT = 14  # about 5 mm from the displayed top and right edges, above most letterheads
PADDING_PT = 3
FIELD_NAME = "AgencySignature"
SIGNATURE_BYTES = 16384


class SigningError(UserError):
    """Signing refused or failed before the destination was written; the source is untouched."""

    key = "signing"


@dataclass(frozen=True)
class SignResult:
    signed_at: str  # ISO 8601 +07:00, the instant in the signature and on the stamp
    signer_subject: str
    seconds: float = 0.0
    timestamped: bool = False  # an RFC 3161 signature timestamp from the TSA is embedded (PAdES B-T)


def _check_certificate(cert: asn1_x509.Certificate, when: datetime) -> None:
    subject = cert.subject.human_friendly
    if when < cert.not_valid_before:
        raise SigningError(
            N_("The certificate of %(subject)s is not valid before %(day)s."), subject=subject,
            day=f"{cert.not_valid_before:%d/%m/%Y}",
        )
    if when > cert.not_valid_after:
        raise SigningError(
            N_("The certificate of %(subject)s expired on %(day)s."), subject=subject,
            day=f"{cert.not_valid_after:%d/%m/%Y}",
        )
    usages = cert.key_usage_value.native if cert.key_usage_value is not None else set()
    if not usages & {"digital_signature", "non_repudiation"}:
        raise SigningError(
            N_("certificate of %(subject)s does not allow signing (key usage: %(usages)s)"),
            subject=subject, usages=sorted(usages),
        )


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


def _stamp_font_file(chars: frozenset[str]) -> str:
    """The cut font as a file, for pyHanko's public GlyphAccumulatorFactory (it takes a path), which subsets
    it again per stamp (about 11 ms CPU, docs/architecture.md). In a folder of this process's own (0700),
    gone at exit; called before every visible signature, so a /tmp cleaner on a station up for weeks only
    costs a rewrite."""
    import hashlib

    data = _stamp_font_bytes(chars)
    folder = _stamp_font_folder()
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"stamp-{hashlib.sha256(data).hexdigest()[:16]}.ttf"  # the same cut, the same file
    if not path.exists():
        write_atomic(path, data)
    return str(path)


@functools.lru_cache(maxsize=1)
def _stamp_font_folder() -> Path:
    import atexit
    import shutil

    from protocol.scratch import scratch_dir

    folder = scratch_dir("stampfont")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.lru_cache(maxsize=1)
def _width_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(STAMP_FONT), size=1000)  # opening FreeSerif costs ~5 ms: once per process


@functools.lru_cache(maxsize=64)
def _text_width_pt(text: str) -> float:
    return _width_font().getlength(text) / 1000 * STAMP_PT


def stamp_box(
    page_box: tuple[float, float, float, float], rotate: int, width: float, height: float
) -> tuple[int, int, int, int]:
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
    return round(box[0]), round(box[1]), round(box[2]), round(box[3])


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
        key = self._key
        if algo == "ecdsa":
            assert isinstance(key, ec.EllipticCurvePrivateKey)  # the mechanism is chosen from the key
            return key.sign(data, ec.ECDSA(hash_algo))
        assert isinstance(key, rsa.RSAPrivateKey)
        return key.sign(data, PKCS1v15(), hash_algo)


def _is_timestamp_failure(exc: BaseException) -> bool:
    from pyhanko.sign.timestamps import TimestampRequestError

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimestampRequestError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


#: PKCS#11 errors after which the session is opened again once (token re-plugged, session dropped).
_TOKEN_ERRORS = (
    "SessionHandleInvalid",
    "SessionClosed",
    "DeviceRemoved",
    "TokenNotPresent",
    "TokenNotRecognised",
    "DeviceError",
    "UserNotLoggedIn",
    "KeyHandleInvalid",
    "ObjectHandleInvalid",
)


def _token_error(exc: BaseException | None) -> BaseException | None:
    while exc is not None:
        if type(exc).__module__.startswith("pkcs11") and type(exc).__name__ in _TOKEN_ERRORS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _open_token(module: str, token_label: str, key_label: str, pin: str,
                cert_label: str | None) -> tuple[Any, HankoSigner]:
    """(session, pyHanko signer) with the key handle and certificate found now, not at the first signature."""
    import pkcs11  # python-pkcs11, imported here so file-key stations need no PKCS#11 stack
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    if not os.path.exists(module):
        raise SigningError(
            N_("PKCS#11 module not found: %(module)s"), module=module
        )
    try:
        session = open_pkcs11_session(module, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
    except pkcs11.exceptions.PinIncorrect as exc:
        raise SigningError(N_("wrong PIN for the signing token")) from exc
    except pkcs11.exceptions.PinLocked as exc:
        raise SigningError(N_("the signing token's PIN is locked")) from exc
    except Exception as exc:  # pyHanko raises its own PKCS11Error when no token matches
        raise SigningError(
            N_("signing token '%(token_label)s' not found or not usable: %(exc)s"), token_label=token_label, exc=exc,
        ) from exc
    try:
        signer = PKCS11Signer(session, key_label=key_label, cert_label=cert_label or key_label)
        # reading signing_cert looks up the certificate and the key handle, once per session
        _check_certificate(signer.signing_cert, now_vn())
    except SigningError:
        session.close()
        raise
    except Exception as exc:
        session.close()
        raise SigningError(
            N_("key or certificate '%(key_label)s' not found on token '%(token_label)s': %(exc)s"),
            key_label=key_label, token_label=token_label, exc=exc,
        ) from exc
    return session, signer


class Signer:
    """A loaded signing key. Build with `from_pkcs12` or `from_pkcs11`, then call `sign` many times.

    Everything that does not change between documents is made once and kept: the parsed key and chain (or the
    PKCS#11 session and key handle), the signature metadata and the stamp style per agency name, the stamp
    font cut to the agency's glyphs. A signature then costs one parse of the document's trailer and page 1,
    one CMS and one write of the file (the update is appended in memory: no copy, no read-back)."""

    def __init__(
        self,
        hanko_signer: HankoSigner,
        *,
        session: Any = None,
        tsa_url: str | None = None,
        tsa_timeout: float = 10.0,
        reopen: Callable[[], tuple[Any, HankoSigner]] | None = None,
    ):
        self._signer = hanko_signer
        self._session = session  # PKCS#11 session kept open for the signer's life
        self._reopen = reopen  # opens the token again after a token error (holds the PIN; never logged)
        cert = hanko_signer.signing_cert
        assert cert is not None  # both ways of opening a signer load its certificate
        self.subject = cert.subject.human_friendly
        self.tsa_url = tsa_url or None
        self._timestamper = None
        self._styles: dict[str, tuple[signers.PdfSignatureMetadata, TextStampStyle]] = {}
        # One event loop for the signer's life: asyncio.run made a loop and (for PKCS#11) a thread per signature.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        if self.tsa_url:
            from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper

            # RFC 3161 over HTTP POST, nonce checked by pyHanko. The requests-based client, not the aiohttp
            # one: an aiohttp session is bound to one loop, and `async_sign` may run in the caller's.
            self._timestamper = HTTPTimeStamper(self.tsa_url, timeout=tsa_timeout)

    def __repr__(self) -> str:
        return f"Signer({self.subject!r}, token={self._session is not None})"

    @classmethod
    def from_pkcs12(cls, path: Path, passphrase: bytes | None, *, tsa_url: str | None = None) -> Signer:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise SigningError(
                N_("cannot read key file %(path)s: %(strerror)s"), path=path, strerror=exc.strerror
            ) from exc
        try:
            loaded = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase)
            signer = _CachedKeySigner(
                signing_key=loaded.signing_key, signing_cert=loaded.signing_cert, cert_registry=loaded.cert_registry
            )
        except ValueError as exc:
            raise SigningError(
                N_("cannot open %(path)s: wrong passphrase or damaged PKCS#12 file"), path=path,
            ) from exc
        _check_certificate(signer.signing_cert, now_vn())
        return cls(signer, tsa_url=tsa_url)

    @classmethod
    def from_pkcs11(
        cls,
        module: str,
        token_label: str,
        key_label: str,
        pin: str,
        cert_label: str | None = None,
        *,
        tsa_url: str | None = None,
    ) -> Signer:
        """Open the token by label (slot numbers change between plug-ins) and log in with `pin`.

        The session stays open and the key handle is found once. After a token error (re-plugged token,
        dropped session) the next signature opens the session again with the same PIN, once; a PIN the
        token then refuses is never tried again (tokens lock after a few wrong PINs)."""
        session, signer = _open_token(module, token_label, key_label, pin, cert_label)
        return cls(
            signer,
            session=session,
            tsa_url=tsa_url,
            reopen=functools.partial(_open_token, module, token_label, key_label, pin, cert_label),
        )

    def close(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.close()
                self._loop = None
        self._close_session()

    def _close_session(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except Exception as exc:  # a token pulled out: nothing left to close
                log.info("closing the PKCS#11 session failed: %s", exc)
            self._session = None

    def _reopen_token(self) -> None:
        self._close_session()
        reopen, self._reopen = self._reopen, None  # a PIN the token refuses now is never tried again
        assert reopen is not None  # called only for a signer opened from a token
        self._session, self._signer = reopen()
        self._reopen = reopen
        log.info("PKCS#11 session opened again after a token error")

    def _style(self, agency_name: str) -> tuple[signers.PdfSignatureMetadata, TextStampStyle]:
        """Signature metadata and stamp style, made once per agency name."""
        if agency_name not in self._styles:
            meta = signers.PdfSignatureMetadata(
                field_name=FIELD_NAME,
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
                name=agency_name,
                reason="Số hóa tài liệu lưu trữ",
                location="Việt Nam",
            )
            style = TextStampStyle(
                stamp_text="%(agency)s\n%(when)s",
                text_box_style=TextBoxStyle(
                    font=GlyphAccumulatorFactory(
                        _stamp_font_file(frozenset(agency_name + TIME_CHARS)), font_size=STAMP_PT
                    ),
                    font_size=STAMP_PT,
                    text_color=(0, 0, 0),
                ),
                border_width=0,
                background=None,
            )
            self._styles[agency_name] = (meta, style)
        return self._styles[agency_name]

    def _pdf_signer(self, agency_name: str, visible: bool,
                    box: tuple[int, int, int, int] | None) -> signers.PdfSigner:
        meta, style = self._style(agency_name)
        if visible:
            _stamp_font_file(frozenset(agency_name + TIME_CHARS))  # still there (see _stamp_font_file)
        if not visible:
            return signers.PdfSigner(meta, signer=self._signer, timestamper=self._timestamper)
        return signers.PdfSigner(
            meta,
            signer=self._signer,
            stamp_style=style,
            timestamper=self._timestamper,
            new_field_spec=fields.SigFieldSpec(FIELD_NAME, on_page=0, box=box),
        )

    async def _signed_bytes(self, data: bytes, moment: datetime, *, agency_name: str, visible: bool) -> io.BytesIO:
        """The signed document in memory: `data` plus the incremental update with the signature."""
        buffer = io.BytesIO(data)
        writer = IncrementalPdfFileWriter(buffer, strict=False)
        # One instant for Info, XMP, /M and the stamp (test_output_signing checks ModDate = ModifyDate).
        pin_modification_time(writer, moment)
        when_text = iso_vn(moment, millis=False)
        box = None
        if visible:
            lines = (agency_name, when_text)
            width = max(_text_width_pt(line) for line in lines) + 2 * PADDING_PT + 2
            height = len(lines) * STAMP_PT * 1.25 + 2 * PADDING_PT
            box = stamp_box(*_first_page_geometry(writer.prev), width, height)
        pdf_signer = self._pdf_signer(agency_name, visible, box)
        # Same steps as PdfSigner.async_sign_pdf, with the session's clock set to our instant so that the
        # signature's /M, the stamp and SignResult show one and the same time.
        session = pdf_signer.init_signing_session(writer)
        session.system_time = moment
        validation = await session.perform_presign_validation(writer)
        # A fixed reservation instead of pyHanko's estimate, which signs a dummy once more: an RSA/EC
        # CMS with a 2-3 certificate chain needs 3-6 kB; a timestamp token adds about 5 kB more.
        reserved = SIGNATURE_BYTES * (2 if self._timestamper else 1)
        tbs = session.prepare_tbs_document(
            validation_info=validation,
            bytes_reserved=reserved,
            appearance_text_params={"agency": agency_name, "when": when_text},
        )
        # in_place: the update is appended to `buffer` and digested through a memoryview (pyHanko's
        # default copies the file to the output in 4 kB chunks and reads it back to digest it).
        prepared, output = tbs.digest_tbs_document(in_place=True)
        post = await tbs.perform_signature(
            document_digest=prepared.document_digest,
            pdf_cms_signed_attrs=PdfCMSSignedAttributes(
                signing_time=moment, cades_signed_attrs=pdf_signer.signature_meta.cades_signed_attr_spec
            ),
        )
        await post.post_signature_processing(output)
        assert isinstance(output, io.BytesIO)  # in_place: the update was appended to `buffer`
        return output

    async def async_sign_bytes(
        self,
        data: bytes,
        dst: Path,
        *,
        agency_name: str,
        visible: bool = True,
        when: datetime | None = None,
        name: str | None = None,
    ) -> SignResult:
        """Sign the PDF `data` (e.g. straight from `build_pdfa_bytes`) into `dst`, inside a running event loop.

        `dst` is written once (temp name, fsync, atomic rename); on any failure it is left as it was."""
        started = time.perf_counter()
        dst = Path(dst)
        name = name or dst.name
        moment = (when or now_vn()).astimezone(VN_TZ).replace(microsecond=0)
        _check_certificate(self._signer.signing_cert, moment)
        try:
            try:
                output = await self._signed_bytes(data, moment, agency_name=agency_name, visible=visible)
            except Exception as exc:
                token_error = _token_error(exc)
                if self._reopen is None or token_error is None:
                    raise
                log.warning("signing token error (%s): opening the session again", type(token_error).__name__)
                self._reopen_token()
                output = await self._signed_bytes(data, moment, agency_name=agency_name, visible=visible)
            write_atomic(dst, output.getbuffer())  # one write, fsync, rename, fsync dir
        except SigningError:
            raise
        except Exception as exc:
            if self._timestamper is not None and _is_timestamp_failure(exc):
                raise SigningError(
                    N_("signing %(name)s failed: no timestamp from %(tsa_url)s: %(exc)s"),
                    name=name, tsa_url=self.tsa_url, exc=exc,
                ) from exc
            raise SigningError(N_("signing %(name)s failed: %(exc)s"), name=name, exc=exc) from exc
        elapsed = time.perf_counter() - started
        log.info("signed %s as %s in %.0f ms", dst.name, self.subject, elapsed * 1000)
        return SignResult(
            signed_at=iso_vn(moment, millis=False),
            signer_subject=self.subject,
            seconds=elapsed,
            timestamped=self._timestamper is not None,
        )

    async def async_sign(
        self, src: Path, dst: Path, *, agency_name: str, visible: bool = True, when: datetime | None = None
    ) -> SignResult:
        """As `sign`, inside a running event loop."""
        src = Path(src)
        with open(src, "rb") as handle:
            data = handle.read()
        return await self.async_sign_bytes(
            data, dst, agency_name=agency_name, visible=visible, when=when, name=src.name
        )

    def sign(
        self, src: Path, dst: Path, *, agency_name: str, visible: bool = True, when: datetime | None = None
    ) -> SignResult:
        """Sign `src` into `dst` (may be the same path; replaced atomically). Runs the signer's own event loop."""
        return self._run(self.async_sign(src, dst, agency_name=agency_name, visible=visible, when=when))

    def sign_bytes(
        self,
        data: bytes,
        dst: Path,
        *,
        agency_name: str,
        visible: bool = True,
        when: datetime | None = None,
        name: str | None = None,
    ) -> SignResult:
        """Sign the PDF in `data` into `dst`: no unsigned file on disk, read back or parsed twice."""
        return self._run(
            self.async_sign_bytes(data, dst, agency_name=agency_name, visible=visible, when=when, name=name)
        )

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a signing coroutine on the signer's event loop; one signature at a time per signer."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(coroutine)
