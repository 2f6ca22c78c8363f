"""The languages Docket speaks to people (English, Arabic, Kurdish Sorani), and their words.

Each language other than English has a gettext catalogue, `<code>/LC_MESSAGES/docket.po`
beside this file, compiled in memory by Babel the first time it is used: a fresh clone needs
no build step, and a catalogue that does not parse is refused in one line naming its file.
A string a catalogue lacks shows in English (tests/test_i18n.py fails on any such string).
Dates of the custody log and counts are written the locale's way, by Babel from CLDR, in
Latin digits (as hashes, event numbers and file names have them).

The web app chooses a language per request (docket.web.i18n); the package report is written
in the language its export asks for (docket.disclose.report).
"""

from __future__ import annotations

import functools
import gettext
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal
from babel.support import Translations

from docket.errors import DocketError

FOLDER = Path(__file__).parent
DOMAIN = "docket"


class LanguageError(DocketError):
    """A language Docket does not have, or a catalogue that cannot be read."""


@dataclass(frozen=True)
class Language:
    code: str  # BCP 47, as in <html lang> and the catalogue's folder
    name: str  # in its own words, for the chooser
    direction: str  # "ltr" or "rtl", as in <html dir>


ENGLISH = Language("en", "English", "ltr")
LANGUAGES = {
    language.code: language
    for language in (
        ENGLISH,
        Language("ar", "العربية", "rtl"),
        Language("ckb", "کوردی", "rtl"),
    )
}


def N_(word: str) -> str:
    """Marks a word for the catalogues (Babel extracts it); its translation is looked up where
    it is shown."""
    return word


def language(code: str) -> Language:
    """The language of this code, or LanguageError naming the ones there are."""
    found = LANGUAGES.get(code)
    if found is None:
        raise LanguageError(f"{code}: no such language (there are {', '.join(LANGUAGES)})")
    return found


def catalogue_path(code: str) -> Path:
    return FOLDER / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(code: str) -> gettext.NullTranslations:
    """The language's words, compiled from its .po once per process (English: the msgids)."""
    if language(code) is ENGLISH:
        return gettext.NullTranslations()
    return compile_catalogue(catalogue_path(code), code)


def compile_catalogue(path: Path, code: str) -> Translations:
    """A .po file compiled in memory, or LanguageError naming the file and what is wrong."""
    try:
        with path.open("rb") as po:
            catalog = read_po(po, locale=code, domain=DOMAIN, abort_invalid=True)
    except (OSError, PoFileError, ValueError) as exc:
        raise LanguageError(f"{path}: cannot read the catalogue ({exc})") from exc
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def number(value: float, code: str) -> str:
    """A count written the locale's way, in Latin digits (for Kurdish, Babel would write
    CLDR's Arabic-script separators between Latin digits, a mix no reader expects)."""
    return str(format_decimal(value, locale=code))


def moment(text: str | None, code: str) -> str:
    """An ISO 8601 time of the custody log as the locale writes it, in UTC (a time with no
    offset is taken as UTC); English keeps the ISO text, as the log and a court read it.
    Text that is not an ISO time is shown as it is."""
    if not text or language(code) is ENGLISH:
        return text or ""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    return str(format_datetime(parsed, "medium", tzinfo=UTC, locale=code))
