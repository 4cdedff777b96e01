"""The one translation mechanism: gettext catalogues in protocol/translations (msgids in English, `vi` the
default language), read by Flask-Babel in both web apps and by `translate` wherever there is no request
(errors raised in workers, the command line, MQTT texts).

Mark a text for extraction where it is written: `_()`/`gettext()` in request code and templates, `N_()` for a
text defined now and translated later (error messages, module-level tables). Parameters use Python's
`%(name)s` so the catalogue's translators see them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel.support import NullTranslations

LANGS = ("vi", "en")
DEFAULT = "vi"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    return message


@cache
def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of `lang` (English, and any unknown language, is the msgid itself). Babel is
    imported here, not with the module: every command imports the error tree, few ever translate."""
    from babel.support import NullTranslations, Translations

    if lang not in LANGS or lang == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [lang])


def translate(message: str, lang: str = DEFAULT, **params: object) -> str:
    """`message` (an English msgid) in `lang`, with its `%(name)s` parameters filled in."""
    text = message if lang == "en" else catalogue(lang).gettext(message)
    return text % params if params else text
